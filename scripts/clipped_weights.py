"""How much of a weight-clipped WGAN critic sits at the clipping limit: the share of each
layer's weights whose size is the limit (``clip`` in the run's config), from the run's last
checkpoint. Gulrajani et al. (2017) found clipping drives the weights to the two extremes;
the README's fair comparison quotes this for the bundled WGAN.

    python scripts/clipped_weights.py runs/defaults/wgan
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

AT_LIMIT = 0.99  # a weight within 1% of the limit counts as at it


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path, help="a run folder of `ganzoo train wgan`")
    args = parser.parse_args()
    config = json.loads((args.run / "config.json").read_text())
    if "clip" not in config["config"]:
        sys.exit(f"{args.run} is a {config['variant']} run; its critic is not weight-clipped")
    limit = config["config"]["clip"]
    checkpoint = torch.load(args.run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    critic = checkpoint["nets"]["discriminator"]
    weights = {name: tensor for name, tensor in critic.items() if name.endswith("weight") and tensor.dim() > 1}
    print(f"step {checkpoint['step']}, clip {limit}: share of weights at the limit")
    for name, tensor in weights.items():
        print(f"  {name:24s} {tuple(tensor.shape)!s:18s} {share_at_limit(tensor, limit):.1%}")
    every = torch.cat([tensor.flatten() for tensor in weights.values()])
    print(f"  {'all':24s} {every.numel():<18,d} {share_at_limit(every, limit):.1%}")


def share_at_limit(tensor: torch.Tensor, limit: float) -> float:
    return float((tensor.abs() >= AT_LIMIT * limit).float().mean())


if __name__ == "__main__":
    main()
