"""Train the emoji judge (core/judge.py, ``EmojiJudge``): the nine categories of
../shared/data/emoji, trained on the train split of both styles (Twemoji and Noto, 3,038
images) and tested on the test split (774), then write core/judge-weights/emoji/
model.safetensors (float16) with report.json, and print its SHA-256. Then write the judge's
statistics of the test split, both styles, the reference `ganzoo eval --judge emoji` uses by
default (``--real emoji``).

    python scripts/train_emoji_judge.py [--data ../shared/data/emoji]
    python scripts/train_emoji_judge.py --reference-only     # the statistics alone, with the shipped judge

Deterministic on CPU with the fixed seed and one thread: the same file, byte for byte, on a
re-run. The weights are stored in float16 (half the size); the accuracy in report.json is
that of the stored weights.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ganzoo.data import ImageSet, load_images
from ganzoo.evaluation import Reference
from ganzoo.judge import EMOJI_CATEGORIES, EMOJI_SIZE, EmojiJudge, judge_spec, load_judge, sha256

SPEC = judge_spec("emoji")
DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "emoji"
STYLES = ("twemoji", "noto")
LICENCES = {"twemoji": "Twemoji, Copyright 2019 Twitter, Inc and other contributors: CC BY 4.0 "
                       "(https://creativecommons.org/licenses/by/4.0/)",
            "noto": "Noto Emoji, Copyright Google Inc.: Apache License 2.0 "
                    "(https://www.apache.org/licenses/LICENSE-2.0)"}


def load_split(data: Path, split: str) -> tuple[ImageSet, torch.Tensor]:
    """Both styles' images of one split at the judge's size, labelled by category, and each
    image's style (an index into STYLES)."""
    sets = [load_images(data / style / split, EMOJI_SIZE, 3) for style in STYLES]
    for images in sets:
        if tuple(images.class_names) != EMOJI_CATEGORIES:
            raise SystemExit(f"{images.source}: categories {images.class_names}, expected {EMOJI_CATEGORIES}")
    styles = torch.cat([torch.full((len(s),), i) for i, s in enumerate(sets)])
    return ImageSet(torch.cat([s.images for s in sets]), torch.cat([s.labels for s in sets]),
                    list(EMOJI_CATEGORIES), f"{data} {split} split, both styles"), styles


def as_float(images: ImageSet) -> torch.Tensor:
    return images.images.float() / 127.5 - 1


def augmented(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per batch: a shift of up to 3 pixels on a white border, and a left-right flip of half the images."""
    padded = F.pad(images, (3, 3, 3, 3), value=1.0)
    dx, dy = torch.randint(0, 7, (2,), generator=generator).tolist()
    images = padded[..., dy:dy + EMOJI_SIZE, dx:dx + EMOJI_SIZE]
    flip = torch.rand(len(images), generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def accuracy(judge: EmojiJudge, images: torch.Tensor, labels: torch.Tensor) -> float:
    judge.eval()
    with torch.no_grad():
        return (judge(images).argmax(1) == labels).float().mean().item()


def train_judge(data: Path, epochs: int) -> str:
    """Train, save and report; returns the new file's SHA-256."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    (train, _), (test, test_styles) = load_split(data, "train"), load_split(data, "test")
    x_train, y_train, x_test, y_test = as_float(train), train.labels, as_float(test), test.labels
    judge = EmojiJudge()
    batch = 64
    optimizer = torch.optim.AdamW(judge.parameters(), lr=2e-3, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=epochs * (len(x_train) // batch))
    started = time.perf_counter()
    for epoch in range(epochs):
        judge.train()
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(order) - batch + 1, batch):
            index = order[start:start + batch]
            loss = F.cross_entropy(judge(augmented(x_train[index], generator)), y_train[index], label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}, test accuracy {accuracy(judge, x_test, y_test):.4f}",
              flush=True)

    from safetensors.torch import save_file

    SPEC.directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in judge.state_dict().items()}
    save_file({k: v.contiguous() for k, v in state.items()}, str(SPEC.file))
    stored = load_judge(SPEC.file, sha256(SPEC.file), name="emoji")  # the float16 weights, as they ship
    per_style = {style: round(accuracy(stored, x_test[test_styles == i], y_test[test_styles == i]), 4)
                 for i, style in enumerate(STYLES)}
    report = {
        "test_accuracy": round(accuracy(stored, x_test, y_test), 4),
        "test_accuracy_by_style": per_style,
        "train_accuracy": round(accuracy(stored, x_train, y_train), 4),
        "classes": list(EMOJI_CATEGORIES),
        "train_images": f"emoji train split, both styles: {len(x_train)} images",
        "test_images": f"emoji test split, both styles: {len(x_test)} images",
        "dataset": "../shared/data/emoji: 1,906 emoji in two styles, 64x64 RGB on white, from the npm packages "
                   "emoji-datasource-twitter and emoji-datasource-google 16.0.0 (https://github.com/iamcal/emoji-data)",
        "licences": LICENCES,
        "epochs": epochs,
        "dtype": "float16",
        "seconds": round(time.perf_counter() - started, 1),
        "sha256": sha256(SPEC.file),
    }
    (SPEC.directory / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return report["sha256"]


def write_reference(data: Path, expected_sha256: str | None = None) -> None:
    """The judge's statistics of the test split; ``expected_sha256`` None: the shipped judge's."""
    judge = load_judge(expected_sha256=expected_sha256, name="emoji")
    reference = Reference.from_images(judge, load_split(data, "test")[0])
    reference.save(SPEC.reference, source="emoji test split, both styles (Twemoji CC BY 4.0, Noto Apache 2.0), "
                                          "774 images")
    print(f"wrote {SPEC.reference}: {json.dumps(reference.figures)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--reference-only", action="store_true",
                        help="only write the reference statistics, with the judge that ships")
    args = parser.parse_args()
    torch.set_num_threads(1)
    write_reference(args.data, None if args.reference_only else train_judge(args.data, args.epochs))


if __name__ == "__main__":
    main()
