"""The judge: a small digit classifier that stands in for Inception where Inception's
weights cannot be downloaded. Its penultimate layer is the feature space of the Frechet
distance; its class probabilities give the classifier Inception score, the conditional
GAN's label accuracy and CycleGAN's label-kept share.

It is trained by ``scripts/train_judge.py`` on the first half of the MNIST test split and
tested on the second half; the frozen weights ship in ``core/judge-weights/digits/`` and are checked
against the SHA-256 below before use, so every figure in the README comes from the same
judge.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .errors import UserError

# Inside the package (ganzoo/judge-weights/digits/ in a wheel), so that an installed ganzoo has it.
JUDGE_DIR = Path(__file__).resolve().parent / "judge-weights" / "digits"
JUDGE_FILE = JUDGE_DIR / "model.safetensors"
JUDGE_SHA256 = "261af1d68d7937383e13496aca4f9c9b1ad35c5f4ece6b63067e96b24d244180"
IMAGE_SIZE = 28
FEATURES = 128


class JudgeError(UserError):
    pass


class DigitJudge(nn.Module):
    """28x28 grey digits in [-1, 1] -> 10 logits; ``features`` gives the 128-d embedding."""

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


def as_judge_input(images: torch.Tensor) -> torch.Tensor:
    """Any (N, C, H, W) batch in [-1, 1] -> grey 28x28: RGB is averaged, sizes resampled."""
    images = images.float()
    if images.shape[1] != 1:
        images = images.mean(1, keepdim=True)
    if images.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
        images = F.interpolate(images, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", antialias=True,
                               align_corners=False)
    return images


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_judge(path: Path = JUDGE_FILE, expected_sha256: str | None = None, device="cpu") -> DigitJudge:
    from safetensors.torch import load_file

    expected = expected_sha256 or JUDGE_SHA256
    if not Path(path).exists():
        raise JudgeError(f"the judge's weights are missing ({path}); rebuild them with "
                         f"`python scripts/train_judge.py` (needs ../shared/data/mnist)")
    actual = sha256(path)
    if actual != expected:
        raise JudgeError(f"{path} has SHA-256 {actual[:16]}..., not the judge's {expected[:16]}...: figures "
                         f"from it would not compare with the published ones. Restore it with git, or "
                         f"retrain it with scripts/train_judge.py and update JUDGE_SHA256.")
    judge = DigitJudge()
    judge.load_state_dict(load_file(str(path)), strict=True)
    return judge.to(device).eval()
