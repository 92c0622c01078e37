"""The APT/dpkg guard (lib/guard.sh, run by libexec/apt-guard.sh), sourced by dash from the tree
with a fake system: it reads /ro/etc/ro-root.conf with the boot's own parser, and it is silent
wherever the overlay is not the root."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LIBS = ("common", "settings", "record", "guard")


def guard(
    tmp: Path, *, state: str | None, root: str = "overlay", conf: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    run = tmp / "run"
    lower = tmp / "lower"
    (lower / "etc").mkdir(parents=True, exist_ok=True)
    if state is not None:
        run.mkdir(exist_ok=True)
        (run / "state").write_text(state + "\n")
    if conf is not None:
        (lower / "etc" / "ro-root.conf").write_text(conf)
    mounts = tmp / "mounts"
    mounts.write_text(f"{root} / {root} rw 0 0\n/dev/vda {lower} ext4 ro 0 0\n")
    seams = {"RR_RUNDIR": run, "RR_MOUNTS_FILE": mounts, "RR_LOWER": lower}
    body = "".join(f". {REPO / 'lib' / lib}.sh\n" for lib in LIBS)
    body += "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in seams.items())
    body += 'rr_apt_guard "$@"\n'
    return subprocess.run(
        ["dash", "-c", body, "apt-guard", "apt"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def test_silent_in_a_chroot_or_image_build_without_a_boot_record(tmp_path: Path) -> None:
    # Issue 16, item 1: it printed "cannot open /run/ro-root/state" on every apt run.
    proc = guard(tmp_path, state=None, root="ext4")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


@pytest.mark.parametrize(("state", "root"), [("skipped", "ext4"), ("active", "ext4")])
def test_silent_on_a_plain_boot_and_inside_ro_root_exec(
    tmp_path: Path, state: str, root: str
) -> None:
    proc = guard(tmp_path, state=state, root=root)
    assert (proc.returncode, proc.stderr) == (0, "")


def test_warns_on_the_overlay_by_default(tmp_path: Path) -> None:
    proc = guard(tmp_path, state="active")
    assert proc.returncode == 0
    assert "WARNING: the root file system is a RAM overlay" in proc.stderr


@pytest.mark.parametrize(
    "conf",
    ["apt_guard=refuse\n", "apt_guard=refuse \n", "apt_guard = refuse\n", "apt_guard='refuse'\r\n"],
)
def test_refuses_with_apt_guard_refuse_in_any_accepted_form(tmp_path: Path, conf: str) -> None:
    # Issue 12, defect 1: 'apt_guard=refuse ' counted as refuse at boot but let changes through.
    proc = guard(tmp_path, state="active", conf=conf)
    assert proc.returncode == 1
    assert "refusing to change packages" in proc.stderr


def test_the_installed_guard_is_silent_while_its_library_is_gone(tmp_path: Path) -> None:
    # During ro-root's own removal dpkg may run the hook after /usr/lib/ro-root went.
    assert not Path("/usr/lib/ro-root/guard.sh").exists()
    proc = subprocess.run(
        ["dash", str(REPO / "libexec" / "apt-guard.sh"), "dpkg"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
