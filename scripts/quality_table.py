"""Print the README's quality tables from plugins/weights/<model>/eval.json (written by
scripts/train_defaults.py through `ganzoo eval`), with each target and whether it is met:
one table for the MNIST models (the digit judge), one for the emoji models (the emoji judge),
and the emoji CycleGAN's translations against the true images, both directions."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "plugins" / "weights"
JUDGES = ROOT / "core" / "judge-weights"


def memorised_little(f: dict) -> bool:
    return f["memorisation_ratio"] >= 0.9


# model folder -> (the target in words, a check of the figures)
TARGETS = {
    "dcgan": ("IS >= 9.0", lambda f: f["classifier_is"] >= 9.0),
    "wgan_gp": ("IS >= 9.0", lambda f: f["classifier_is"] >= 9.0),
    "cgan": ("IS >= 9.0, label accuracy >= 97%", lambda f: f["classifier_is"] >= 9.0 and f["label_accuracy"] >= 0.97),
    "cyclegan": ("label kept >= 90%", lambda f: f["label_accuracy"] >= 0.90),
    # the classics, trained on a budget like DCGAN's (README, "A fair comparison")
    **{name: ("IS >= 0.9 of real's", lambda f: f["classifier_is"] >= 0.9 * f["classifier_is_real"])
       for name in ("gan", "lsgan", "wgan")},
    # every emoji generator: memorisation ratio >= 0.9
    **{f"{name}-emoji": ("memorisation ratio >= 0.9", memorised_little)
       for name in ("dcgan", "wgan_gp", "gan", "lsgan", "wgan", "began")},
    "cgan-emoji": ("label accuracy >= 80% of real's, memorisation ratio >= 0.9",
                   lambda f: f["label_accuracy"] >= 0.8 * f["label_accuracy_real"] and memorised_little(f)),
    "cyclegan-emoji": ("beats the identity in L1 and PSNR, keeps >= 90% of the labels read right, both ways",
                       lambda f: all(f[p + "paired_l1"] < f[p + "paired_l1_identity"]
                                     and f[p + "paired_psnr"] > f[p + "paired_psnr_identity"]
                                     and f[p + "label_kept_of_correct"] >= 0.9 for p in ("", "b2a_"))),
}


def size_mb(folder: Path) -> float:
    return (folder / "model.safetensors").stat().st_size / 1e6


def met(name: str, figures: dict) -> tuple[str, str]:
    target, check = TARGETS.get(name, ("-", None))
    return target, "-" if check is None else ("yes" if check(figures) else "**no**")


def models(judge: str) -> dict[str, dict]:
    found = {}
    for path in sorted(WEIGHTS.glob("*/eval.json")):
        figures = json.loads(path.read_text())
        if figures.get("judge", "digits") == judge:
            found[path.parent.name] = figures
    return found


def mnist_table() -> None:
    rows, reference = [], {}
    for name, figures in models("digits").items():
        label = f"{figures['label_accuracy']:.1%}" if "label_accuracy" in figures else "-"
        target, ok = met(name, figures)
        rows.append(f"| `{name}` | {figures['samples']:,} | {figures['fd']:.1f} | {figures['classifier_is']:.2f} | "
                    f"{label} | {target} | {ok} | {size_mb(WEIGHTS / name):.1f} |")
        reference = figures
    print("| model | samples | Frechet distance (judge) | classifier IS | label accuracy / kept | target | met | MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    if reference:
        print(f"| real MNIST | 10,000 | {reference['fd_real_floor']:.1f} (two halves) | "
              f"{reference['classifier_is_real']:.2f} | {reference['label_accuracy_real']:.1%} | | | |")


def emoji_table() -> None:
    rows, reference = [], {}
    for name, figures in models("emoji").items():
        if "paired_l1" in figures:
            continue  # a translator: its own table
        label = f"{figures['label_accuracy']:.1%}" if "label_accuracy" in figures else "-"
        target, ok = met(name, figures)
        rows.append(f"| `{name}` | {figures['samples']:,} | {figures['fd']:.2f} | {figures['classifier_is']:.2f} | "
                    f"{label} | {figures['memorisation_ratio']:.2f} | {figures['memorisation_near_copies']:.3f} | "
                    f"{target} | {ok} | {size_mb(WEIGHTS / name):.1f} |")
        reference = figures
    print("| model | samples | Frechet distance (judge) | classifier IS | label accuracy | memorisation ratio "
          "| near-copies | target | met | MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    if reference:
        print(f"| Twemoji test split | {reference['memorisation_real_images']} | "
              f"{reference['fd_real_vs_train']:.2f} (against train) | {reference['classifier_is_real']:.2f} | "
              f"{reference['label_accuracy_real']:.1%} | | | | | |")


def translation_table() -> None:
    for name, figures in models("emoji").items():
        if "paired_l1" not in figures:
            continue
        target, ok = met(name, figures)
        print(f"`{name}` on the 387 test emoji, each translation against the true image in the other style "
              f"(target: {target}; met: {ok}; {size_mb(WEIGHTS / name):.1f} MB):\n")
        print("| direction | L1 | L1, untranslated | PSNR, dB | PSNR, untranslated | judge reads the input right "
              "| of those, label kept | label accuracy, translated |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for prefix, direction in (("", "Twemoji to Noto"), ("b2a_", "Noto to Twemoji")):
            f = {key[len(prefix):]: value for key, value in figures.items() if key.startswith(prefix)}
            print(f"| {direction} | {f['paired_l1']:.4f} | {f['paired_l1_identity']:.4f} | {f['paired_psnr']:.2f} | "
                  f"{f['paired_psnr_identity']:.2f} | {f['label_accuracy_input']:.1%} | "
                  f"{f['label_kept_of_correct']:.1%} | {f['label_accuracy']:.1%} |")


def main() -> None:
    print("MNIST, the digit judge:\n")
    mnist_table()
    print("\nEmoji, the emoji judge, against the Twemoji test split:\n")
    emoji_table()
    print()
    translation_table()
    shipped = sorted(WEIGHTS.glob("*/model.safetensors"))
    judges = sum(p.stat().st_size for p in JUDGES.glob("*/model.safetensors")) / 1e6
    print(f"\nBundled models: {len(shipped)}, {sum(p.stat().st_size for p in shipped) / 1e6:.1f} MB in all "
          f"(the judges' {judges:.1f} MB not counted).")


if __name__ == "__main__":
    main()
