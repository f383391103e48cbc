"""An exponential moving average of the inference networks' weights, kept beside training.

A GAN's generator oscillates around a good solution; the average of its recent weights draws
cleaner images than any one snapshot (Yazici et al. 2019, "The Unusual Effectiveness of
Averaging in GAN Training"; the StyleGAN and BigGAN generators are published this way).
With ``--ema-decay`` the training loop updates the average after every step and uses it for
everything that shows or publishes the model: previews, the judge's scores, the best
weights and ``model.safetensors``. The live networks keep training as before.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .errors import UserError


def decay_at(step: int, decay: float) -> float:
    """The decay for update number ``step`` (1-based): ``decay``, but lower early on, so a
    short run's average is not dominated by the untrained initial weights."""
    return min(decay, (1 + step) / (10 + step))


class WeightAverage:
    """Averaged copies of ``nets[name]`` for each of ``names``. Parameters are averaged;
    buffers (batch norm's running statistics) are copied from the live network, whose
    statistics are the ones that match recent weights closely enough."""

    def __init__(self, nets: dict[str, nn.Module], names, decay: float):
        if not 0 < decay < 1:
            raise UserError(f"the EMA decay must be between 0 and 1 (0.999 is usual), not {decay}")
        self.decay = decay
        self.live = {name: nets[name] for name in names}
        self.nets = {name: copy.deepcopy(net).requires_grad_(False) for name, net in self.live.items()}

    @torch.no_grad()
    def update(self, step: int) -> None:
        weight = 1 - decay_at(step, self.decay)
        for name, live in self.live.items():
            average = self.nets[name]
            torch._foreach_lerp_(list(average.parameters()), list(live.parameters()), weight)
            for kept, current in zip(average.buffers(), live.buffers()):
                kept.copy_(current)

    @torch.no_grad()
    def restart_from_live(self) -> None:
        """Start the average at the live weights: resuming a run that trained without one."""
        for name, live in self.live.items():
            self.nets[name].load_state_dict(live.state_dict())

    def state_dict(self) -> dict:
        return {name: net.state_dict() for name, net in self.nets.items()}

    def load_state_dict(self, state: dict) -> None:
        for name, net in self.nets.items():
            net.load_state_dict(state[name], strict=True)
