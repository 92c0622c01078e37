"""The VM harness's own logic, without qemu: what boot() does with each kind of serial log,
and run(until=...), the kill at a chosen moment that boot(cut_at=...) makes a power cut of."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from ro_root import proc, vm
from ro_root.errors import UserError

EARLY = "[    1.15] clocksource: Switched to clocksource hpet\n"
HANDOFF = EARLY + f"[    6.35] {vm.KERNEL_HANDOFF}\nLoading, please wait...\n"
PROBED = HANDOFF + f"{vm.PROBE_BEGIN}\nrorootstate=active\n{vm.PROBE_END}\n"


def fake_image(tmp_path: Path) -> vm.Image:
    kernel = vm.Kernel("6.1.0-1-amd64", tmp_path / "vmlinuz", tmp_path / "initrd.img", frozenset())
    return vm.Image(vm.ImageSpec(), tmp_path, tmp_path / "disk.img", (), (kernel,), False)


def fake_qemu(monkeypatch: pytest.MonkeyPatch, logs: Sequence[str]) -> list[list[str]]:
    """qemu that writes LOGS[n] to the serial file on its n-th run: "hang|TEXT" then times
    out (run() raises), "ok|TEXT" powers off (exit 0); with run(until=...) it is killed
    (a Stopped result) if the condition is true once TEXT is written."""
    calls: list[list[str]] = []
    texts = iter(logs)

    def run(argv: Sequence[object], **kwargs: object) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in argv]
        calls.append(cmd)
        serial = Path(cmd[cmd.index("-serial") + 1].removeprefix("file:"))
        hang, _, body = next(texts).partition("|")
        serial.write_text(body)
        until = kwargs.get("until")
        if callable(until) and until():
            return proc.Stopped(cmd, -9, "", "")
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


# --- power cuts: boot(cut_at=...) ------------------------------------------------------------

CUE = "RO-ROOT-TEST-CUT-NOW"
CUT = HANDOFF + f"rorootest: writing\n{CUE}\nrorootest: still writing\n"


def test_a_power_cut_kills_qemu_when_the_cue_appears_and_has_no_facts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_qemu(monkeypatch, [f"hang|{CUT}"])
    result = vm.boot(fake_image(tmp_path), ("rorootest.task=x",), cut_at=CUE)
    assert len(calls) == 1
    assert result.power_cut and result.facts == {}
    assert CUE in result.log


def test_a_boot_that_never_shows_the_cue_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_qemu(monkeypatch, [f"ok|{PROBED}"])
    with pytest.raises(UserError, match="expected a power cut"):
        vm.boot(fake_image(tmp_path), cut_at=CUE)


def test_a_kernel_stall_before_a_power_cut_is_booted_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_qemu(monkeypatch, [f"hang|{EARLY}", f"hang|{CUT}"])
    result = vm.boot(fake_image(tmp_path), cut_at=CUE)
    assert len(calls) == 2 and result.power_cut


def test_a_power_cut_cannot_promise_an_outcome(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no facts"):
        vm.boot(fake_image(tmp_path), expect="active", cut_at=CUE)


# --- run(until=...), with real processes -----------------------------------------------------


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
    result = proc.run(["sh", "-c", script], capture=True, until=pid_file.exists, poll=0.05)
    assert isinstance(result, proc.Stopped)
    assert result.returncode == -9
    assert time.monotonic() - started < 10
    assert gone(int(pid_file.read_text()))


def test_run_until_is_an_ordinary_run_when_the_program_ends_first() -> None:
    result = proc.run(["sh", "-c", "echo out; echo err >&2"], capture=True, until=lambda: False)
    assert not isinstance(result, proc.Stopped)
    assert (result.returncode, result.stdout, result.stderr) == (0, "out\n", "err\n")
    with pytest.raises(UserError, match="exit status 3"):
        proc.run(["sh", "-c", "exit 3"], until=lambda: False)


def test_run_until_passes_input_and_still_times_out() -> None:
    result = proc.run(["cat"], capture=True, input="data\n", until=lambda: False, poll=0.05)
    assert result.stdout == "data\n"
    with pytest.raises(UserError, match=r"timed out after 0\.3 s"):
        proc.run(["sleep", "30"], until=lambda: False, timeout=0.3, poll=0.05)
