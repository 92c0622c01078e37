"""Running a program until a condition comes true: the test bed's kill at a chosen moment
(a power cut, an upgrade interrupted in its postinst, a guest that went silent).

Everything else runs through the builder's one wrapper, `ro_root.proc.run()`; this builds on
its logging and error helpers.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ro_root.errors import die
from ro_root.proc import Arg, checked, command, environment

# How often run_until() asks its condition.
UNTIL_POLL = 0.2


class Stopped(subprocess.CompletedProcess[str]):
    """What run_until() returns when the condition came true and it killed the program:
    returncode is -SIGKILL, stdout and stderr what was captured until then."""


def run_until(
    argv: Sequence[Arg],
    until: Callable[[], bool],
    *,
    check: bool = True,
    capture: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input: str | None = None,
    timeout: float | None = None,
    poll: float = UNTIL_POLL,
) -> subprocess.CompletedProcess[str]:
    """ro_root.proc.run(), and UNTIL asked every POLL seconds while the program runs.

    Once UNTIL returns true the program and everything it started (its own session and
    process group) get SIGKILL, and run_until() returns a Stopped result, which CHECK does not
    turn into an error: a power cut, or a kill at a chosen moment. A program that ends first
    is an ordinary result, checked as run() checks it.
    """
    cmd = command(argv)
    proc = _run_until(cmd, until, poll, capture, environment(env), cwd, input, timeout)
    if isinstance(proc, Stopped):
        return proc
    return checked(proc, check=check, capture=capture)


def _run_until(
    cmd: list[str],
    until: Callable[[], bool],
    poll: float,
    capture: bool,
    env: dict[str, str] | None,
    cwd: Path | None,
    input: str | None,
    timeout: float | None,
) -> subprocess.CompletedProcess[str]:
    """The program in a session of its own, so that a kill reaches all of it."""
    pipe = subprocess.PIPE if capture else None
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        proc = subprocess.Popen(
            cmd,
            text=True,
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE if input is not None else None,
            stdout=pipe,
            stderr=pipe,
            start_new_session=True,
        )
    except FileNotFoundError:
        die(f"{cmd[0]}: command not found")
    first = True
    try:
        while True:
            try:
                # communicate() may be called again after a timeout without losing output.
                stdout, stderr = proc.communicate(input if first else None, timeout=poll)
                return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
            except subprocess.TimeoutExpired:
                first = False
            stop = until()
            if stop or (deadline is not None and time.monotonic() > deadline):
                _kill_group(proc)
                stdout, stderr = proc.communicate()
                if not stop:
                    die(f"timed out after {timeout} s: {shlex.join(cmd)}")
                return Stopped(cmd, proc.returncode, stdout, stderr)
    finally:
        # Whatever went wrong (the condition raised, ^C), nothing is left running.
        if proc.poll() is None:
            _kill_group(proc)
            proc.wait()


def _kill_group(proc: subprocess.Popen[str]) -> None:
    # ProcessLookupError: it ended just now, and its group with it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
