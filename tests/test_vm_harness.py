"""The test bed's own logic, without qemu: what boot() does with each kind of serial log,
and run_until(), the kill at a chosen moment that boot(cut_at=...) makes a power cut of."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from ro_root.errors import UserError
from testbed import images, proc, qemu, raspi
from testbed.images import DIGEST_CHUNK

EARLY = "[    1.15] clocksource: Switched to clocksource hpet\n"
HANDOFF = EARLY + f"[    6.35] {qemu.KERNEL_HANDOFF}\nLoading, please wait...\n"
PROBED = HANDOFF + f"{qemu.PROBE_BEGIN}\nrorootstate=active\n{qemu.PROBE_END}\n"


def fake_image(tmp_path: Path) -> images.Image:
    kernel = images.Kernel(
        "6.1.0-1-amd64", tmp_path / "vmlinuz", tmp_path / "initrd.img", frozenset()
    )
    return images.Image(images.ImageSpec(), tmp_path, tmp_path / "disk.img", (), (kernel,), False)


def fake_qemu(monkeypatch: pytest.MonkeyPatch, logs: Sequence[str]) -> list[list[str]]:
    """qemu that writes LOGS[n] to the serial file on its n-th run: "hang|TEXT" then times
    out (run_until() raises), "ok|TEXT" powers off (exit 0); it is killed (a Stopped
    result) if run_until()'s condition is true once TEXT is written."""
    calls: list[list[str]] = []
    texts = iter(logs)

    def run_until(
        argv: Sequence[object], until: Callable[[], bool], **kwargs: object
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in argv]
        calls.append(cmd)
        serial = Path(cmd[cmd.index("-serial") + 1].removeprefix("file:"))
        hang, _, body = next(texts).partition("|")
        serial.write_text(body)
        # Asked twice, as run_until() asks it while qemu runs: a silence shows on the second.
        if until() or until():
            return proc.Stopped(cmd, -9, "", "")
        if hang == "hang":
            raise UserError("timed out after 300.0 s: qemu-system-x86_64 ...")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(qemu, "run_until", run_until)
    monkeypatch.setattr(qemu, "require", lambda *a: None)
    return calls


def boot(tmp_path: Path) -> Callable[[], qemu.BootResult]:
    return lambda: qemu.boot(fake_image(tmp_path), expect="active")


def test_a_kernel_stall_before_init_is_booted_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_qemu(monkeypatch, [f"hang|{EARLY}", f"ok|{PROBED}"])
    result = boot(tmp_path)()
    assert len(calls) == 2
    assert result.facts == {"rorootstate": "active"}
    assert result.log_path.name == "boot-01-expect-active.log"
    stalled = tmp_path / "stalled-1-boot-01-expect-active.log"
    assert stalled.read_text() == EARLY


def test_a_kernel_that_stalls_every_time_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_qemu(monkeypatch, [f"hang|{EARLY}"] * qemu.KERNEL_STALL_ATTEMPTS)
    with pytest.raises(UserError, match="no complete probe report"):
        boot(tmp_path)()
    assert len(calls) == qemu.KERNEL_STALL_ATTEMPTS


def test_a_hang_after_the_initramfs_started_is_never_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From /init on, ro-root's code runs: a hang there is a finding, not noise."""
    calls = fake_qemu(monkeypatch, [f"hang|{HANDOFF}", f"ok|{PROBED}"])
    with pytest.raises(UserError, match="no complete probe report"):
        boot(tmp_path)()
    assert len(calls) == 1


def test_an_early_exit_without_a_hang_is_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_qemu(monkeypatch, [f"ok|{EARLY}", f"ok|{PROBED}"])
    with pytest.raises(UserError, match="no complete probe report"):
        boot(tmp_path)()
    assert len(calls) == 1


PANIC = EARLY + "[    0.04] Kernel panic - not syncing: IO-APIC + timer doesn't work!\n"


def test_a_kernel_panic_before_init_is_booted_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_qemu(monkeypatch, [f"ok|{PANIC}", f"ok|{PROBED}"])
    result = boot(tmp_path)()
    assert len(calls) == 2
    assert result.facts == {"rorootstate": "active"}
    assert (tmp_path / "stalled-1-boot-01-expect-active.log").read_text() == PANIC


def test_a_kernel_panic_after_init_started_is_never_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From /init on, a panic may be ro-root's (or the outcome a panic policy expects)."""
    late = HANDOFF + "Kernel panic - not syncing: Attempted to kill init!\n"
    calls = fake_qemu(monkeypatch, [f"ok|{late}", f"ok|{PROBED}"])
    with pytest.raises(UserError, match="no complete probe report"):
        boot(tmp_path)()
    assert len(calls) == 1


def test_a_kernel_silent_before_init_is_killed_and_booted_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stall is recognised by its silence, not by the boot's whole timeout."""
    monkeypatch.setattr(qemu, "STALL_SILENCE", 0.0)
    calls = fake_qemu(monkeypatch, [f"hang|{EARLY}", f"ok|{PROBED}"])
    result = boot(tmp_path)()
    assert len(calls) == 2
    assert result.facts == {"rorootstate": "active"}
    assert (tmp_path / "stalled-1-boot-01-expect-active.log").read_text() == EARLY


def test_a_kernel_silent_every_time_fails_naming_the_silence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qemu, "STALL_SILENCE", 0.0)
    calls = fake_qemu(monkeypatch, [f"hang|{EARLY}"] * qemu.KERNEL_STALL_ATTEMPTS)
    with pytest.raises(UserError, match="no console output for 0 s before /init"):
        boot(tmp_path)()
    assert len(calls) == qemu.KERNEL_STALL_ATTEMPTS


def test_silence_after_the_handoff_is_never_cut_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From /init on, a quiet guest may be working (an initrd rebuilt in the guest)."""
    monkeypatch.setattr(qemu, "STALL_SILENCE", 0.0)
    calls = fake_qemu(monkeypatch, [f"ok|{PROBED}"])
    assert boot(tmp_path)().facts == {"rorootstate": "active"}
    assert len(calls) == 1


def test_the_stall_watch_waits_for_the_silence(tmp_path: Path) -> None:
    log_path = tmp_path / "serial.log"
    log_path.write_text(EARLY)
    watch = qemu._Watch(log_path, None, silence=1.0)
    assert not watch()
    time.sleep(0.6)
    with log_path.open("a") as stream:  # the kernel printed a line: the clock starts again
        stream.write("[    2.00] more\n")
    assert not watch()
    time.sleep(0.6)
    assert not watch()
    time.sleep(0.6)
    assert watch() and watch.stalled and not watch.cut


# --- power cuts: boot(cut_at=...) ------------------------------------------------------------

CUE = "RO-ROOT-TEST-CUT-NOW"
CUT = HANDOFF + f"rorootest: writing\n{CUE}\nrorootest: still writing\n"


def test_a_power_cut_kills_qemu_when_the_cue_appears_and_has_no_facts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_qemu(monkeypatch, [f"hang|{CUT}"])
    result = qemu.boot(fake_image(tmp_path), ("rorootest.task=x",), cut_at=CUE)
    assert len(calls) == 1
    assert result.power_cut and result.facts == {}
    assert CUE in result.log


def test_a_boot_that_never_shows_the_cue_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_qemu(monkeypatch, [f"ok|{PROBED}"])
    with pytest.raises(UserError, match="expected a power cut"):
        qemu.boot(fake_image(tmp_path), cut_at=CUE)


def test_a_kernel_stall_before_a_power_cut_is_booted_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_qemu(monkeypatch, [f"hang|{EARLY}", f"hang|{CUT}"])
    result = qemu.boot(fake_image(tmp_path), cut_at=CUE)
    assert len(calls) == 2 and result.power_cut


def test_a_power_cut_cannot_promise_an_outcome(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no facts"):
        qemu.boot(fake_image(tmp_path), expect="active", cut_at=CUE)


# --- run_until(), with real processes -----------------------------------------------------


def gone(pid: int, within: float = 5.0) -> bool:
    """True once process PID has ended (and been reaped by whoever inherited it)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_run_until_kills_the_program_and_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! >{pid_file}; echo started; wait"
    started = time.monotonic()
    result = proc.run_until(["sh", "-c", script], pid_file.exists, capture=True, poll=0.05)
    assert isinstance(result, proc.Stopped)
    assert result.returncode == -9
    assert time.monotonic() - started < 10
    assert gone(int(pid_file.read_text()))


def test_run_until_is_an_ordinary_run_when_the_program_ends_first() -> None:
    result = proc.run_until(["sh", "-c", "echo out; echo err >&2"], lambda: False, capture=True)
    assert not isinstance(result, proc.Stopped)
    assert (result.returncode, result.stdout, result.stderr) == (0, "out\n", "err\n")
    with pytest.raises(UserError, match="exit status 3"):
        proc.run_until(["sh", "-c", "exit 3"], lambda: False)


def test_run_until_passes_input_and_still_times_out() -> None:
    result = proc.run_until(["cat"], lambda: False, capture=True, input="data\n", poll=0.05)
    assert result.stdout == "data\n"
    with pytest.raises(UserError, match=r"timed out after 0\.3 s"):
        proc.run_until(["sleep", "30"], lambda: False, timeout=0.3, poll=0.05)


# --- images.disk_digest(): the proof that a read-only boot wrote nothing ---------------------


def sparse_disk(path: Path) -> Path:
    """A 64 MiB sparse file with data at 1 MiB and at 40 MiB, holes elsewhere."""
    with path.open("wb") as stream:
        stream.truncate(64 * 1024 * 1024)
        stream.seek(1024 * 1024)
        stream.write(b"superblock" * 1000)
        stream.seek(40 * 1024 * 1024)
        stream.write(b"inode table" * 1000)
    return path


def rewrite(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as stream:
        stream.seek(offset)
        stream.write(data)


def test_disk_digest_is_stable_and_sees_any_change_of_content(tmp_path: Path) -> None:
    disk = sparse_disk(tmp_path / "disk.img")
    first = images.disk_digest(disk)
    assert images.disk_digest(disk) == first
    rewrite(disk, 40 * 1024 * 1024 + 5, b"X")  # one byte in a data extent
    assert images.disk_digest(disk) != first
    rewrite(disk, 40 * 1024 * 1024 + 5, b" ")  # put back: the same content again
    assert images.disk_digest(disk) == first
    rewrite(disk, 20 * 1024 * 1024, b"new file")  # in a hole
    assert images.disk_digest(disk) != first


def test_disk_digest_is_the_content_not_the_file_systems_map_of_it(tmp_path: Path) -> None:
    """Zeros written into a hole, or an unwritten (preallocated) extent read into the page
    cache, turn a hole into "data" for SEEK_DATA without changing a byte."""
    disk = sparse_disk(tmp_path / "disk.img")
    first = images.disk_digest(disk)
    rewrite(disk, 20 * 1024 * 1024, bytes(4096))
    assert images.disk_digest(disk) == first
    with disk.open("r+b") as stream:
        os.posix_fallocate(stream.fileno(), 30 * 1024 * 1024, 1024 * 1024)
    assert images.disk_digest(disk) == first
    other = sparse_disk(tmp_path / "other.img")
    rewrite(other, 1024 * 1024, bytes(DIGEST_CHUNK * 3))  # the first data, zeroed
    assert images.disk_digest(other) != first


def test_disk_digest_equals_for_equal_content_and_sees_a_changed_size(tmp_path: Path) -> None:
    disk = sparse_disk(tmp_path / "disk.img")
    dense = tmp_path / "dense.img"
    dense.write_bytes(disk.read_bytes())  # the same bytes, no holes
    assert images.disk_digest(dense) == images.disk_digest(disk)
    with dense.open("r+b") as stream:
        stream.truncate(65 * 1024 * 1024)
    assert images.disk_digest(dense) != images.disk_digest(disk)


def test_disk_digest_of_a_file_of_holes_only(tmp_path: Path) -> None:
    empty = tmp_path / "empty.img"
    with empty.open("wb") as stream:
        stream.truncate(8 * 1024 * 1024)
    assert images.disk_digest(empty) == images.disk_digest(empty)
    assert images.disk_digest(empty) != images.disk_digest(sparse_disk(tmp_path / "d.img"))


# --- the arm64 raspi images: what the test bed reads where a Pi's firmware would ------------

# What Debian's raspi-firmware writes (bookworm), abridged: sections for other boards too.
RASPI_CONFIG = """\
# Do not modify this file!
[pi4]
# Enable the audio output, I2C and SPI interfaces on the GPIO header.
dtparam=audio=on
max_framebuffers=2

[pi3]
kernel=vmlinuz-wrong-board

[all]
# Switch the CPU from ARMv7 into ARMv8 (aarch64) mode
arm_64bit=1

enable_uart=1
upstream_kernel=1

kernel=vmlinuz-6.1.0-41-arm64
# For details on the initramfs directive, see
# https://www.raspberrypi.com/documentation/computers/config_txt.html#initramfs
initramfs initrd.img-6.1.0-41-arm64
"""
RASPI_CMDLINE = (
    "console=tty0 root=/dev/mmcblk0p2 rw fsck.repair=yes net.ifnames=0 cma=64M rootwait\n"
)


def test_config_txt_names_the_kernel_and_initramfs_of_the_pi4_and_all_sections() -> None:
    assert raspi.parse_config(RASPI_CONFIG) == raspi.FirmwareConfig(
        kernel="vmlinuz-6.1.0-41-arm64", initramfs="initrd.img-6.1.0-41-arm64"
    )


def test_config_txt_last_setting_wins_and_followkernel_and_cmdline_are_read() -> None:
    text = "kernel=a\ninitramfs=b followkernel\n[none]\nkernel=x\n[all]\nkernel=c\ncmdline=c.txt\n"
    assert raspi.parse_config(text) == raspi.FirmwareConfig("c", "b", "c.txt")


@pytest.mark.parametrize(
    "text",
    [
        "kernel=vmlinuz\n",  # ro-root is in the initrd: none is an error
        "initramfs ../initrd.img\n",
        "[pi3]\ninitramfs initrd.img\n",  # only for another board
        "kernel=/boot/vmlinuz\ninitramfs initrd.img\n",
    ],
)
def test_config_txt_without_a_usable_initramfs_or_kernel_is_an_error(text: str) -> None:
    with pytest.raises(UserError):
        raspi.parse_config(text)


def test_cmdline_txt_moves_the_root_to_the_virt_disk_and_keeps_rw() -> None:
    assert raspi.boot_cmdline(RASPI_CMDLINE) == (
        "console=tty0",
        "root=/dev/vda2",
        "rw",
        "fsck.repair=yes",
        "net.ifnames=0",
        "cma=64M",
        "rootwait",
        "console=ttyAMA0",
        "panic=-1",
    )


def test_cmdline_txt_of_two_lines_is_an_error() -> None:
    with pytest.raises(UserError):
        raspi.boot_cmdline("root=/dev/mmcblk0p2\nrw\n")


def test_raspi_disk_has_the_firmware_files_on_fat_and_the_rest_on_the_root(
    tmp_path: Path,
) -> None:
    firmware = tmp_path / "tree" / "boot" / "firmware"
    (firmware / "overlays").mkdir(parents=True)
    (firmware / "config.txt").write_text(RASPI_CONFIG)
    (firmware / "cmdline.txt").write_text(RASPI_CMDLINE)
    kernel = os.urandom(200_000)
    (firmware / "vmlinuz-6.1.0-41-arm64").write_bytes(kernel)
    (firmware / "overlays" / "x.dtbo").write_bytes(b"x")
    (tmp_path / "tree" / "etc").mkdir()
    (tmp_path / "tree" / "etc" / "hostname").write_text("pi\n")
    disk = tmp_path / "disk.img"
    raspi.make_disk(tmp_path / "tree", disk, 1024**3)

    assert disk.stat().st_size == 1024**3
    assert raspi.firmware_offset(disk) == raspi.FIRMWARE_START
    assert raspi.list_files(disk) == {
        "config.txt", "cmdline.txt", "vmlinuz-6.1.0-41-arm64", "overlays/"
    }  # fmt: skip
    assert raspi.read_text(disk, "config.txt") == RASPI_CONFIG
    copied = raspi.copy_out(disk, "vmlinuz-6.1.0-41-arm64", tmp_path / "vmlinuz")
    assert copied.read_bytes() == kernel
    # The root's /boot/firmware is the empty mount point.
    assert list(firmware.iterdir()) == []
    # A file put there (as with a card reader) is seen, and replaced.
    raspi.write_file(disk, "ro-root.disable-once", b"1\n", tmp_path)
    raspi.write_file(disk, "ro-root.disable-once", b"", tmp_path)
    assert "ro-root.disable-once" in raspi.list_files(disk)
    assert raspi.read_text(disk, "ro-root.disable-once") == ""
    # The root file system is whole at its offset.
    fsck = subprocess.run(
        ["e2fsck", "-fn", f"{disk}?offset={raspi.ROOT_START}"], capture_output=True, text=True
    )
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def test_a_disk_whose_partition_1_is_not_fat_is_refused(tmp_path: Path) -> None:
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(4 * 1024 * 1024))
    subprocess.run(
        ["sfdisk", "-q", disk], input="label: dos\nstart=2048, type=83\n", text=True, check=True
    )
    with pytest.raises(UserError, match="not a FAT type"):
        raspi.firmware_offset(disk)


def test_the_raspi_spec_is_an_arm64_image_with_raspi_firmware_and_a_cache_of_its_own() -> None:
    spec = images.ImageSpec(raspi=True)
    argv = images.mmdebstrap_argv(spec, Path("OUT"))
    assert spec.arch == "arm64"
    assert "--arch=arm64" in argv
    assert "--components=main,non-free-firmware" in argv
    include = next(a for a in argv if a.startswith("--include="))
    assert "linux-image-arm64" in include and "raspi-firmware" in include
    # The raspi hook runs after the common one, whose fstab it replaces.
    hooks = [a for a in argv if a.startswith("--customize-hook=")]
    assert "vmfiles/customize.sh" in hooks[0] and "raspi/customize.sh" in hooks[1]
    assert images.cache_key(spec) != images.cache_key(images.ImageSpec())
    # The amd64 images' commands did not change: their cached tarballs stay valid.
    assert "--arch=arm64" not in images.mmdebstrap_argv(images.ImageSpec(), Path("OUT"))
    assert repr(images.ImageSpec()) == repr(spec)


def test_a_raspi_image_boots_on_the_arm_virt_machine(tmp_path: Path) -> None:
    image = dataclasses.replace(fake_image(tmp_path), spec=images.ImageSpec(raspi=True))
    argv = qemu.qemu_argv(image, "root=/dev/vda2 console=ttyAMA0", tmp_path / "serial")
    assert argv[:5] == ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72"]
    assert argv[argv.index("-append") + 1] == "root=/dev/vda2 console=ttyAMA0"


def test_foreign_arch_is_registered_once_from_qemu_user_static(tmp_path: Path) -> None:
    binfmt, conf = tmp_path / "binfmt", tmp_path / "conf"
    binfmt.mkdir()
    conf.mkdir()
    (binfmt / "register").write_text("")
    (conf / "qemu-aarch64.conf").write_text("# comment\n:qemu-aarch64:M::magic:mask:/x:OPF\n")
    # The entry, without the comment, goes to the kernel; a kernel that did not take it
    # (here: no kernel) is an error.
    with pytest.raises(UserError, match="did not create"):
        images.ensure_foreign_arch("arm64", binfmt, conf)
    assert (binfmt / "register").read_text() == ":qemu-aarch64:M::magic:mask:/x:OPF\n"
    # Registered and enabled: nothing more is done.
    (binfmt / "register").write_text("")
    (binfmt / "qemu-aarch64").write_text("enabled\ninterpreter /x\n")
    images.ensure_foreign_arch("arm64", binfmt, conf)
    assert (binfmt / "register").read_text() == ""
    (binfmt / "qemu-aarch64").write_text("disabled\n")
    with pytest.raises(UserError, match="disabled"):
        images.ensure_foreign_arch("arm64", binfmt, conf)


# --- UEFI images (issue 13) -------------------------------------------------------------------


def test_a_uefi_image_boots_from_its_disk_with_ovmf_never_with_kernel(tmp_path: Path) -> None:
    image = dataclasses.replace(fake_image(tmp_path), uefi_vars=tmp_path / "OVMF_VARS.fd")
    argv = qemu.qemu_argv(image, "ignored", tmp_path / "serial.log")
    assert "-kernel" not in argv and "-initrd" not in argv and "-append" not in argv
    pflash = [a for a in argv if a.startswith("if=pflash")]
    assert pflash == [
        f"if=pflash,format=raw,unit=0,readonly=on,file={images.OVMF_CODE}",
        f"if=pflash,format=raw,unit=1,file={tmp_path / 'OVMF_VARS.fd'}",
    ]


def test_a_uefi_image_takes_no_kernel_command_line(tmp_path: Path) -> None:
    image = dataclasses.replace(fake_image(tmp_path), uefi_vars=tmp_path / "OVMF_VARS.fd")
    with pytest.raises(UserError, match="GRUB's menu"):
        qemu.boot(image, ("ro-root=disabled",))


def test_the_uefi_fstab_is_the_installers_separate_boot_layout() -> None:
    lines = [ln.split() for ln in images.uefi_fstab("R", "B", "ABCD1234").splitlines()[1:]]
    assert lines == [
        ["UUID=R", "/", "ext4", "errors=remount-ro", "0", "1"],
        ["UUID=B", "/boot", "ext4", "defaults", "0", "2"],
        ["UUID=ABCD-1234", "/boot/efi", "vfat", "umask=0077", "0", "1"],
    ]
