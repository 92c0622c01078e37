"""What several test modules do with the source tree: copy it, bump its version, build it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# What the builder reads.
SOURCE_TREE = ("build.py", "ro_root", "debian", "hooks", "scripts", "sbin")


def copy_source(dest: Path) -> Path:
    """Copy what the builder reads to DEST (created), for variant trees."""
    dest.mkdir(parents=True)
    for name in SOURCE_TREE:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def add_changelog_entry(
    tree: Path, version: str, author: str = "ro-root developers <ro-root@lists.example.org>"
) -> None:
    changelog = tree / "debian/changelog"
    entry = (
        f"ro-root ({version}) unstable; urgency=medium\n\n  * Test entry.\n\n"
        f" -- {author}  Wed, 25 Nov 2026 10:00:00 +0000\n\n"
    )
    changelog.write_text(entry + changelog.read_text())


def run_build(
    tree: Path, *args: str, env: Mapping[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run TREE/build.py ARGS as a user would."""
    return subprocess.run(
        [*prefix, sys.executable, str(tree / "build.py"), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


def build_deb(out: Path, tree: Path = REPO) -> Path:
    """Build the package from TREE into OUT (lintian is a test of its own); return its path."""
    proc = run_build(tree, "deb", "--no-lintian", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])
