"""Print the README's quality table from weights/<variant>/eval.json (written by
scripts/train_defaults.py through `ganzoo eval`)."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"dcgan": "IS >= 9.0", "wgan_gp": "IS >= 9.0", "cgan": "IS >= 9.0, label accuracy >= 97%",
           "cyclegan": "label kept >= 90%"}


def main() -> None:
    rows = []
    for path in sorted((ROOT / "weights").glob("*/eval.json")):
        figures = json.loads(path.read_text())
        name = path.parent.name
        label = f"{figures['label_accuracy']:.1%}" if "label_accuracy" in figures else "-"
        rows.append(f"| `{name}` | {figures['samples']:,} | {figures['fd']:.1f} | {figures['classifier_is']:.2f} | "
                    f"{label} | {TARGETS.get(name, '-')} |")
    reference = figures if rows else {}
    print("| variant | samples | Frechet distance (judge) | classifier IS | label accuracy / kept | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    if reference:
        print(f"| real MNIST | 10,000 | {reference['fd_real_floor']:.1f} (two halves) | "
              f"{reference['classifier_is_real']:.2f} | {reference['label_accuracy_real']:.1%} | |")


if __name__ == "__main__":
    main()
