"""The APT/dpkg guard outside a ro-root boot: in a chroot, an image build, or on a device
between install and its first reboot there is no /run/ro-root, and the guard is silent."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def without_run_ro_root(command: list[str]) -> list[str]:
    """COMMAND as run where /run/ro-root does not exist (on a host running ro-root, in a
    mount namespace of its own with an empty /run)."""
    if not Path("/run/ro-root").exists():
        return command
    return ["unshare", "--mount", "sh", "-ec", 'mount -t tmpfs tmpfs /run; exec "$@"', "sh",
            *command]  # fmt: skip


@pytest.mark.parametrize("caller", ["apt", "dpkg"])
def test_guard_is_silent_without_a_boot_record(caller: str) -> None:
    proc = subprocess.run(
        without_run_ro_root(["dash", str(REPO / "debian/apt-guard"), caller]),
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
