"""Issue 18: the medium is never written, whatever the kernel command line says.

rr_premount (scripts/local-premount/ro-root) runs before initramfs-tools checks and mounts the
root: unless the command line turns ro-root off for this boot, it makes the initramfs mount the
root read-only and skip its fsck, through /conf/param.conf. rr_main (init-bottom) then records
what the boot did to the medium, and `ro-root status` shows it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_boot_lib import Boot

# A stub fsck: the hook-built initramfs has one when the root's fstab line has a pass number.
WITH_FSCK = "fsck() { :; }; "


@pytest.fixture
def boot(tmp_path: Path) -> Boot:
    return Boot(tmp_path)


def premount(boot: Boot, cmdline: str, body: str = WITH_FSCK, **env: str) -> tuple[str, Path]:
    """Run rr_premount with init's exported boot variables; return its stdout and param.conf."""
    boot.cmdline = cmdline
    param = boot.tmp / "param.conf"
    variables = {"readonly": "y", "fastboot": "n", "forcefsck": "n", "fsckfix": "", **env}
    result = boot.run(f'{body}RR_PARAM_CONF="{param}"; rr_premount', **variables)
    assert result.returncode == 0, result.stderr
    return result.stdout, param


def init_sees(param: Path, **env: str) -> dict[str, str]:
    """What initramfs-tools' init has after it sources param.conf, as after every script."""
    script = f'. "{param}"; printf "%s|%s|%s" "$readonly" "$fastboot" "$ROOTFLAGS"'
    proc = subprocess.run(
        ["dash", "-c", script], env=env, capture_output=True, text=True, check=True
    )
    readonly, fastboot, rootflags = proc.stdout.split("|")
    return {"readonly": readonly, "fastboot": fastboot, "ROOTFLAGS": rootflags}


def test_rw_on_the_command_line_mounts_the_root_read_only_and_skips_fsck(boot: Boot) -> None:
    out, param = premount(
        boot,
        "console=tty0 root=/dev/mmcblk0p2 rw fsck.repair=yes rootwait",
        readonly="n",
        fsckfix="y",
    )
    assert init_sees(param, readonly="n", fastboot="n", ROOTFLAGS="") == {
        "readonly": "y",
        "fastboot": "y",
        "ROOTFLAGS": "",
    }
    assert (boot.tmp / "run" / "premount").read_text() == "overridden=rw fsck\n"
    log = (boot.tmp / "run" / "log").read_text()
    assert "the kernel command line says 'rw': mounting the root read-only instead" in log
    assert "skipping the initramfs's check of the root file system (fsck.repair=yes" in log
    assert "ro-root: the kernel command line says 'rw'" in out


def test_rootflags_rw_cannot_undo_the_read_only_mount(boot: Boot) -> None:
    _, param = premount(boot, "root=/dev/vda rootflags=rw", readonly="y")
    assert init_sees(param, ROOTFLAGS="-o rw")["ROOTFLAGS"] == "-o rw,ro"


def test_hostile_rootflags_are_not_written_into_param_conf(boot: Boot) -> None:
    _, param = premount(boot, "root=/dev/vda")
    text = param.read_text()
    assert "$(" not in text.replace("${ROOTFLAGS", "")
    hostile = '-o "; touch /pwned; "$(touch /pwned)'
    seen = init_sees(param, ROOTFLAGS=hostile)
    assert seen["ROOTFLAGS"] == hostile + ",ro"


def test_default_ro_boot_without_fsck_overrides_nothing(boot: Boot) -> None:
    out, param = premount(boot, "root=/dev/vda ro quiet", body="")
    assert init_sees(param)["readonly"] == "y"
    assert init_sees(param)["fastboot"] == ""
    assert (boot.tmp / "run" / "premount").read_text() == "overridden=\n"
    assert out == ""


def test_already_fastboot_is_not_reported_as_overridden(boot: Boot) -> None:
    premount(boot, "root=/dev/vda ro fastboot", fastboot="y")
    assert (boot.tmp / "run" / "premount").read_text() == "overridden=\n"


@pytest.mark.parametrize(
    "words", ["ro-root=disabled rw", "rw single", "rw systemd.unit=rescue.target"]
)
def test_a_command_line_that_turns_ro_root_off_keeps_its_meaning(boot: Boot, words: str) -> None:
    out, param = premount(boot, f"root=/dev/vda {words}", readonly="n")
    assert not param.exists()
    assert not (boot.tmp / "run" / "premount").exists()
    assert out == ""


def test_premount_leaves_command_line_warnings_to_init_bottom(boot: Boot) -> None:
    out, _ = premount(boot, "root=/dev/vda ro-root=bogus ro-root.size=x")
    assert "warning" not in out
    assert "warning" not in (boot.tmp / "run" / "log").read_text()


def test_premount_that_cannot_write_param_conf_warns(boot: Boot) -> None:
    boot.cmdline = "root=/dev/vda rw"
    result = boot.run(f'RR_PARAM_CONF="{boot.tmp}/missing/param.conf"; rr_premount', readonly="n")
    assert "ro-root: warning: could not write" in result.stdout


# --- init-bottom: what the boot did to the medium ----------------------------------------------


def settings(boot: Boot) -> dict[str, str]:
    text = (boot.tmp / "run" / "settings").read_text()
    return dict(line.split("=", 1) for line in text.splitlines())


def test_boot_after_premount_records_the_overrides_and_an_untouched_medium(boot: Boot) -> None:
    premount(boot, "root=/dev/vda rw fsck.repair=yes", readonly="n", fsckfix="y")
    result = boot.run()
    assert result.state == "active"
    recorded = settings(boot)
    assert recorded["overridden"] == "rw fsck"
    assert recorded["medium"] == "untouched"
    # rr_main appends to the log that rr_premount started.
    assert "mounting the root read-only instead" in result.log
    assert "warning" not in result.log


def test_root_mounted_read_write_by_the_initramfs_is_reported(boot: Boot) -> None:
    boot.mounts = f"/dev/vda {boot.rootmnt} ext4 rw,relatime 0 0\n"
    result = boot.run()
    assert result.state == "active"
    assert settings(boot)["medium"] == "mounted-rw"
    assert "ro-root: warning: the initramfs mounted the root read-write" in result.stdout


@pytest.mark.parametrize(
    ("line", "medium"),
    [
        ("EXT4-fs (vda): recovery complete", "journal-replayed"),
        ("EXT4-fs (vda): orphan cleanup on readonly fs", "journal-replayed"),
        # Another device's replay is not the root's.
        ("EXT4-fs (vdb): recovery complete", "untouched"),
    ],
)
def test_journal_replay_at_mount_is_reported(boot: Boot, line: str, medium: str) -> None:
    result = boot.run(f"dmesg() {{ printf '%s\\n' '<6>[    2.1] {line}'; }}; rr_main")
    assert result.state == "active"
    assert settings(boot)["medium"] == medium
    warned = "ro-root: warning: the kernel replayed the root file system's journal"
    assert (warned in result.stdout) == (medium == "journal-replayed")


def test_skipped_boot_records_a_writable_medium(boot: Boot) -> None:
    boot.cmdline = "root=/dev/vda ro ro-root=disabled"
    result = boot.run()
    assert result.state == "skipped"
    assert settings(boot)["medium"] == "writable"


# --- dracut: rr_premount_systemd, run as a systemd generator in the initrd ------------------


def generator(boot: Boot, cmdline: str) -> tuple[str, Path]:
    """Run rr_premount_systemd with a generator output directory; return stdout and it."""
    boot.cmdline = cmdline
    out = boot.tmp / "generator"
    result = boot.run(f'rr_premount_systemd "{out}"')
    assert result.returncode == 0, result.stderr
    return result.stdout, out


def test_dracut_rw_and_rootflags_still_mount_the_root_read_only_without_fsck(boot: Boot) -> None:
    out, gen = generator(boot, "root=/dev/vda rw rootflags=rw,data=journal fsck.mode=force")
    mount = (gen / "sysroot.mount.d" / "50-ro-root.conf").read_text()
    # The options systemd-fstab-generator would use, then ro: the last of ro and rw wins.
    assert "[Mount]\nOptions=rw,data=journal,ro\n" in mount
    for unit in ("systemd-fsck-root.service", "systemd-fsck@.service"):
        text = (gen / f"{unit}.d" / "50-ro-root.conf").read_text()
        assert f"[Unit]\nConditionPathExists=!{boot.tmp / 'run' / 'premount'}\n" in text
    assert (boot.tmp / "run" / "premount").read_text() == "overridden=rw fsck\n"
    log = (boot.tmp / "run" / "log").read_text()
    assert "the kernel command line says 'rw': mounting the root read-only instead" in log
    assert "(forced on the kernel command line)" in log
    assert "ro-root: the kernel command line says 'rw'" in out


def test_dracut_a_percent_in_rootflags_is_not_a_unit_specifier(boot: Boot) -> None:
    _, gen = generator(boot, "root=/dev/vda ro rootflags=context=x%y")
    mount = (gen / "sysroot.mount.d" / "50-ro-root.conf").read_text()
    assert "Options=context=x%%y,ro\n" in mount
    assert (boot.tmp / "run" / "premount").read_text() == "overridden=fsck\n"


@pytest.mark.parametrize("word", ["ro-root=disabled", "single", "systemd.unit=rescue.target"])
def test_dracut_a_boot_without_ro_root_is_left_as_the_command_line_says(
    boot: Boot, word: str
) -> None:
    _, gen = generator(boot, f"root=/dev/vda rw {word}")
    assert not gen.exists()
    assert not (boot.tmp / "run" / "premount").exists()
