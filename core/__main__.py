"""``python -m ganzoo ...`` is the ``ganzoo`` command (torchrun needs a module to run)."""

import sys

from .cli import main

sys.exit(main())
