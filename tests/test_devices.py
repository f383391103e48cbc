"""The CUDA paths (bfloat16 autocast, channels_last), exercised on the CPU: CPU autocast
supports bfloat16, and channels_last is only a memory layout, so the code the GPU runs
is run here too."""

import pytest
import torch
from ganzoo import devices, training
from ganzoo.devices import autocast_dtype, pick_device
from ganzoo.errors import UserError
from ganzoo.losses import gradient_penalty
from ganzoo.networks import DCGANDiscriminator
from ganzoo.registry import get_variant
from ganzoo.testing import tiny_settings, tiny_sources


def test_cpu_stays_float32_and_auto_picks_what_exists():
    assert autocast_dtype(torch.device("cpu")) is None
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no usable CUDA GPU"):
            pick_device("cuda")


def test_bfloat16_only_where_the_chosen_gpu_computes_it_natively(monkeypatch):
    """T4 (7.5) and V100 (7.0) report is_bf16_supported() True, through emulation that is
    slower than float32; bfloat16 is native from compute capability 8.0. The capability asked
    for is that of the device training runs on, not device 0's."""
    capabilities = {0: (8, 0), 1: (7, 5), 2: (9, 0), 3: (7, 0)}

    def capability(device=None):  # as torch's: no index means the current device
        index = None if device is None else torch.device(device).index
        return capabilities[torch.cuda.current_device() if index is None else index]

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_capability", capability)
    assert autocast_dtype(torch.device("cuda:0")) == torch.bfloat16  # A100
    assert autocast_dtype(torch.device("cuda:2")) == torch.bfloat16  # H100
    assert autocast_dtype(torch.device("cuda:1")) is None  # T4, although device 0 is an A100
    assert autocast_dtype(torch.device("cuda:3")) is None  # V100
    assert autocast_dtype(torch.device("cuda")) is None  # the current device, a T4
    assert autocast_dtype(torch.device("cpu")) is None


def test_gradient_penalty_is_float32_under_bfloat16_autocast():
    critic = DCGANDiscriminator(16, 1, 4, norm=None, score_bias=False)
    real, fake = torch.randn(4, 1, 16, 16), torch.randn(4, 1, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert critic(real).dtype == torch.bfloat16  # autocast is really on
        penalty = gradient_penalty(critic, real, fake)
    assert penalty.dtype == torch.float32 and torch.isfinite(penalty)


@pytest.mark.parametrize("name", ["dcgan", "wgan_gp"])
def test_training_steps_under_the_gpu_settings(name, tmp_path, monkeypatch):
    """The GPU's autocast and channels_last, applied on the CPU."""
    monkeypatch.setattr(devices, "autocast_dtype", lambda device: torch.bfloat16)
    monkeypatch.setattr(training, "uses_channels_last", lambda device: True)
    variant = get_variant(name)(get_variant(name).tiny_config())
    ctx, _ = training.setup_training(variant, tiny_sources(variant, tmp_path), tiny_settings())
    weight = next(p for p in ctx.nets["discriminator"].parameters() if p.dim() == 4)
    assert weight.is_contiguous(memory_format=torch.channels_last)
    batch = ctx.next_batch()["image"]
    assert batch.is_contiguous(memory_format=torch.channels_last)
    for _ in range(2):
        losses = variant.train_step(ctx)
        assert all(torch.isfinite(torch.as_tensor(v)) for v in losses.values())
    for net in ctx.nets.values():
        assert all(p.dtype == torch.float32 for p in net.parameters())  # autocast never changes the weights
