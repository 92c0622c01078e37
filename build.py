#!/usr/bin/env python3
"""Build ro-root: a thin shim to `python3 -m ro_root` (see `python3 build.py --help`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ro_root.cli import main

raise SystemExit(main())
