"""The one place where the builder runs other programs."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ro_root.errors import die

log = logging.getLogger("ro-root")

Arg = str | os.PathLike[str]
# How often run(until=...) asks its condition.
UNTIL_POLL = 0.2


class Stopped(subprocess.CompletedProcess[str]):
    """What run(until=...) returns when the condition came true and it killed the program:
    returncode is -SIGKILL, stdout and stderr what was captured until then."""


def require(program: str, package: str) -> str:
    """Return the path of PROGRAM or stop with a hint naming the Debian package that has it."""
    path = shutil.which(program)
    if path is None:
        die(f"{program} not found", hint=f"install it with: apt-get install {package}")
    return path


def run(
    argv: Sequence[Arg],
    *,
    check: bool = True,
    capture: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input: str | None = None,
    timeout: float | None = None,
    until: Callable[[], bool] | None = None,
    poll: float = UNTIL_POLL,
) -> subprocess.CompletedProcess[str]:
    """Run ARGV (never through a shell).

    On failure with check=True the exact command line and the tail of its output become one
    user error line; the full output is logged at debug level.

    UNTIL, if given, is asked every POLL seconds while the program runs; once it returns true
    the program and everything it started (its own session and process group) get SIGKILL,
    and run() returns a Stopped result, which CHECK does not turn into an error: a power
    cut, or a kill at a chosen moment. A program that ends first is an ordinary result.
    """
    cmd = [os.fspath(a) for a in argv]
    log.debug("+ %s", shlex.join(cmd))
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    if until is not None:
        proc = _run_until(cmd, until, poll, capture, full_env, cwd, input, timeout)
        if isinstance(proc, Stopped):
            log.debug("killed when its condition came true: %s", shlex.join(cmd))
            return proc
    else:
        proc = _run(cmd, capture, full_env, cwd, input, timeout)
    if check and proc.returncode != 0:
        detail = ""
        if capture:
            log.debug("stdout:\n%s\nstderr:\n%s", proc.stdout, proc.stderr)
            lines = (proc.stderr or proc.stdout or "").strip().splitlines()
            if lines:
                detail = f": {lines[-1]}"
        die(f"command failed with exit status {proc.returncode}: {shlex.join(cmd)}{detail}")
    return proc


def _run(
    cmd: list[str],
    capture: bool,
    env: dict[str, str] | None,
    cwd: Path | None,
    input: str | None,
    timeout: float | None,
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            cmd,
            check=False,
            text=True,
            env=env,
            cwd=cwd,
            input=input,
            timeout=timeout,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
        )
    except FileNotFoundError:
        die(f"{cmd[0]}: command not found")
    except subprocess.TimeoutExpired:
        die(f"timed out after {timeout} s: {shlex.join(cmd)}")
    return proc


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
    """run() with UNTIL: the program in a session of its own, so that a kill reaches all of it."""
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
