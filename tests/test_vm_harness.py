"""The VM harness's own logic, without qemu: what boot() does with each kind of serial log."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from ro_root import vm
from ro_root.errors import UserError

EARLY = "[    1.15] clocksource: Switched to clocksource hpet\n"
HANDOFF = EARLY + f"[    6.35] {vm.KERNEL_HANDOFF}\nLoading, please wait...\n"
PROBED = HANDOFF + f"{vm.PROBE_BEGIN}\nrorootstate=active\n{vm.PROBE_END}\n"


def fake_image(tmp_path: Path) -> vm.Image:
    kernel = vm.Kernel("6.1.0-1-amd64", tmp_path / "vmlinuz", tmp_path / "initrd.img", frozenset())
    return vm.Image(vm.ImageSpec(), tmp_path, tmp_path / "disk.img", (), (kernel,), False)


def fake_qemu(monkeypatch: pytest.MonkeyPatch, logs: Sequence[str]) -> list[list[str]]:
    """qemu that writes LOGS[n] to the serial file on its n-th run: "hang|TEXT" then times
    out (run() raises), "ok|TEXT" powers off (exit 0)."""
    calls: list[list[str]] = []
    texts = iter(logs)

    def run(argv: Sequence[object], **kwargs: object) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in argv]
        calls.append(cmd)
        serial = Path(cmd[cmd.index("-serial") + 1].removeprefix("file:"))
        hang, _, body = next(texts).partition("|")
        serial.write_text(body)
        if hang == "hang":
            raise UserError("timed out after 300.0 s: qemu-system-x86_64 ...")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(vm, "run", run)
    monkeypatch.setattr(vm, "require", lambda *a: None)
    return calls


def boot(tmp_path: Path) -> Callable[[], vm.BootResult]:
    return lambda: vm.boot(fake_image(tmp_path), expect="active")


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
    calls = fake_qemu(monkeypatch, [f"hang|{EARLY}"] * vm.KERNEL_STALL_ATTEMPTS)
    with pytest.raises(UserError, match="no complete probe report"):
        boot(tmp_path)()
    assert len(calls) == vm.KERNEL_STALL_ATTEMPTS


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
