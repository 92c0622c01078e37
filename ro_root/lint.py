"""lintian over the built package: no error and no warning, pedantic tags shown."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

from ro_root.errors import die
from ro_root.proc import run

log = logging.getLogger("ro-root")

LINTIAN_ARGS = ("-i", "-I", "-E", "--pedantic", "--fail-on", "error,warning")


def lintian(deb: Path) -> None:
    """Run lintian on DEB if it is installed; stop if it reports an error or a warning."""
    program = shutil.which("lintian")
    if program is None:
        log.warning("lintian is not installed: package not checked (apt-get install lintian)")
        return
    # lintian warns on every run as root ("not recommended"): that is about unpacking
    # packages from elsewhere as root; this is the package just built from this tree.
    as_root = ("--allow-root",) if os.geteuid() == 0 else ()
    proc = run([program, *LINTIAN_ARGS, *as_root, deb], check=False, capture=True)
    report = (proc.stdout + proc.stderr).strip()
    if report:
        print(report, file=sys.stderr)
    if proc.returncode != 0:
        die(f"lintian found errors or warnings in {deb.name} (see above); nothing written")
