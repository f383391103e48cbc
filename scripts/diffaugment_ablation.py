"""DiffAugment on and off, at the same budget: train an emoji recipe of scripts/train_defaults.py
without its ``--diffaugment`` up to a step, then print the judge's figures at each evaluation
of both runs (the same seed, data, networks and evaluation; only the augmentation differs).

    python scripts/diffaugment_ablation.py                  # every recipe in ABLATIONS
    python scripts/diffaugment_ablation.py dcgan-emoji      # one
    python scripts/diffaugment_ablation.py --report-only    # print the table from finished runs

The figures are those the runs record while training (``--eval-every``: the Frechet distance
and classifier IS of the moving-average generator against the training images), so the
shipped run needs no second pass.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_defaults import RECIPES, RUNS, stage_command, train_or_resume  # noqa: E402

# recipe -> the step both runs are compared up to (the unaugmented run trains this far)
ABLATIONS = {"dcgan-emoji": 3000, "wgan_gp-emoji": 750}


def without_diffaugment(name: str) -> list[str]:
    command = stage_command(name, 1)
    at = command.index("--diffaugment")
    command = command[:at] + command[at + 2:]
    command[command.index("--out") + 1] = str(RUNS / f"{name}-no-diffaugment")
    command[command.index("--steps") + 1] = str(ABLATIONS[name])
    return command


def evaluations(run: Path, up_to: int) -> dict[int, dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {row["step"]: row for row in rows if "eval_fd" in row and row["step"] <= up_to}


def report(name: str) -> None:
    steps = ABLATIONS[name]
    on, off = evaluations(RUNS / name, steps), evaluations(RUNS / f"{name}-no-diffaugment", steps)
    print(f"\n{name}: judge figures during training, DiffAugment on / off")
    print("| step | FD with | FD without | IS with | IS without |")
    print("| --- | --- | --- | --- | --- |")
    for step in sorted(set(on) & set(off)):
        print(f"| {step:,} | {on[step]['eval_fd']:.2f} | {off[step]['eval_fd']:.2f} | "
              f"{on[step]['eval_classifier_is']:.2f} | {off[step]['eval_classifier_is']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*", default=list(ABLATIONS), metavar="MODEL",
                        help=f"recipes to compare: {', '.join(ABLATIONS)}")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    unknown = [name for name in args.names if name not in ABLATIONS]
    if unknown:
        sys.exit(f"no ablation for {', '.join(unknown)}; choose from {', '.join(ABLATIONS)}")
    for name in args.names:
        assert name in RECIPES
        if not args.report_only:
            train_or_resume(without_diffaugment(name))
        report(name)


if __name__ == "__main__":
    main()
