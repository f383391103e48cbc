"""Train the digit judge (core/judge.py) on the first half of the MNIST test split and test
it on the second half, then write core/judge-weights/digits/model.safetensors and print its
SHA-256. Then write the judge's statistics of the whole split, the reference that
`ganzoo eval` uses by default (``--real mnist``).

    python scripts/train_judge.py [--data ../shared/data/mnist]
    python scripts/train_judge.py --reference-only     # the statistics alone, with the shipped judge

Deterministic on CPU with the fixed seed: the same file, byte for byte, on a re-run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ganzoo.data import load_images
from ganzoo.evaluation import BUNDLED_REFERENCE, Reference
from ganzoo.judge import JUDGE_DIR, JUDGE_FILE, DigitJudge, load_judge, sha256

TRAIN, TEST = slice(0, 5000), slice(5000, 10000)


def shifted(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 2 pixels: generated digits are less centred than MNIST's."""
    padded = F.pad(images, (2, 2, 2, 2), value=-1.0)
    dx, dy = torch.randint(0, 5, (2,), generator=generator).tolist()
    return padded[..., dy:dy + 28, dx:dx + 28]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(Path(__file__).resolve().parent.parent.parent / "shared/data/mnist"))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--reference-only", action="store_true",
                        help="only write the reference statistics, with the judge that ships")
    args = parser.parse_args()
    if not args.reference_only:
        train_judge(args)
    write_reference(args.data)


def write_reference(data: str) -> None:
    reference = Reference.from_images(load_judge(), load_images(data, 28, 1))
    reference.save(BUNDLED_REFERENCE, source="MNIST test split, all 10,000 digits")
    print(f"wrote {BUNDLED_REFERENCE}: {json.dumps(reference.figures)}")


def train_judge(args) -> None:

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    digits = load_images(args.data, 28, 1)
    images = digits.images.float() / 127.5 - 1
    x_train, y_train = images[TRAIN], digits.labels[TRAIN]
    x_test, y_test = images[TEST], digits.labels[TEST]

    judge = DigitJudge()
    optimizer = torch.optim.Adam(judge.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs * (len(x_train) // 100))
    started = time.perf_counter()
    for epoch in range(args.epochs):
        judge.train()
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(order) - 99, 100):
            index = order[start:start + 100]
            loss = F.cross_entropy(judge(shifted(x_train[index], generator)), y_train[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        judge.eval()
        with torch.no_grad():
            accuracy = (judge(x_test).argmax(1) == y_test).float().mean().item()
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}, held-out accuracy {accuracy:.4f}")

    from safetensors.torch import save_file

    JUDGE_DIR.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in judge.state_dict().items()}, str(JUDGE_FILE))
    report = {"held_out_accuracy": round(accuracy, 4), "train_images": "MNIST test split 0-4999",
              "test_images": "MNIST test split 5000-9999", "epochs": args.epochs,
              "seconds": round(time.perf_counter() - started, 1), "sha256": sha256(JUDGE_FILE)}
    (JUDGE_DIR / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
