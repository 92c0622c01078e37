"""The boot-time library scripts/ro-root-functions, sourced by dash with stubs and a fake root.

mount/umount act on a fake mount table (tests/shlib/fake_mount.py), so these tests show what the
library leaves mounted after success and after a failure at each step.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LIB = REPO / "scripts" / "ro-root-functions"
SHLIB = Path(__file__).resolve().parent / "shlib"

REAL_FSTAB = (
    "# /etc/fstab: static file system information.\n"
    "UUID=1234\t/\text4\tdefaults,errors=remount-ro\t0\t1\n"
    "\n"
    "LABEL=data  /var/local/data  ext4  defaults  0  2\n"
    "/dev/vdb none swap sw 0 0\n"
    "   # indented comment with / in it\n"
)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    root: Path
    run: Path
    table: list[list[str]]
    calls: list[str]

    @property
    def state(self) -> str:
        return (self.run / "state").read_text().strip()

    @property
    def reason(self) -> str:
        return (self.run / "reason").read_text().strip()

    @property
    def log(self) -> str:
        return (self.run / "log").read_text()

    def mounted(self) -> dict[str, tuple[str, str, str]]:
        return {row[1]: (row[0], row[2], row[3]) for row in self.table}


class Boot:
    """A fake initramfs: a root directory, a mount table, /proc files and stubs."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.rootmnt = tmp / "root"
        self.rootmnt.mkdir()
        (self.rootmnt / "ro" / "etc").mkdir(parents=True)
        (self.rootmnt / "ro" / "etc" / "fstab").write_text(REAL_FSTAB)
        (self.rootmnt / "etc").mkdir()
        self.cmdline = "BOOT_IMAGE=/vmlinuz root=/dev/vda ro quiet"
        self.mounts = f"/dev/vda {self.rootmnt} ext4 ro,relatime 0 0\n"
        self.filesystems = "nodev\ttmpfs\nnodev\toverlay\n\text4\n"

    def run(self, body: str = "rr_main", fail: str = "", **env: str) -> Result:
        table = self.tmp / "mounts"
        table.write_text(self.mounts)
        (self.tmp / "cmdline").write_text(self.cmdline + "\n")
        (self.tmp / "filesystems").write_text(self.filesystems)
        calls = self.tmp / "calls"
        calls.write_text("")
        (self.tmp / "kmsg").write_text("")
        run = self.tmp / "run"
        script = f". {SHLIB}/stubs.sh\n. {LIB}\n{body}\n"
        proc = subprocess.run(
            ["dash", "-c", script],
            capture_output=True,
            text=True,
            check=False,
            env={
                "PATH": "/usr/bin:/bin",
                "rootmnt": str(self.rootmnt),
                "RR_RUNDIR": str(run),
                "RR_CMDLINE_FILE": str(self.tmp / "cmdline"),
                "RR_MOUNTS_FILE": str(table),
                "RR_FILESYSTEMS_FILE": str(self.tmp / "filesystems"),
                "RR_KMSG": str(self.tmp / "kmsg"),
                "FAKE_DIR": str(SHLIB),
                "FAKE_PYTHON": sys.executable,
                "FAKE_TABLE": str(table),
                "FAKE_CALLS": str(calls),
                "FAKE_FAIL": fail,
                **env,
            },
        )
        return Result(
            proc.returncode,
            proc.stdout,
            proc.stderr,
            self.rootmnt,
            run,
            [line.split() for line in table.read_text().splitlines() if line.strip()],
            calls.read_text().splitlines(),
        )


@pytest.fixture
def boot(tmp_path: Path) -> Boot:
    return Boot(tmp_path)


def parse(boot: Boot, cmdline: str) -> dict[str, str]:
    boot.cmdline = cmdline
    result = boot.run(
        'rr_parse_cmdline "$(cat "$RR_CMDLINE_FILE")"; '
        'printf "MODE=%s\\nSKIP=%s\\n" "$RR_MODE" "$RR_SKIP"',
        RR_RUNDIR=str(boot.tmp),
    )
    assert result.returncode == 0, result.stderr
    values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    values["out"] = result.stdout
    return values


# --- the kernel command line ---------------------------------------------------------------


def test_default_command_line_wants_the_overlay(boot: Boot) -> None:
    values = parse(boot, "BOOT_IMAGE=/vmlinuz root=/dev/vda ro quiet splash")
    assert values["MODE"] == "tmpfs"
    assert values["SKIP"] == ""


def test_ro_root_disabled_skips_the_overlay(boot: Boot) -> None:
    values = parse(boot, "root=/dev/vda ro ro-root=disabled")
    assert values["MODE"] == "disabled"
    assert "ro-root=disabled" in values["SKIP"]


def test_last_ro_root_parameter_wins(boot: Boot) -> None:
    assert parse(boot, "ro-root=disabled ro-root=tmpfs")["SKIP"] == ""
    assert parse(boot, "ro-root=tmpfs ro-root=disabled")["MODE"] == "disabled"


@pytest.mark.parametrize(
    "word",
    [
        "single",
        "S",
        "s",
        "1",
        "rescue",
        "emergency",
        "systemd.unit=rescue.target",
        "systemd.unit=emergency.target",
    ],
)
def test_recovery_boots_skip_the_overlay(boot: Boot, word: str) -> None:
    values = parse(boot, f"root=/dev/vda ro {word} quiet")
    assert f"'{word}'" in values["SKIP"]
    assert "recovery" in values["SKIP"]


@pytest.mark.parametrize("word", ["singleuser", "S1", "systemd.unit=multi-user.target", "10"])
def test_words_that_only_look_like_recovery_do_not_skip(boot: Boot, word: str) -> None:
    assert parse(boot, f"root=/dev/vda {word}")["SKIP"] == ""


def test_unknown_mode_warns_and_keeps_the_default(boot: Boot) -> None:
    values = parse(boot, "root=/dev/vda ro-root=bogus")
    assert values["MODE"] == "tmpfs"
    assert values["SKIP"] == ""
    assert (
        "ro-root: warning: ignoring unknown value in kernel parameter 'ro-root=bogus'"
        in (values["out"])
    )


def test_hostile_command_line_is_data_not_code(boot: Boot, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "globme").write_text("")
    values = parse(
        boot,
        f"ro-root=$(touch${{IFS}}{marker}) ro-root=`touch {marker}` ro-root=;touch {marker} "
        f"ro-root={tmp_path}/* ro-root='quoted\"",
    )
    assert not marker.exists()
    assert values["MODE"] == "tmpfs"
    # The glob reached the warning literally: it was not expanded.
    assert f"'ro-root={tmp_path}/*'" in values["out"]
    assert "globme" not in values["out"]


# --- the whole boot step: success ------------------------------------------------------------


def test_overlay_boot_mounts_real_root_read_only_on_ro_and_tmpfs_on_rw(boot: Boot) -> None:
    result = boot.run()
    assert result.returncode == 0, result.stdout + result.stderr
    mounted = result.mounted()
    root = str(result.root)
    assert mounted[root][1] == "overlay"
    assert f"lowerdir={root}.ro" in mounted[root][2]
    assert f"upperdir={root}.rw/upper" in mounted[root][2]
    assert f"workdir={root}.rw/work" in mounted[root][2]
    assert mounted[f"{root}/ro"][:2] == ("/dev/vda", "ext4")
    assert mounted[f"{root}/ro"][2].split(",")[0] == "ro"
    assert mounted[f"{root}/rw"][1] == "tmpfs"
    assert "mode=0755" in mounted[f"{root}/rw"][2]
    assert f"{root}.ro" not in mounted and f"{root}.rw" not in mounted
    assert f"chmod 755 {root}" in result.calls
    assert result.state == "active"
    assert "/dev/vda" in result.reason
    assert "ro-root: active:" in result.stdout


def test_overlay_fstab_disables_only_the_root_entry_and_names_the_real_one(boot: Boot) -> None:
    result = boot.run()
    assert result.state == "active"
    fstab = (result.root / "etc" / "fstab").read_text()
    header, _, body = fstab.partition("\n\n")
    assert "/ro/etc/fstab" in header
    assert all(line.startswith("#") for line in header.splitlines())
    lines = body.splitlines()
    assert "#ro-root# UUID=1234\t/\text4\tdefaults,errors=remount-ro\t0\t1" in lines
    # Every other line is kept byte for byte (tabs and indentation included).
    others = [line for line in REAL_FSTAB.splitlines() if "UUID=1234" not in line]
    assert [line for line in lines if not line.startswith("#ro-root# ")] == others


def test_missing_real_fstab_still_gets_the_header(boot: Boot) -> None:
    (boot.rootmnt / "ro" / "etc" / "fstab").unlink()
    result = boot.run()
    assert result.state == "active"
    assert "/ro/etc/fstab" in (result.root / "etc" / "fstab").read_text()


def test_writable_root_is_remounted_read_only_before_the_overlay(boot: Boot) -> None:
    boot.mounts = f"/dev/vda {boot.rootmnt} ext4 rw,relatime 0 0\n"
    result = boot.run()
    assert result.state == "active"
    assert f"mount -n -o remount,ro /dev/vda {boot.rootmnt}.ro" in result.calls
    assert result.mounted()[f"{boot.rootmnt}/ro"][2].startswith("ro")


def test_overlay_module_is_loaded_when_missing(boot: Boot) -> None:
    boot.filesystems = "nodev\ttmpfs\n\text4\n"
    result = boot.run(FAKE_MODPROBE_LOADS="1")
    assert "modprobe -b overlay" in result.calls
    assert result.state == "active"


def test_quiet_hides_progress_but_not_the_outcome(boot: Boot) -> None:
    result = boot.run(quiet="y")
    assert "Success:" not in result.stdout
    assert "ro-root: active:" in result.stdout
    assert "active" in result.log
    assert "ro-root: " in (boot.tmp / "kmsg").read_text()


# --- skip and failure paths: the real root must end on rootmnt as it was ---------------------


def test_disabled_boot_touches_nothing_and_records_why(boot: Boot) -> None:
    boot.cmdline = "root=/dev/vda ro ro-root=disabled"
    result = boot.run()
    assert result.state == "skipped"
    assert "ro-root=disabled" in result.reason
    assert result.table == [["/dev/vda", str(boot.rootmnt), "ext4", "ro,relatime", "0", "0"]]
    assert not [c for c in result.calls if c.startswith(("mount", "umount"))]
    assert "ro-root: skipped:" in result.stdout


def test_no_overlay_support_fails_before_touching_the_root(boot: Boot) -> None:
    boot.filesystems = "nodev\ttmpfs\n\text4\n"
    result = boot.run()
    assert "modprobe -b overlay" in result.calls
    assert result.state == "failed"
    assert "overlay" in result.reason
    assert result.table == [["/dev/vda", str(boot.rootmnt), "ext4", "ro,relatime", "0", "0"]]
    assert "ro-root: FAILED:" in result.stdout


def test_nothing_mounted_on_rootmnt_is_a_failure(boot: Boot) -> None:
    boot.mounts = "proc /proc proc rw 0 0\n"
    result = boot.run()
    assert result.state == "failed"
    assert "no root file system is mounted" in result.reason


def test_separate_usr_mounted_below_the_root_is_refused_before_touching_it(boot: Boot) -> None:
    usr = f"/dev/vdb {boot.rootmnt}/usr ext4 ro,relatime 0 0\n"
    boot.mounts += usr
    result = boot.run()
    assert result.state == "failed"
    assert f"{boot.rootmnt}/usr" in result.reason
    assert "not support" in result.reason
    assert result.table == [line.split() for line in boot.mounts.splitlines()]
    assert not [c for c in result.calls if c.startswith(("mount", "umount"))]


def test_a_sibling_directory_with_the_same_prefix_is_not_below_the_root(boot: Boot) -> None:
    boot.mounts += f"tmpfs {boot.rootmnt}2 tmpfs rw 0 0\n"
    assert boot.run().state == "active"


def test_root_that_is_already_an_overlay_is_left_alone(boot: Boot) -> None:
    boot.mounts = f"overlay {boot.rootmnt} overlay rw 0 0\n"
    result = boot.run()
    assert result.state == "failed"
    assert "already an overlay" in result.reason
    assert not [c for c in result.calls if c.startswith(("mount", "umount"))]


@pytest.mark.parametrize(
    "fail",
    [
        "mkdir -p {root}.ro",
        "mount -t tmpfs",
        "mkdir -m 0755",
        "-o move {root} {root}.ro",
        "mount -t overlay",
        "chmod 755",
        "-o move {root}.ro {root}/ro",
        "-o move {root}.rw {root}/rw",
    ],
)
def test_failure_at_any_step_puts_the_real_root_back(boot: Boot, fail: str) -> None:
    fail = fail.format(root=boot.rootmnt)
    before = boot.mounts.split()
    result = boot.run(fail=fail)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.state == "failed", result.stdout
    assert result.table == [before], result.calls
    assert "booting with the normal root" in result.reason
    assert "PANIC" not in result.stdout
    assert "ro-root: FAILED:" in result.stdout


def test_failure_to_write_fstab_puts_the_real_root_back(boot: Boot) -> None:
    (boot.rootmnt / "etc").rmdir()
    result = boot.run()
    assert result.state == "failed"
    assert "fstab" in result.reason
    assert result.table == [boot.mounts.split()]


def test_failure_after_remount_makes_a_writable_root_writable_again(boot: Boot) -> None:
    boot.mounts = f"/dev/vda {boot.rootmnt} ext4 rw,relatime 0 0\n"
    result = boot.run(fail="mount -t overlay")
    assert result.state == "failed"
    assert result.table == [["/dev/vda", str(boot.rootmnt), "ext4", "rw,relatime", "0", "0"]]


def test_remount_that_leaves_the_root_writable_is_a_failure(boot: Boot) -> None:
    boot.mounts = f"/dev/vda {boot.rootmnt} ext4 rw,relatime 0 0\n"
    result = boot.run(fail="remount,ro")
    assert result.state == "failed"
    assert "read-only" in result.reason
    assert result.table == [boot.mounts.split()]


def test_root_that_cannot_be_put_back_panics_loudly(boot: Boot) -> None:
    # The overlay fails and then moving the root back fails too: init could
    # not start anything, so the library must not pretend all is well.
    move_back = f"-o move {boot.rootmnt}.ro {boot.rootmnt}"
    result = boot.run(
        body=f'mount() {{ case "$*" in *"-t overlay"* | *"{move_back}") return 1 ;; esac; '
        '"$FAKE_PYTHON" "$FAKE_DIR/fake_mount.py" mount "$@"; }\nrr_main'
    )
    assert result.returncode == 99
    assert "PANIC: ro-root:" in result.stdout
    assert result.state == "failed"
    assert "could not put the real root back" in result.reason
