"""Print the README's quality table from plugins/weights/<variant>/eval.json (written by
scripts/train_defaults.py through `ganzoo eval`), with each target and whether it is met."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JUDGE = ROOT / "core" / "judge-weights" / "digits"

# variant -> (the target in words, a check of the figures)
TARGETS = {
    "dcgan": ("IS >= 9.0", lambda f: f["classifier_is"] >= 9.0),
    "wgan_gp": ("IS >= 9.0", lambda f: f["classifier_is"] >= 9.0),
    "cgan": ("IS >= 9.0, label accuracy >= 97%", lambda f: f["classifier_is"] >= 9.0 and f["label_accuracy"] >= 0.97),
    "cyclegan": ("label kept >= 90%", lambda f: f["label_accuracy"] >= 0.90),
}


def size_mb(folder: Path) -> float:
    return (folder / "model.safetensors").stat().st_size / 1e6


def main() -> None:
    rows = []
    for path in sorted((ROOT / "plugins" / "weights").glob("*/eval.json")):
        figures = json.loads(path.read_text())
        name = path.parent.name
        label = f"{figures['label_accuracy']:.1%}" if "label_accuracy" in figures else "-"
        target, check = TARGETS.get(name, ("-", None))
        met = "-" if check is None else ("yes" if check(figures) else "**no**")
        rows.append(f"| `{name}` | {figures['samples']:,} | {figures['fd']:.1f} | {figures['classifier_is']:.2f} | "
                    f"{label} | {target} | {met} | {size_mb(path.parent):.1f} |")
    reference = figures if rows else {}
    print("| variant | samples | Frechet distance (judge) | classifier IS | label accuracy / kept | target | met "
          "| MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    if reference:
        print(f"| real MNIST | 10,000 | {reference['fd_real_floor']:.1f} (two halves) | "
              f"{reference['classifier_is_real']:.2f} | {reference['label_accuracy_real']:.1%} | | | |")
    total = sum(size_mb(p.parent) for p in (ROOT / "plugins" / "weights").glob("*/config.json"))
    print(f"\nBundled default weights: {total:.1f} MB in all (the judge's {size_mb(JUDGE):.1f} MB "
          f"not counted).")


if __name__ == "__main__":
    main()
