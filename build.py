#!/usr/bin/env python3
"""Build ro-root: a thin shim to `python3 -m ro_root` (see `python3 build.py --help`).

The builder runs on Debian's python3 with python3-debian and python3-jinja2 (`make deb`
installs them). An interpreter that cannot import them (a pyenv or other non-Debian
python3 first on PATH) hands over to /usr/bin/python3, once.
"""

import os
import sys
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
# Set on the hand-over, so that a second failure is an error rather than a loop.
HANDED_OVER = "RO_ROOT_BUILD_PY_HANDED_OVER"


def _ensure_modules() -> None:
    try:
        import debian.changelog  # noqa: F401
        import jinja2  # noqa: F401
    except ImportError as exc:
        system = Path(SYSTEM_PYTHON)
        other = system.exists() and sys.executable != SYSTEM_PYTHON
        if other and not os.environ.get(HANDED_OVER):
            os.environ[HANDED_OVER] = "1"
            os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, __file__, *sys.argv[1:]])
        sys.exit(
            f"build.py: error: {sys.executable} cannot import {exc.name} "
            "(run: apt-get install python3-debian python3-jinja2, then /usr/bin/python3 build.py)"
        )


_ensure_modules()
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ro_root.cli import main  # noqa: E402

raise SystemExit(main())
