"""Write the example inputs that ship with the CycleGAN plugin (plugins/examples/cyclegan/):
three UCI digits from ../shared/data as the bundled digit model's domain A sees them in
training, framed in 28x28 as ganzoo.data frames them (a few hundred bytes each), and for the
emoji model the first Twemoji by code point of each category of the test split, which no
model trained on (a few kB each).

    python scripts/make_examples.py
"""

import shutil
from pathlib import Path

from ganzoo.data import load_images
from ganzoo.images import to_pil

ROOT = Path(__file__).resolve().parent.parent
UCI = ROOT.parent / "shared" / "data" / "uci-digits" / "digits.csv.gz"
OUT = ROOT / "plugins" / "examples" / "cyclegan"
ROWS = (2, 5, 7)  # the test set's rows 2, 5 and 7: a 2, a 5 and a 7
TWEMOJI_TEST = ROOT.parent / "shared" / "data" / "emoji" / "twemoji" / "test"


def main() -> None:
    digits = load_images(str(UCI), 28, 1)
    OUT.mkdir(parents=True, exist_ok=True)
    for row in ROWS:
        path = OUT / f"uci-digit-{digits.class_names[digits.labels[row]]}.png"
        to_pil(digits.images[row].float() / 127.5 - 1).save(path, optimize=True)
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    for category in sorted(p for p in TWEMOJI_TEST.iterdir() if p.is_dir()):
        first = sorted(category.glob("*.png"))[0]
        path = OUT / f"twemoji-{category.name}-{first.stem}.png"
        shutil.copyfile(first, path)
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
