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
from testbed import images, proc, qemu
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
