"""``python -m tools.stripe_standin`` (or ``python tools/stripe_standin``):
serve the stand-in; see :mod:`tools.stripe_standin.cli`."""

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a directory: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tools.stripe_standin.cli import main
else:
    from .cli import main

raise SystemExit(main())
