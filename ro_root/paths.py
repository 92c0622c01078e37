"""Output directories: created if missing, but never their missing parents (a typo in --out
must not quietly build a tree of directories somewhere)."""

from __future__ import annotations

from pathlib import Path

from ro_root.errors import die


def check_out_dir(directory: Path, option: str = "--out") -> None:
    """Stop unless DIRECTORY is a directory or can be made in an existing one."""
    if directory.is_dir():
        return
    if directory.exists() or directory.is_symlink():
        die(f"{option} {directory}: cannot create it: it exists and is not a directory")
    if not directory.parent.is_dir():
        die(
            f"{option} {directory}: cannot create it: {directory.parent} does not exist",
            hint="only the last directory of the path is created",
        )


def make_out_dir(directory: Path, option: str = "--out") -> None:
    """Create DIRECTORY (not its parents) unless it is there; stop with one line if it cannot."""
    check_out_dir(directory, option)
    try:
        directory.mkdir(exist_ok=True)
    except OSError as exc:
        die(f"{option} {directory}: cannot create it ({exc.strerror})")
