"""The one place where the builder runs other programs."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from ro_root.errors import die

log = logging.getLogger("ro-root")

Arg = str | os.PathLike[str]


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
) -> subprocess.CompletedProcess[str]:
    """Run ARGV (never through a shell).

    On failure with check=True the exact command line and the tail of its output become one
    user error line; the full output is logged at debug level.
    """
    cmd = command(argv)
    proc = _run(cmd, capture, environment(env), cwd, input, timeout)
    return checked(proc, check=check, capture=capture)


def command(argv: Sequence[Arg]) -> list[str]:
    """ARGV as strings, logged at debug level as the shell line that would run it."""
    cmd = [os.fspath(a) for a in argv]
    log.debug("+ %s", shlex.join(cmd))
    return cmd


def environment(env: Mapping[str, str] | None) -> dict[str, str] | None:
    """This process's environment with ENV on top; None (inherit it) without ENV."""
    if env is None:
        return None
    return {**os.environ, **env}


def checked(
    proc: subprocess.CompletedProcess[str], *, check: bool, capture: bool
) -> subprocess.CompletedProcess[str]:
    """PROC, or with CHECK a user error naming the command if it failed (see run())."""
    if check and proc.returncode != 0:
        detail = ""
        if capture:
            log.debug("stdout:\n%s\nstderr:\n%s", proc.stdout, proc.stderr)
            lines = (proc.stderr or proc.stdout or "").strip().splitlines()
            if lines:
                detail = f": {lines[-1]}"
        cmd = shlex.join(str(a) for a in proc.args)
        die(f"command failed with exit status {proc.returncode}: {cmd}{detail}")
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
