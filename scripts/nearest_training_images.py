"""Why a memorisation ratio is low: copies, or pale images? For each bundled model named,
the nearest training image of each of N samples (in ``ganzoo eval``'s features: pixels
averaged to 16x16): how many distinct training images are nearest, the share of the five most
often nearest, and how far the samples and the training images lie from a blank white image.
A copier's samples each have their own nearest image; pale blurs crowd around the few
palest training images.

Then the same ratio for held-out real emoji made paler or blurrier, which copy nothing: how
far a ratio falls for drawing less, not for copying.

    python scripts/nearest_training_images.py began-emoji gan-emoji dcgan-emoji
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import torch
import torch.nn.functional as F

from ganzoo.data import load_images
from ganzoo.evaluation import as_float_images, generate_for_evaluation
from ganzoo.memorisation import memorisation, pixel_features
from ganzoo.weights import load_folder

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT.parent / "shared" / "data" / "emoji" / "twemoji" / "train"
HELD_OUT = TRAIN.parent / "test"
EMOJI_SIZE, EMOJI_CHANNELS = 64, 3  # the emoji as stored: no model's resizing


def paler(images: torch.Tensor, share: float) -> torch.Tensor:
    """Each pixel moved ``share`` of the way to white (images in [-1, 1])."""
    return images * (1 - share) + share


def blurred(images: torch.Tensor, side: int) -> torch.Tensor:
    """Averaged to ``side`` x ``side`` and scaled back up."""
    small = F.adaptive_avg_pool2d(images, side)
    return F.interpolate(small, size=images.shape[-1], mode="bilinear", align_corners=False)


def print_degraded_held_out(train: torch.Tensor, held_out: torch.Tensor) -> None:
    """The memorisation ratio of held-out real images made paler or blurrier."""
    cases = {"as they are": held_out, "30% paler": paler(held_out, 0.3), "50% paler": paler(held_out, 0.5),
             "blurred (averaged to 8x8)": blurred(held_out, 8),
             "blurred and 30% paler": paler(blurred(held_out, 8), 0.3),
             "the training images' mean, once": train.mean(0, keepdim=True)}
    print("\n| held-out emoji | memorisation ratio |\n| --- | --- |")
    for name, images in cases.items():
        print(f"| {name} | {memorisation(images, train, held_out)['memorisation_ratio']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+", metavar="MODEL", help="folders of plugins/weights (began-emoji ...)")
    parser.add_argument("--train-data", default=str(TRAIN))
    parser.add_argument("--real", default=str(HELD_OUT), help="held-out real images")
    parser.add_argument("-n", "--samples", type=int, default=1000)
    args = parser.parse_args()
    print("| model | distinct nearest training images | share of the 5 most often nearest | "
          "median distance to white: samples | training images |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.models:
        model = load_folder(ROOT / "plugins" / "weights" / name)
        config = model.variant.config
        train = pixel_features(as_float_images(load_images(args.train_data, config.image_size, config.channels)))
        samples = pixel_features(torch.cat(generate_for_evaluation(model, args.samples, 0)[0]))
        nearest = collections.Counter(torch.cdist(samples, train).argmin(1).tolist())
        top_five = sum(count for _, count in nearest.most_common(5)) / args.samples
        print(f"| `{name}` | {len(nearest)} of {args.samples} | {top_five:.1%} | "
              f"{(samples - 1).norm(dim=1).median():.1f} | {(train - 1).norm(dim=1).median():.1f} |")
    print_degraded_held_out(as_float_images(load_images(args.train_data, EMOJI_SIZE, EMOJI_CHANNELS)),
                            as_float_images(load_images(args.real, EMOJI_SIZE, EMOJI_CHANNELS)))


if __name__ == "__main__":
    main()
