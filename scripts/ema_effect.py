"""Does the generator's moving average (``--ema-decay``) help? Scores a run's last step twice
with ``ganzoo eval``: the averaged generator the run publishes, and the live one its last
checkpoint holds.

    python scripts/ema_effect.py runs/defaults/dcgan-emoji --real ../shared/data/emoji/twemoji/test -n 2000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from ganzoo.weights import load_folder, save_weights


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path, help="a run trained with --ema-decay")
    parser.add_argument("--real", required=True, metavar="DATA", help="real images to compare with")
    parser.add_argument("-n", "--samples", default="2000")
    args = parser.parse_args()
    checkpoint = torch.load(args.run / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)
    if not checkpoint.get("average"):
        sys.exit(f"{args.run} trained without --ema-decay: there is no average to compare")
    averaged = load_folder(args.run)
    live = {name: checkpoint["nets"][name] for name in averaged.nets}
    with tempfile.TemporaryDirectory() as scratch:
        for name, net in averaged.nets.items():
            net.load_state_dict(live[name])
        save_weights(Path(scratch) / "live", averaged.variant, averaged.nets)
        print(f"step {checkpoint['step']}, {args.samples} samples against {args.real}:")
        for label, weights in (("moving average", args.run), ("live weights", Path(scratch) / "live")):
            out = Path(scratch) / "eval.json"
            subprocess.run([sys.executable, "-m", "ganzoo", "eval", averaged.variant.name, "--weights", str(weights),
                            "--real", args.real, "-n", args.samples, "--json", str(out), "--device", "cpu"],
                           check=True, stdout=subprocess.DEVNULL)
            figures = json.loads(out.read_text())
            print(f"  {label:15} FD {figures['fd']:.2f}  classifier IS {figures['classifier_is']:.2f}")


if __name__ == "__main__":
    main()
