"""piuparts: the package installs, removes and purges cleanly in a Debian 12 minbase chroot.

Needs root and the network (Debian's archive); the base tarball is cached outside the
repository ($RO_ROOT_TEST_CACHE, default /var/cache/ro-root-tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support import build_deb

CACHE = Path(os.environ.get("RO_ROOT_TEST_CACHE", "/var/cache/ro-root-tests"))

pytestmark = pytest.mark.chroot


def need(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (make check installs it)")
    return path


def piuparts_base(suite: str) -> Path:
    """A gzip minbase tarball as piuparts wants it, built once and cached."""
    base = CACHE / f"piuparts-{suite}-minbase.tar.gz"
    if not base.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = base.with_name(base.name + ".partial.tar.gz")
        proc = subprocess.run(
            [need("mmdebstrap"), "--variant=minbase", suite, str(partial)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            partial.unlink(missing_ok=True)
            pytest.fail(f"mmdebstrap failed:\n{proc.stderr[-3000:]}")
        partial.replace(base)
    return base


def test_piuparts_install_remove_purge_passes(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("piuparts needs root: run make check as root")
    piuparts = need("piuparts")
    deb = str(build_deb(tmp_path))
    log = tmp_path / "piuparts.log"
    proc = subprocess.run(
        [piuparts, f"--basetgz={piuparts_base('bookworm')}", "-d", "bookworm", "-l", str(log), deb],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    text = log.read_text() if log.exists() else proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-4000:]
    assert "PASS: All tests." in text
    # The diversion really happened (and piuparts checked it was gone after purge).
    assert "Adding 'diversion of /etc/init.d/checkroot.sh" in text
