"""The boot core lib/boot.sh (with common.sh, settings.sh and record.sh), sourced by dash with stubs
and a fake root; the paths it reads are set after sourcing, as production never reads them from
the environment.

mount/umount act on a fake mount table (tests/shlib/fake_mount.py), so these tests show what the
library leaves mounted after success and after a failure at each step.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LIBS = tuple(REPO / "lib" / f"{name}.sh" for name in ("common", "settings", "record", "boot"))
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
        # The real root's init is systemd unless a test says otherwise.
        (self.rootmnt / "sbin").mkdir()
        (self.rootmnt / "sbin" / "init").symlink_to("../lib/systemd/systemd")
        self.cmdline = "BOOT_IMAGE=/vmlinuz root=/dev/vda ro quiet"
        self.mounts = f"/dev/vda {self.rootmnt} ext4 ro,relatime 0 0\n"
        self.filesystems = "nodev\ttmpfs\nnodev\toverlay\n\text4\n"

    def config(self, text: str | bytes) -> None:
        """Write the real root's /etc/ro-root.conf (read before the root moves)."""
        path = self.rootmnt / "etc" / "ro-root.conf"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)

    def disk(self, kind: str, name: str, dev: str) -> None:
        """Make the udev link /dev/disk/by-KIND/NAME -> ../../DEV."""
        links = self.tmp / "disk" / f"by-{kind}"
        links.mkdir(parents=True, exist_ok=True)
        (self.tmp / dev).touch()
        (links / name).symlink_to(f"../../{dev}")

    def run(self, body: str = "rr_main", fail: str = "", **env: str) -> Result:
        table = self.tmp / "mounts"
        table.write_text(self.mounts)
        (self.tmp / "cmdline").write_text(self.cmdline + "\n")
        (self.tmp / "filesystems").write_text(self.filesystems)
        (self.tmp / "uptime").write_text("4.07 7.11\n")
        calls = self.tmp / "calls"
        calls.write_text("")
        (self.tmp / "kmsg").write_text("")
        run = self.tmp / "run"
        seams = {
            "RR_RUNDIR": str(run),
            "RR_CMDLINE_FILE": str(self.tmp / "cmdline"),
            "RR_MOUNTS_FILE": str(table),
            "RR_FILESYSTEMS_FILE": str(self.tmp / "filesystems"),
            "RR_KMSG": str(self.tmp / "kmsg"),
            "RR_DISKDIR": str(self.tmp / "disk"),
            "RR_SYSTEMD_RUN": str(self.tmp / "systemd"),
            "RR_UPTIME_FILE": str(self.tmp / "uptime"),
        }
        # RR_* of ENV are seams too; the rest is the environment (init's boot variables).
        seams.update({k: v for k, v in env.items() if k.startswith("RR_")})
        env = {k: v for k, v in env.items() if not k.startswith("RR_")}
        sources = "".join(f". {lib}\n" for lib in LIBS)
        assignments = "".join(f"{k}={shlex.quote(v)}\n" for k, v in seams.items())
        script = f". {SHLIB}/stubs.sh\n{sources}{assignments}{body}\n"
        proc = subprocess.run(
            ["dash", "-c", script],
            capture_output=True,
            text=True,
            check=False,
            env={
                "PATH": "/usr/bin:/bin",
                "rootmnt": str(self.rootmnt),
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


def parse(boot: Boot, cmdline: str, config: str = "") -> dict[str, str]:
    boot.cmdline = cmdline
    result = boot.run(
        f"rr_defaults; {config}"
        'rr_parse_cmdline "$(cat "$RR_CMDLINE_FILE")"; '
        'printf "MODE=%s\\nSKIP=%s\\nSIZE=%s\\nPOLICY=%s\\n" '
        '"$RR_MODE" "$RR_SKIP" "$RR_SIZE" "$RR_POLICY"',
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
    assert "ro-root=disabled" in values["SKIP"]


def test_last_ro_root_parameter_wins(boot: Boot) -> None:
    assert parse(boot, "ro-root=disabled ro-root=tmpfs")["SKIP"] == ""
    assert "disabled" in parse(boot, "ro-root=tmpfs ro-root=disabled")["SKIP"]


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


@pytest.mark.parametrize(
    ("word", "skip"),
    [
        ('"single"', "'single'"),
        ('"ro-root=disabled"', "ro-root=disabled"),
        ('ro-root="disabled"', "ro-root=disabled"),
        ("-b", "'-b'"),
        ("systemd.unit=rescue.service", "'systemd.unit=rescue.service'"),
        ('systemd.unit="emergency.service"', "'systemd.unit=emergency.service'"),
    ],
)
def test_quoted_and_systemd_recovery_words_are_understood(boot: Boot, word: str, skip: str) -> None:
    # The kernel and systemd unquote "single" and key="value": so does ro-root (issue 12, 13).
    values = parse(boot, f"root=/dev/vda ro {word} quiet")
    assert skip in values["SKIP"]
    assert "warning" not in values["out"]


@pytest.mark.parametrize("word", ['"single"', "-b", "systemd.unit=rescue.service"])
def test_allow_cmdline_no_ignores_quoted_and_systemd_recovery_words(boot: Boot, word: str) -> None:
    values = parse(boot, f"root=/dev/vda {word}", "RR_ALLOW_CMDLINE=no; ")
    assert values["SKIP"] == ""
    assert "allow_cmdline=no" in values["out"]


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


def test_hostile_command_line_is_data_not_code(boot: Boot) -> None:
    # A short directory: warnings quote at most 80 characters of a value, and pytest's
    # tmp_path (longer under pytest-xdist) would push the glob past them.
    with tempfile.TemporaryDirectory(prefix="rr-", dir="/tmp") as name:
        tmp = Path(name)
        marker = tmp / "pwned"
        (tmp / "globme").write_text("")
        values = parse(
            boot,
            f"ro-root=$(touch${{IFS}}{marker}) ro-root=`touch {marker}` ro-root=;touch {marker} "
            f"ro-root={tmp}/* ro-root='quoted\"",
        )
        assert not marker.exists()
    assert values["MODE"] == "tmpfs"
    # The glob reached the warning literally: it was not expanded.
    assert f"'ro-root={tmp}/*'" in values["out"]
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
    # The root of the overlay is its upper directory: made 0755, no chmod (klibc has none).
    assert f"mkdir -m 0755 {root}.rw/upper {root}.rw/work" in result.calls
    assert not [c for c in result.calls if c.startswith(("chmod", "rm ", "nuke"))]
    assert result.state == "active"
    assert "/dev/vda" in result.reason
    assert "ro-root: active:" in result.stdout


def test_overlay_fstab_with_keep_settings_disables_only_the_root_entry(boot: Boot) -> None:
    boot.config("other_filesystems=keep\nswap=keep\n")
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
        "mkdir -p {root}/ro {root}/rw",
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


# --- /etc/ro-root.conf ------------------------------------------------------------------------


def settings(result: Result) -> dict[str, str]:
    text = (result.run / "settings").read_text()
    return dict(line.split("=", 1) for line in text.splitlines())


def test_no_config_file_means_defaults(boot: Boot) -> None:
    result = boot.run()
    assert result.state == "active"
    got = settings(result)
    assert got["mode"] == "tmpfs" and got["size"] == "50%" and got["failure_policy"] == "rw"
    assert got["upper"] == "tmpfs" and got["lower"] == "/dev/vda" and got["warnings"] == "0"
    assert "size=50%" in result.mounted()[f"{boot.rootmnt}/rw"][2].split(",")


def test_shipped_default_file_gives_the_defaults_without_a_warning(boot: Boot) -> None:
    boot.config((REPO / "debian" / "ro-root.conf").read_text())
    result = boot.run()
    assert result.state == "active"
    assert "warning" not in result.stdout
    assert settings(result)["warnings"] == "0"


def test_config_values_are_applied_quoted_or_not(boot: Boot) -> None:
    boot.config(
        "# comment\n"
        "  size = '256m'  \n"
        'failure_policy="ro"\n'
        "journal_size=8m\n"
        "swap=keep\n"
        "apt_guard=refuse\n"
    )
    result = boot.run()
    assert result.state == "active", result.stdout
    assert "size=256m" in result.mounted()[f"{boot.rootmnt}/rw"][2].split(",")
    got = settings(result)
    assert (got["size"], got["failure_policy"], got["swap"], got["apt_guard"]) == (
        "256m",
        "ro",
        "keep",
        "refuse",
    )
    journald = (boot.tmp / "systemd" / "journald.conf.d" / "ro-root.conf").read_text()
    assert "Storage=volatile" in journald and "RuntimeMaxUse=8M" in journald


GARBAGE = (
    b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe\x1b[2J\n"
    b"size=$(touch MARKER)\n"
    b"size=`touch MARKER`\n"
    b"mode=device:LABEL=x;touch MARKER\n"
    b"failure_policy=panic; touch MARKER\n"
    b"$(touch MARKER)=1\n"
    b"no_such_key=1\n"
    b"data_mounts=LABEL=data:/var/$(touch MARKER) LABEL=ok:/srv/ok ../x:/y\n"
    b"journal_size=50%\n"
    b"device_timeout=9999\n"
    b"enabled=maybe\n"
    b"just some words\n"
    b"\x00\x01\x02binary\x00 junk\n"
)


def test_garbage_config_boots_with_defaults_and_executes_nothing(boot: Boot) -> None:
    marker = boot.tmp / "MARKER"
    boot.config(GARBAGE.replace(b"MARKER", str(marker).encode()))
    result = boot.run()
    assert not marker.exists()
    assert result.state == "active", result.stdout
    got = settings(result)
    assert got["size"] == "50%" and got["mode"] == "tmpfs" and got["failure_policy"] == "rw"
    assert got["enabled"] == "yes" and got["journal_size"] == "16m"
    # Only the well-formed item of data_mounts is kept (its device is missing here).
    assert got["data_mounts"] == "LABEL=ok:/srv/ok"
    assert int(got["warnings"]) >= 10
    assert "unknown setting 'no_such_key'" in result.stdout
    assert "/etc/ro-root.conf line 8: bad item 'LABEL=data:/var/$(touch" in result.stdout
    assert "/etc/ro-root.conf line 8: bad item '../x:/y'" in result.stdout
    assert "bad value" in result.log
    # Junk reaches the console only as printable text.
    assert "\x1b" not in result.stdout and "\x7f" not in result.stdout


def test_blanks_around_the_equals_sign_and_at_line_ends_are_one_syntax(boot: Boot) -> None:
    boot.config(
        "enabled = no\n"
        "apt_guard=refuse \n"
        'data_mounts = "LABEL=data:/var/lib/app"\r\n'
        "failure_policy\t=\tro\t\n"
    )
    result = boot.run()
    got = settings(result)
    assert (got["enabled"], got["apt_guard"], got["data_mounts"], got["failure_policy"]) == (
        "no",
        "refuse",
        "LABEL=data:/var/lib/app",
        "ro",
    )
    assert "warning" not in result.stdout


def test_a_crlf_config_is_read_as_its_lines(boot: Boot) -> None:
    boot.config((REPO / "debian" / "ro-root.conf").read_text().replace("\n", "\r\n"))
    result = boot.run()
    assert "warning" not in result.stdout
    assert settings(result)["allow_cmdline"] == "yes"


@pytest.mark.parametrize("spec", ["LABEL=..", "LABEL=.", "UUID=.."])
def test_dot_labels_are_refused(boot: Boot, spec: str) -> None:
    boot.config(f"mode=device:{spec}\ndata_mounts={spec}:/srv/x\n")
    result = boot.run()
    got = settings(result)
    assert got["mode"] == "tmpfs" and got["data_mounts"] == ""
    assert result.stdout.count("warning") == 2


def test_a_megabyte_of_one_byte_costs_a_bounded_time(boot: Boot) -> None:
    # Erased flash reads as 0xff: one line of a megabyte (issue 12, defect 6).
    boot.config(b"\xff" * 1024 * 1024)
    started = time.monotonic()
    result = boot.run()
    elapsed = time.monotonic() - started
    assert result.state == "active"
    assert "has 65536 bytes or more: only the first 65536 are read" in result.stdout
    assert "longer than 1024 characters" in result.stdout
    # Not a timed test of speed: a quadratic parser took a minute here.
    assert elapsed < 30


def test_printable_is_linear(boot: Boot) -> None:
    started = time.monotonic()
    result = boot.run("rr_printable \"$(printf '%0200000d' 0)\"")
    assert time.monotonic() - started < 10
    assert result.stdout == "0" * 80 + "..."


def test_a_config_symlink_is_followed_within_the_real_root(boot: Boot) -> None:
    data = boot.rootmnt / "srv"
    data.mkdir()
    (data / "ro-root.conf").write_text("size=128m\n")
    (boot.rootmnt / "etc" / "ro-root.conf").symlink_to("/srv/ro-root.conf")
    result = boot.run()
    assert settings(result)["size"] == "128m"
    assert "warning" not in result.stdout


def test_a_config_symlink_to_a_later_file_system_warns_loudly(boot: Boot) -> None:
    (boot.rootmnt / "etc" / "ro-root.conf").symlink_to("/var/local/data/ro-root.conf")
    result = boot.run()
    assert result.state == "active"
    assert (
        "ro-root: warning: /etc/ro-root.conf is a symlink to /var/local/data/ro-root.conf, "
        "which is not on the root file system at boot"
    ) in result.stdout


def test_endless_garbage_is_cut_short(boot: Boot) -> None:
    boot.config("nonsense\n" * 5000)
    result = boot.run()
    assert result.state == "active"
    assert result.stdout.count("not KEY=VALUE") == 10
    assert "the rest of the file is ignored" in result.stdout


def test_config_that_is_a_directory_is_reported(boot: Boot) -> None:
    (boot.rootmnt / "etc" / "ro-root.conf").mkdir()
    result = boot.run()
    assert result.state == "active"
    assert "not a readable file" in result.stdout


@pytest.mark.parametrize("size", ["1%", "100%", "1", "64k", "512m", "2g", "999999999999"])
def test_valid_sizes(boot: Boot, size: str) -> None:
    assert boot.run(f"rr_valid_size '{size}'").returncode == 0


@pytest.mark.parametrize(
    "size",
    ["", "0", "0%", "101%", "050%", "10%%", "1.5g", "-1", "10t", "1 g", "512M", "9999999999999"],
)
def test_invalid_sizes(boot: Boot, size: str) -> None:
    assert boot.run(f"rr_valid_size '{size}'").returncode == 1


def test_enabled_no_skips_and_the_command_line_can_turn_it_on(boot: Boot) -> None:
    values = parse(boot, "root=/dev/vda", "RR_ENABLED=no; ")
    assert "enabled=no" in values["SKIP"]
    assert parse(boot, "root=/dev/vda ro-root=tmpfs", "RR_ENABLED=no; ")["SKIP"] == ""


def test_command_line_sets_size_policy_and_device(boot: Boot) -> None:
    values = parse(boot, "ro-root.size=10% ro-root.policy=panic ro-root=device:LABEL=up")
    assert (values["SIZE"], values["POLICY"], values["MODE"]) == ("10%", "panic", "device:LABEL=up")


@pytest.mark.parametrize(
    "arg",
    [
        "ro-root.size=$(reboot)",
        "ro-root.size=10%;reboot",
        "ro-root.policy=`reboot`",
        "ro-root=device:LABEL=a'b",
        "ro-root=device:/dev/sda",
        "ro-root.bogus=1",
        "ro-root.size=" + "9" * 5000,
    ],
)
def test_bad_command_line_values_keep_the_defaults(boot: Boot, arg: str) -> None:
    values = parse(boot, f"root=/dev/vda {arg}")
    assert (values["MODE"], values["SIZE"], values["POLICY"], values["SKIP"]) == (
        "tmpfs",
        "50%",
        "rw",
        "",
    )
    assert "ro-root: warning:" in values["out"]
    assert max(len(line) for line in values["out"].splitlines()) < 400


def test_allow_cmdline_no_ignores_overrides_and_recovery_words(boot: Boot) -> None:
    values = parse(
        boot, "root=/dev/vda ro-root=disabled single ro-root.size=1%", "RR_ALLOW_CMDLINE=no; "
    )
    assert values["SKIP"] == "" and values["SIZE"] == "50%"
    assert "allow_cmdline=no" in values["out"] and "single" in values["out"]


@pytest.mark.parametrize(
    "arg",
    [
        "ro-root",
        "ro-root-size=10%",
        "ro-root:tmpfs",
        'ro-root="tmpfs;id"',
        "ro-root='disabled'",
        "ro-root=tmpfs;reboot",
        "ro-root=$(touch${IFS}/tmp/x)",
        "ro-root=`id`",
        "ro-root=overlay",
        "ro-root=" + "A" * 3000,
        "ro-root.size=" + "'" * 100,
        "ro-root.policy=rw;id",
    ],
)
def test_hostile_or_malformed_parameter_warns_and_keeps_defaults(boot: Boot, arg: str) -> None:
    values = parse(boot, f"root=/dev/vda {arg} quiet")
    assert (values["MODE"], values["SIZE"], values["POLICY"], values["SKIP"]) == (
        "tmpfs",
        "50%",
        "rw",
        "",
    )
    warnings = [line for line in values["out"].splitlines() if "ro-root: warning:" in line]
    assert len(warnings) == 1, values["out"]
    assert len(warnings[0]) < 300


def test_a_flood_of_bad_parameters_is_cut_short(boot: Boot) -> None:
    values = parse(boot, " ".join(f"ro-root.x{n}=1" for n in range(200)) + " ro-root=disabled")
    warnings = [line for line in values["out"].splitlines() if "ro-root: warning:" in line]
    assert len(warnings) == 11
    assert "too many bad ro-root kernel parameters" in warnings[-1]
    # What came after the cut is ignored: the overlay stays on, the safe side.
    assert values["SKIP"] == ""


def test_other_parameters_with_ro_root_in_them_are_not_ours(boot: Boot) -> None:
    values = parse(boot, "root=/dev/vda foo.ro-root=1 xro-root=2 rorootest.task=fill")
    assert "warning" not in values["out"] and values["SKIP"] == ""


# --- the overlay's fstab ----------------------------------------------------------------------


def test_default_fstab_makes_other_file_systems_read_only_and_swap_off(boot: Boot) -> None:
    result = boot.run()
    lines = (result.root / "etc" / "fstab").read_text().splitlines()
    assert "#ro-root# LABEL=data  /var/local/data  ext4  defaults  0  2" in lines
    assert "LABEL=data\t/var/local/data\text4\tdefaults,ro\t0\t0" in lines
    assert "#ro-root# /dev/vdb none swap sw 0 0" in lines
    assert "/dev/vdb none swap sw 0 0" not in lines
    assert "   # indented comment with / in it" in lines


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("/dev/sda1 /boot ext4 rw,noatime 0 2", "/dev/sda1\t/boot\text4\tnoatime,ro\t0\t0"),
        (
            "UUID=AB-CD /boot/efi vfat umask=0077 0 1",
            "UUID=AB-CD\t/boot/efi\tvfat\tumask=0077,ro\t0\t0",
        ),
        ("PARTUUID=1 /srv xfs ro 0 0", "PARTUUID=1\t/srv\txfs\tro\t0\t0"),
        ("LABEL=x /mnt auto", "LABEL=x\t/mnt\tauto\tdefaults,ro\t0\t0"),
    ],
)
def test_block_device_entries_become_read_only(boot: Boot, entry: str, expected: str) -> None:
    result = boot.run(f"rr_defaults; rr_fstab_line '{entry}'")
    assert result.stdout.splitlines() == [f"#ro-root# {entry}", expected]


@pytest.mark.parametrize(
    "entry",
    [
        "tmpfs /tmp tmpfs defaults 0 0",
        "proc /proc proc defaults 0 0",
        "server:/export /mnt nfs defaults 0 0",
        "/srv/a /srv/b none bind 0 0",
        "/dev/sdb1 /data ext4 bind 0 0",
    ],
)
def test_other_entries_are_kept_as_they_are(boot: Boot, entry: str) -> None:
    assert boot.run(f"rr_defaults; rr_fstab_line '{entry}'").stdout == entry + "\n"


# --- data mounts and the persistent upper layer ----------------------------------------------


def test_data_mount_is_added_writable_and_replaces_the_real_entry(boot: Boot) -> None:
    boot.disk("label", "data", "vdc")
    boot.config("data_mounts=LABEL=data:/var/local/data\n")
    result = boot.run()
    assert result.state == "active", result.stdout
    lines = (result.root / "etc" / "fstab").read_text().splitlines()
    # The real fstab's type and options for that mount point, with nofail, never checked.
    assert "LABEL=data\t/var/local/data\text4\tdefaults,nofail\t0\t0" in lines
    assert "#ro-root# LABEL=data  /var/local/data  ext4  defaults  0  2" in lines
    assert not [line for line in lines if "defaults,ro" in line and "/var/local/data" in line]
    assert (result.root / "var" / "local" / "data").is_dir()
    assert settings(result)["data_mounts_active"] == "LABEL=data:/var/local/data"


@pytest.mark.parametrize(
    ("real", "line"),
    [
        # The admin's type and options stay (issue 12, defect 8).
        (
            "LABEL=data /srv/data xfs nodev,nosuid,noexec 0 2\n",
            "LABEL=data\t/srv/data\txfs\tnodev,nosuid,noexec,nofail\t0\t0",
        ),
        (
            "LABEL=data /srv/data ext4 nofail,ro 0 0\n",
            "LABEL=data\t/srv/data\text4\tnofail,ro\t0\t0",
        ),
        # No entry of its own: the kernel finds the type.
        ("", "LABEL=data\t/srv/data\tauto\tdefaults,nofail\t0\t0"),
    ],
)
def test_data_mount_keeps_the_real_fstab_type_and_options(boot: Boot, real: str, line: str) -> None:
    (boot.rootmnt / "ro" / "etc" / "fstab").write_text(REAL_FSTAB + real)
    boot.disk("label", "data", "vdc")
    boot.config("data_mounts=LABEL=data:/srv/data\n")
    result = boot.run()
    assert result.state == "active", result.stdout
    assert line in (result.root / "etc" / "fstab").read_text().splitlines()


def test_data_mount_with_a_blank_in_its_mount_point_mounts_nothing(boot: Boot) -> None:
    boot.disk("label", "data", "vdc")
    boot.config('data_mounts="LABEL=data:/srv/my app LABEL=data:/srv/ok"\n')
    result = boot.run()
    assert settings(result)["data_mounts"] == "LABEL=data:/srv/ok"
    assert (
        "bad item 'LABEL=data:/srv/my app' in data_mounts (a mount point cannot contain blanks)"
        in (result.stdout)
    )
    assert "/srv/my\t" not in (result.root / "etc" / "fstab").read_text()


def test_an_fstab_that_cannot_be_written_whole_fails_the_overlay(boot: Boot) -> None:
    # A full upper layer: the write fails, no truncated fstab is left, and the boot says so.
    result = boot.run("rr_fstab_line() { return 1; }; rr_main")
    assert result.state == "failed", result.stdout
    assert "could not write /etc/fstab in the upper layer" in result.reason
    assert not list(boot.rootmnt.glob("etc/fstab*"))


def test_missing_data_device_warns_after_the_timeout_and_boots(boot: Boot) -> None:
    boot.config("data_mounts=LABEL=gone:/srv/gone LABEL=gone2:/srv/gone2\ndevice_timeout=3\n")
    result = boot.run()
    assert result.state == "active"
    assert "data mount LABEL=gone (for /srv/gone) not found within 3 s" in result.stdout
    assert "LABEL=gone2" in result.stdout
    # Both devices share one budget of 3 seconds.
    assert result.calls.count("sleep 1") == 3
    assert (
        "gone"
        not in (result.root / "etc" / "fstab")
        .read_text()
        .split("\n\n", 1)[1]
        .replace("#", "")
        .split("data_mounts")[-1]
    )


def test_data_mount_on_the_root_device_is_refused(boot: Boot) -> None:
    boot.disk("label", "root", "vda")
    boot.config("data_mounts=LABEL=root:/srv/x\n")
    result = boot.run()
    assert result.state == "active"
    assert "real root's own device" in result.stdout
    assert settings(result)["data_mounts_active"] == ""


def test_data_device_the_kernel_refuses_is_skipped_loudly_and_not_written(boot: Boot) -> None:
    boot.disk("label", "data", "vdc")
    boot.config("data_mounts=LABEL=data:/var/local/data\n")
    result = boot.run(fail="ro,noload")
    assert result.state == "active", result.stdout
    assert (
        "ro-root: warning: data mount LABEL=data (/dev/vdc, for /var/local/data) holds a file "
        "system (ext4) that the kernel refuses to mount even read-only (corrupted?)"
    ) in result.stdout
    assert "skipped, not mounted and not written" in result.stdout
    # The only mount of the device was the read-only trial, without journal replay.
    device = f"{boot.tmp}/disk/by-label/data"
    assert [c for c in result.calls if device in c and c.startswith(("mount", "umount"))] == [
        f"mount -t ext4 -o ro,noload {device} {boot.rootmnt}.check"
    ]
    assert settings(result)["data_mounts_active"] == ""
    # Nor does the real fstab's entry for it mount it: it is commented out.
    fstab = (result.root / "etc" / "fstab").read_text().splitlines()
    assert "#ro-root# LABEL=data  /var/local/data  ext4  defaults  0  2" in fstab
    assert not [line for line in fstab if line.startswith("LABEL=data")]


@pytest.mark.parametrize(
    ("fstype", "options"),
    [("ext2", "ro"), ("ext3", "ro,noload"), ("xfs", "ro,norecovery"), ("btrfs", "ro,nologreplay")],
)
def test_trial_mount_replays_no_journal(boot: Boot, fstype: str, options: str) -> None:
    boot.disk("label", "data", "vdc")
    boot.config("data_mounts=LABEL=data:/var/local/data\n")
    result = boot.run(FAKE_FSTYPE=fstype)
    device = f"{boot.tmp}/disk/by-label/data"
    assert f"mount -t {fstype} -o {options} {device} {boot.rootmnt}.check" in result.calls
    assert f"umount {boot.rootmnt}.check" in result.calls
    assert settings(result)["data_mounts_active"] == "LABEL=data:/var/local/data"


def test_corrupted_upper_device_falls_back_to_tmpfs_without_a_writable_mount(boot: Boot) -> None:
    boot.disk("label", "up", "vdb")
    boot.config("mode=device:LABEL=up\n")
    result = boot.run(fail="ro,noload")
    assert result.state == "active"
    assert "refuses to mount even read-only (corrupted?)" in result.stdout
    assert "falling back to tmpfs, changes will NOT persist" in result.stdout
    assert not [c for c in result.calls if "rw,noatime" in c]
    assert settings(result)["upper"] == "tmpfs"


# --- protect_device: the real root's block device read-only ----------------------------------


def test_protect_device_sets_the_root_device_read_only_after_the_overlay(boot: Boot) -> None:
    result = boot.run()
    assert result.state == "active"
    calls = result.calls
    setro = calls.index("blockdev --setro /dev/vda")
    overlay = [n for n, c in enumerate(calls) if c.startswith("mount -t overlay")]
    assert overlay and overlay[0] < setro
    # The last step of the overlay: after the layers moved into it.
    assert next(n for n, c in enumerate(calls) if "move" in c and c.endswith("/rw")) < setro
    got = settings(result)
    assert got["protect_device"] == "yes" and got["lower_device_read_only"] == "yes"


def test_protect_device_no_leaves_the_device_alone(boot: Boot) -> None:
    boot.config("protect_device=no\n")
    result = boot.run()
    assert result.state == "active"
    assert not [c for c in result.calls if c.startswith("blockdev")]
    assert settings(result)["lower_device_read_only"] == "no"


def test_protect_device_protects_the_partition_the_root_is_on(boot: Boot) -> None:
    boot.mounts = f"/dev/sda2 {boot.rootmnt} ext4 ro,relatime 0 0\n"
    result = boot.run()
    assert "blockdev --setro /dev/sda2" in result.calls
    assert not [c for c in result.calls if c.startswith("blockdev --setro /dev/sda ")]


@pytest.mark.parametrize(
    ("body", "fail", "message"),
    [
        ("unset -f blockdev; rr_main", "", "no blockdev in this initramfs"),
        ("rr_main", "--setro", "blockdev --setro /dev/vda failed"),
    ],
)
def test_protect_device_failure_is_loud_and_keeps_the_overlay(
    boot: Boot, body: str, fail: str, message: str
) -> None:
    result = boot.run(body, fail=fail)
    assert result.state == "active"
    assert f"ro-root: warning: protect_device: {message}" in result.stdout
    assert settings(result)["lower_device_read_only"] == "no"


def test_skipped_and_failed_boots_do_not_protect_the_device(boot: Boot) -> None:
    boot.cmdline = "root=/dev/vda ro-root=disabled"
    assert not [c for c in boot.run().calls if c.startswith("blockdev")]
    boot.cmdline = "root=/dev/vda"
    boot.filesystems = "nodev\ttmpfs\n\text4\n"
    result = boot.run()
    assert result.state == "failed"
    assert not [c for c in result.calls if c.startswith("blockdev")]


@pytest.mark.parametrize(
    ("value", "expected"), [("75", "75"), ("100", "100"), ("0", "90"), ("95%", "90"), ("abc", "90")]
)
def test_upper_warn_percent_is_recorded_for_status(boot: Boot, value: str, expected: str) -> None:
    boot.config(f"upper_warn_percent={value}\n")
    assert settings(boot.run())["upper_warn_percent"] == expected


def test_persistent_upper_device_is_mounted_and_used(boot: Boot) -> None:
    boot.disk("uuid", "1234-abcd", "vdb")
    boot.config("mode=device:UUID=1234-abcd\n")
    result = boot.run()
    assert result.state == "active", result.stdout
    root = str(boot.rootmnt)
    mounted = result.mounted()
    assert mounted[f"{root}/rw"][:2] == (f"{boot.tmp}/disk/by-uuid/1234-abcd", "ext4")
    assert f"upperdir={root}.rw/ro-root/upper" in mounted[root][2]
    assert f"workdir={root}.rw/ro-root/work" in mounted[root][2]
    assert "persist on /dev/vdb (UUID=1234-abcd)" in result.reason
    assert settings(result)["upper"] == "/dev/vdb"
    assert not (boot.tmp / "systemd" / "journald.conf.d").exists()


@pytest.mark.parametrize(
    ("setup", "fstype", "fail", "message"),
    [
        ("", "ext4", "", "not found within 2 s"),
        ("label:up:vda", "ext4", "", "real root's own device"),
        ("label:up:vdb", "vfat", "", "holds 'vfat'"),
        ("label:up:vdb", "", "", "holds 'no file system'"),
        ("label:up:vdb", "ext4", "rw,noatime", "could not mount the persistent upper"),
        ("label:up:vdb", "ext4", "ro-root/upper", "could not create ro-root/upper"),
    ],
)
def test_persistent_upper_problems_fall_back_to_tmpfs_loudly(
    boot: Boot, setup: str, fstype: str, fail: str, message: str
) -> None:
    if setup:
        kind, name, dev = setup.split(":")
        boot.disk(kind, name, dev)
    boot.config("mode=device:LABEL=up\ndevice_timeout=2\n")
    result = boot.run(fail=fail, FAKE_FSTYPE=fstype)
    assert result.state == "active", result.stdout
    assert message in result.stdout
    assert "falling back to tmpfs" in result.stdout
    assert result.mounted()[f"{boot.rootmnt}/rw"][1] == "tmpfs"
    assert f"{boot.rootmnt}.rw" not in result.mounted()
    assert settings(result)["upper"] == "tmpfs"


# --- the failure policy ---------------------------------------------------------------------


def no_overlay(boot: Boot, policy: str) -> Result:
    boot.filesystems = "nodev\ttmpfs\n\text4\n"
    boot.config(f"failure_policy={policy}\n")
    return boot.run()


def test_policy_rw_boots_writable_with_a_failing_systemd_unit(boot: Boot) -> None:
    result = no_overlay(boot, "rw")
    assert result.state == "failed"
    assert "failure_policy=rw" in result.reason
    unit = boot.tmp / "systemd" / "system" / "ro-root-failed.service"
    assert "ExecStart=/bin/false" in unit.read_text()
    wants = boot.tmp / "systemd" / "system" / "sysinit.target.wants" / "ro-root-failed.service"
    assert wants.resolve() == unit.resolve()
    assert not (result.run / "keep-read-only").exists()


def test_policy_ro_keeps_the_root_read_only_and_masks_the_remount(boot: Boot) -> None:
    boot.mounts = f"/dev/vda {boot.rootmnt} ext4 rw,relatime 0 0\n"
    result = no_overlay(boot, "ro")
    assert result.state == "failed"
    assert "read-only, without the overlay (failure_policy=ro)" in result.reason
    assert result.table == [["/dev/vda", str(boot.rootmnt), "ext4", "ro,relatime", "0", "0"]]
    assert (result.run / "keep-read-only").exists()
    for unit in ("systemd-remount-fs.service", "systemd-fsck-root.service"):
        assert str((boot.tmp / "systemd" / "system" / unit).readlink()) == "/dev/null"
    assert (boot.tmp / "systemd" / "system" / "ro-root-failed.service").exists()


def test_policy_ro_that_cannot_remount_says_the_root_is_writable(boot: Boot) -> None:
    boot.mounts = f"/dev/vda {boot.rootmnt} ext4 rw,relatime 0 0\n"
    boot.filesystems = "nodev\ttmpfs\n\text4\n"
    boot.config("failure_policy=ro\n")
    result = boot.run(fail="remount,ro")
    assert result.state == "failed"
    assert "could not be kept read-only: it is writable" in result.reason


def test_policy_panic_stops_the_boot_after_putting_the_root_back(boot: Boot) -> None:
    boot.config("failure_policy=panic\n")
    result = boot.run(fail="mount -t overlay")
    assert result.returncode == 99
    assert "PANIC: ro-root: could not mount the overlay" in result.stdout
    assert result.state == "failed"
    assert result.table == [["/dev/vda", str(boot.rootmnt), "ext4", "ro,relatime", "0", "0"]]


def test_journal_keep_writes_no_drop_in(boot: Boot) -> None:
    boot.config("journal_size=keep\n")
    assert boot.run().state == "active"
    assert not (boot.tmp / "systemd" / "journald.conf.d").exists()


# --- ro-root disable --once ------------------------------------------------------------------


def test_disable_once_skips_one_boot_and_removes_its_file(boot: Boot) -> None:
    once = boot.rootmnt / "etc" / "ro-root.disable-once"
    once.write_text("")
    result = boot.run()
    assert result.state == "skipped"
    assert "ro-root disable --once" in result.reason
    assert not once.exists()
    root = str(boot.rootmnt)
    assert result.calls[-3:] == [
        f"mount -n -o remount,rw /dev/vda {root}",
        f"rm -f {once}",
        f"mount -n -o remount,ro /dev/vda {root}",
    ]
    assert result.table == [["/dev/vda", root, "ext4", "ro,relatime", "0", "0"]]
    assert boot.run().state == "active"


def test_disable_once_that_cannot_be_removed_warns(boot: Boot) -> None:
    (boot.rootmnt / "etc" / "ro-root.disable-once").write_text("")
    # Neither rm nor nuke can remove it.
    result = boot.run(fail="ro-root.disable-once")
    assert result.state == "skipped"
    assert "the next boot will be writable too" in result.stdout


# --- rr_remove: klibc has no rm, but nuke, which exits 0 whatever happens ----------------------


def test_remove_without_rm_uses_klibc_nuke(boot: Boot) -> None:
    target = boot.tmp / "flag"
    target.write_text("")
    result = boot.run(f"rm() {{ return 127; }}; rr_remove {target} && echo gone")
    assert result.stdout.strip() == "gone"
    assert f"nuke {target}" in result.calls
    assert not target.exists()


def test_remove_is_false_when_nuke_left_the_file(boot: Boot) -> None:
    target = boot.tmp / "flag"
    target.write_text("")
    result = boot.run(f"rm() {{ return 127; }}; rr_remove {target} || echo stays", fail="nuke")
    assert result.stdout.strip() == "stays"
    assert target.exists()


def test_remove_of_a_dangling_symlink(boot: Boot) -> None:
    target = boot.tmp / "link"
    target.symlink_to(boot.tmp / "nowhere")
    result = boot.run(f"rr_remove {target} && echo gone")
    assert result.stdout.strip() == "gone"
    assert not target.is_symlink()


# --- the flag file ro-root.disable-once on a boot partition (issue 13) --------------------------

ESP_FSTAB = REAL_FSTAB + "UUID=AB-CD  /boot/efi  vfat  umask=0077  0  1\n"


def flag_boot(boot: Boot, fstab: str = ESP_FSTAB, flag: bool = True) -> Path:
    """A real root whose fstab mounts the ESP on /boot/efi; the ESP holds the flag file when
    FLAG (the fake mount mounts nothing: the flag is where the boot mounts the partition)."""
    (boot.rootmnt / "etc" / "fstab").write_text(fstab)
    boot.disk("uuid", "AB-CD", "vda1")
    mnt = boot.tmp / "flagmnt"
    mnt.mkdir()
    if flag:
        (mnt / "ro-root.disable-once").write_text("")
    return mnt


def test_a_flag_file_on_the_esp_gives_one_writable_boot_and_is_removed(boot: Boot) -> None:
    mnt = flag_boot(boot)
    result = boot.run(RR_FLAG_MNT=str(boot.tmp / "flagmnt"))
    assert result.state == "skipped"
    assert "/boot/efi/ro-root.disable-once" in result.reason
    assert not (mnt / "ro-root.disable-once").exists()
    dev = f"{boot.tmp}/disk/by-uuid/AB-CD"
    calls = [c for c in result.calls if str(mnt) in c and not c.startswith("mkdir")]
    assert calls == [
        f"mount -t vfat -o ro {dev} {mnt}",
        f"umount {mnt}",
        f"mount -t vfat -o rw {dev} {mnt}",
        f"rm -f {mnt}/ro-root.disable-once",
        f"umount {mnt}",
    ]
    # Nothing left mounted, and the root itself never made writable for it.
    assert result.table == [["/dev/vda", str(boot.rootmnt), "ext4", "ro,relatime", "0", "0"]]
    assert not [c for c in result.calls if "remount" in c]
    # Consumed: the next boot is read-only again.
    assert boot.run(RR_FLAG_MNT=str(mnt)).state == "active"


def test_without_a_flag_file_the_esp_is_only_looked_at(boot: Boot) -> None:
    mnt = flag_boot(boot, flag=False)
    result = boot.run(RR_FLAG_MNT=str(mnt))
    assert result.state == "active"
    assert [c for c in result.calls if str(mnt) in c and not c.startswith("mkdir")] == [
        f"mount -t vfat -o ro {boot.tmp}/disk/by-uuid/AB-CD {mnt}",
        f"umount {mnt}",
    ]


def test_the_flag_file_on_a_separate_ext4_boot_is_looked_at_without_journal_replay(
    boot: Boot,
) -> None:
    mnt = flag_boot(boot, fstab=REAL_FSTAB + "UUID=AB-CD /boot ext4 defaults 0 2\n")
    result = boot.run(RR_FLAG_MNT=str(mnt))
    assert result.state == "skipped" and "/boot/ro-root.disable-once" in result.reason
    assert f"mount -t ext4 -o ro,noload {boot.tmp}/disk/by-uuid/AB-CD {mnt}" in result.calls


@pytest.mark.parametrize("fail", ["ro-root.disable-once", "-o rw"])
def test_a_flag_file_that_cannot_be_removed_leaves_the_boot_read_only(
    boot: Boot, fail: str
) -> None:
    mnt = flag_boot(boot)
    result = boot.run(fail=fail, RR_FLAG_MNT=str(mnt))
    assert result.state == "active"
    assert "could not remove it: this boot stays read-only" in result.log
    assert "ro-root exec rm /boot/efi/ro-root.disable-once" in result.log
    assert not [row for row in result.table if row[1] == str(mnt)]


def test_a_boot_partition_that_does_not_appear_is_reported_and_the_boot_goes_on(
    boot: Boot,
) -> None:
    (boot.rootmnt / "etc" / "fstab").write_text(ESP_FSTAB)
    boot.config("device_timeout=2\n")
    result = boot.run(RR_FLAG_MNT=str(boot.tmp / "flagmnt"))
    assert result.state == "active"
    assert "could not look for /boot/efi/ro-root.disable-once" in result.log
    assert result.calls.count("sleep 1") == 2


def test_noauto_and_unrelated_partitions_are_not_looked_at(boot: Boot) -> None:
    fstab = REAL_FSTAB + "UUID=AB-CD /boot/efi vfat noauto 0 1\nUUID=AB-CD /srv vfat defaults 0 0\n"
    mnt = flag_boot(boot, fstab=fstab)
    result = boot.run(RR_FLAG_MNT=str(mnt))
    assert result.state == "active"
    assert not [c for c in result.calls if str(mnt) in c]


# --- sysvinit: nothing under /run/systemd ---------------------------------------------------


def sysvinit(boot: Boot) -> None:
    init = boot.rootmnt / "sbin" / "init"
    init.unlink()
    init.write_text("sysvinit's init\n")


@pytest.mark.parametrize("policy", ["rw", "ro"])
def test_sysvinit_failure_writes_nothing_that_says_systemd_runs(boot: Boot, policy: str) -> None:
    # /run/systemd/system is sd_booted()'s test: under sysvinit it would make
    # programs believe systemd is running.
    sysvinit(boot)
    result = no_overlay(boot, policy)
    assert result.state == "failed"
    assert not (boot.tmp / "systemd").exists()
    assert (result.run / "keep-read-only").exists() == (policy == "ro")


def test_sysvinit_overlay_writes_no_journald_drop_in(boot: Boot) -> None:
    sysvinit(boot)
    assert boot.run().state == "active"
    assert not (boot.tmp / "systemd").exists()


def test_init_on_the_command_line_decides(boot: Boot) -> None:
    sysvinit(boot)
    result = no_overlay(boot, "rw")
    assert not (boot.tmp / "systemd").exists()
    result = boot.run(init="/lib/systemd/systemd")
    assert (boot.tmp / "systemd" / "system" / "ro-root-failed.service").exists()
    assert result.state == "failed"


def test_the_boot_records_how_long_it_took(boot: Boot) -> None:
    # /proc/uptime read with builtins at the start and at the outcome (issue 17's measure).
    result = boot.run(
        f'rr_main_real() {{ :; }}; rr_setup() {{ echo "12.50 1.00" >"{boot.tmp}/uptime"; '
        "rr_outcome active x; }; rr_main"
    )
    assert result.state == "active"
    assert settings(result)["setup_seconds"] == "8.43"


@pytest.mark.parametrize("uptime", ["", "garbage", "1.2.3 4", "-1.00 2"])
def test_an_unreadable_uptime_records_no_time(boot: Boot, uptime: str) -> None:
    result = boot.run(f'echo "{uptime}" >"{boot.tmp}/uptime"; rr_main')
    assert result.state == "active"
    assert settings(result)["setup_seconds"] == ""


def test_boot_state_on_the_kernel_command_line_reaches_no_record(boot: Boot) -> None:
    # Unknown KEY=VALUE kernel parameters land in init's environment (issue 12, defect 3).
    boot.cmdline = "root=/dev/vda ro ro-root=disabled"
    result = boot.run(
        "rr_main",
        RR_DONE_UPPER_IN="1",
        RR_UPPER_DEV="/dev/evil",
        RR_DATA_OK="LABEL=x:/srv",
        RR_STATE="active",
        RR_MOUNTED_RW="yes",
    )
    assert result.state == "skipped"
    got = settings(result)
    assert (got["upper"], got["upperdir"], got["data_mounts_active"], got["medium"]) == (
        "none",
        "",
        "",
        "writable",
    )


def _flag_modules(fstab: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fstab"
        path.write_text(fstab)
        script = f". {shlex.quote(str(LIBS[0]))}; rr_flag_modules {shlex.quote(str(path))}"
        result = subprocess.run(
            ["dash", "-c", script], capture_output=True, text=True, check=True, timeout=30
        )
    return result.stdout


def test_flag_modules_none_without_a_separate_boot_partition() -> None:
    # The initrd of a device with no boot partition carries no FAT modules (issue 17).
    assert _flag_modules(REAL_FSTAB) == ""
    assert _flag_modules(REAL_FSTAB + "tmpfs /boot tmpfs defaults 0 0\n") == ""
    assert _flag_modules(REAL_FSTAB + "/dev/vda1 /boot/efi vfat noauto 0 0\n") == ""


def test_flag_modules_fat_for_an_esp_or_a_pi_firmware_partition() -> None:
    fat = "vfat nls_cp437 nls_ascii nls_utf8"
    assert _flag_modules(REAL_FSTAB + "UUID=AB-CD /boot/efi vfat umask=0077 0 1\n") == fat
    # Two FAT partitions and an ext4 /boot: FAT's modules once, then ext4.
    both = "/dev/mmcblk0p1 /boot/firmware vfat defaults 0 2\nUUID=B /boot/efi vfat defaults 0 1\n"
    assert _flag_modules(REAL_FSTAB + both + "UUID=C /boot ext4 defaults 0 2\n") == fat + " ext4"
    # A type left to the kernel: FAT's, the type of every partition the flag is documented on.
    assert _flag_modules(REAL_FSTAB + "LABEL=FW /boot/firmware auto defaults 0 2\n") == fat
