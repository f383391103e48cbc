"""The judges: small classifiers that stand in for Inception where Inception's weights cannot
be downloaded, one per kind of data. A judge's penultimate layer is the feature space of the
Frechet distance; its class probabilities give the classifier Inception score, the
conditional GAN's label accuracy and CycleGAN's label-kept share.

- ``digits``: MNIST's ten digits, 28x28 grey. Trained by ``scripts/train_judge.py`` on the
  first half of the MNIST test split and tested on the second half.
- ``emoji``: the nine emoji categories of ``../shared/data/emoji``, 32x32 colour (64x64 emoji
  are scaled down). Trained by ``scripts/train_emoji_judge.py`` on the train split of both
  styles (Twemoji, Noto) and tested on the test split.

The frozen weights ship in ``core/judge-weights/<name>/`` and are checked against the SHA-256
below before use, so every published figure comes from the same judge. ``judge_for(config)``
picks the judge for a model's images: colour ones get the emoji judge, grey ones the digits'.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .errors import UserError

WEIGHTS = Path(__file__).resolve().parent / "judge-weights"  # ganzoo/judge-weights/ in a wheel
# Inside the package (ganzoo/judge-weights/digits/ in a wheel), so that an installed ganzoo has it.
JUDGE_DIR = WEIGHTS / "digits"
JUDGE_FILE = JUDGE_DIR / "model.safetensors"
JUDGE_SHA256 = "261af1d68d7937383e13496aca4f9c9b1ad35c5f4ece6b63067e96b24d244180"
IMAGE_SIZE = 28
FEATURES = 128

EMOJI_CATEGORIES = ("activities", "animals-nature", "flags", "food-drink", "objects", "people-body",
                    "smileys-emotion", "symbols", "travel-places")  # the dataset's sub-folders, sorted
EMOJI_SHA256 = "6d08904dcafed30a9774985359e7ec96b1a4c92ba97032b888d6caf303bfd724"
EMOJI_SIZE = 32
EMOJI_FEATURES = 128


class JudgeError(UserError):
    pass


def as_judge_input(images: torch.Tensor, size: int = IMAGE_SIZE, channels: int = 1) -> torch.Tensor:
    """Any (N, C, H, W) batch in [-1, 1] -> ``channels`` x ``size`` x ``size``: RGB is averaged to
    grey, grey repeated to RGB, sizes resampled."""
    images = images.float()
    if images.shape[1] != channels:
        images = images.mean(1, keepdim=True).expand(-1, channels, -1, -1)
    if images.shape[-2:] != (size, size):
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return images


class DigitJudge(nn.Module):
    """28x28 grey digits in [-1, 1] -> 10 logits; ``features`` gives the 128-d embedding."""

    name, image_size, channels = "digits", IMAGE_SIZE, 1

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, FEATURES), nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURES, 10)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(as_judge_input(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(images)))


def _conv_block(w_in: int, w_out: int) -> list[nn.Module]:
    return [nn.Conv2d(w_in, w_out, 3, padding=1, bias=False), nn.BatchNorm2d(w_out), nn.ReLU()]


class EmojiJudge(nn.Module):
    """32x32 colour emoji in [-1, 1] (other sizes resampled) -> 9 category logits; ``features``
    gives the 128-d embedding, averaged over the last 4x4 maps."""

    name, image_size, channels = "emoji", EMOJI_SIZE, 3

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            *_conv_block(3, 32), *_conv_block(32, 32), nn.MaxPool2d(2),
            *_conv_block(32, 64), *_conv_block(64, 64), nn.MaxPool2d(2),
            *_conv_block(64, EMOJI_FEATURES), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(EMOJI_FEATURES, len(EMOJI_CATEGORIES))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(as_judge_input(images, EMOJI_SIZE, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(images)))


@dataclass(frozen=True)
class JudgeSpec:
    """A shipped judge: how to build it, where its weights are and their SHA-256, its bundled
    reference statistics (``ganzoo eval --real <reference_name>``) and how to rebuild both."""

    name: str
    build: Callable[[], nn.Module]
    sha256: str
    classes: tuple[str, ...]
    reference_name: str
    reference_file: str
    script: str
    data: str

    @property
    def directory(self) -> Path:
        return WEIGHTS / self.name

    @property
    def file(self) -> Path:
        return self.directory / "model.safetensors"

    @property
    def reference(self) -> Path:
        return self.directory / self.reference_file


JUDGES = {
    "digits": JudgeSpec("digits", DigitJudge, JUDGE_SHA256, tuple(str(d) for d in range(10)), "mnist",
                        "mnist-test-reference.safetensors", "scripts/train_judge.py", "../shared/data/mnist"),
    "emoji": JudgeSpec("emoji", EmojiJudge, EMOJI_SHA256, EMOJI_CATEGORIES, "emoji",
                       "emoji-test-reference.safetensors", "scripts/train_emoji_judge.py", "../shared/data/emoji"),
}


def judge_spec(name: str) -> JudgeSpec:
    if name not in JUDGES:
        raise JudgeError(f"unknown judge {name!r}; the judges are {', '.join(JUDGES)}")
    return JUDGES[name]


def judge_for(config) -> str:
    """The judge for a model's images: ``emoji`` for colour ones, ``digits`` for grey ones."""
    return "emoji" if getattr(config, "channels", 1) == 3 else "digits"


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_judge(path: Path | None = None, expected_sha256: str | None = None, device="cpu",
               name: str = "digits") -> nn.Module:
    """The judge ``name`` (its shipped weights, or those at ``path``) on ``device`` in eval mode,
    in float32, after checking the file's SHA-256 (``expected_sha256``: the shipped one's)."""
    from safetensors.torch import load_file

    spec = judge_spec(name)
    path = spec.file if path is None else Path(path)
    expected = expected_sha256 or spec.sha256
    if not path.exists():
        raise JudgeError(f"the {name} judge's weights are missing ({path}); rebuild them with "
                         f"`python {spec.script}` (needs {spec.data})")
    actual = sha256(path)
    if actual != expected:
        raise JudgeError(f"{path} has SHA-256 {actual[:16]}..., not the judge's {expected[:16]}... ({name}): "
                         f"figures from it would not compare with the published ones. Restore it with git, or "
                         f"retrain it with {spec.script} and update its SHA-256 in ganzoo/judge.py.")
    judge = spec.build()
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    judge.load_state_dict(state, strict=True)  # float16 on disk where the judge ships so
    return judge.to(device).eval()
