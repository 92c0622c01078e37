"""Linters as tests: shellcheck (dash) over everything that runs as sh, ruff, mypy, lintian.

A missing tool is a failure, not a skip: `make check` installs them all.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import build_deb

REPO = Path(__file__).resolve().parent.parent

SHELL_FILES = (
    "hooks/ro-root",
    "scripts/init-bottom/ro-root",
    "scripts/local-premount/ro-root",
    "lib/common.sh",
    "lib/settings.sh",
    "lib/record.sh",
    "lib/boot.sh",
    "lib/command.sh",
    "lib/window.sh",
    "lib/changes.sh",
    "lib/status.sh",
    "lib/guard.sh",
    "lib/initrd.sh",
    "dracut/90ro-root/module-setup.sh",
    "dracut/90ro-root/ro-root-generator.sh",
    "dracut/90ro-root/ro-root-pre-pivot.sh",
    "libexec/checkroot.sh",
    "libexec/apt-guard.sh",
    "libexec/motd.sh",
    "sbin/ro-root",
    "tests/shlib/stubs.sh",
    "testbed/vmfiles/customize.sh",
    "testbed/vmfiles/policy-rc.d",
    "testbed/vmfiles/rc.local",
    "testbed/vmfiles/ro-root-probe",
    "testbed/vmfiles/raspi/initramfs.sh",
    "testbed/vmfiles/raspi/customize.sh",
    "bench/hook-timer",
    "bench/timers/init-bottom-timer",
    "bench/timers/initrd-hook",
    "bench/timers/dracut/module-setup.sh",
    "bench/timers/dracut/0rrbench-t0.sh",
    "bench/timers/dracut/rrbench-t1.sh",
)


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (make check installs it)")
    return path


def run(argv: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_deb(tmp_path_factory.mktemp("dist"))


def test_every_shell_payload_file_is_listed_here() -> None:
    # A new hook or script must not escape shellcheck by not being listed.
    found = {
        p.relative_to(REPO).as_posix()
        for d in ("hooks", "scripts", "dracut", "sbin", "lib", "libexec", "bench")
        for p in (REPO / d).rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc")
    }
    assert found <= set(SHELL_FILES)


def test_shellcheck_dash_payload() -> None:
    proc = run([tool("shellcheck"), "-s", "dash", "-x", *SHELL_FILES])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shellcheck_dash_rendered_maintainer_scripts(deb: Path, tmp_path: Path) -> None:
    subprocess.run(["dpkg-deb", "-e", str(deb), str(tmp_path / "DEBIAN")], check=True)
    names = ("config", "preinst", "postinst", "prerm", "postrm")
    scripts = [str(tmp_path / "DEBIAN" / n) for n in names]
    proc = run([tool("shellcheck"), "-s", "dash", *scripts])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lintian_pedantic_has_no_error_or_warning(deb: Path) -> None:
    proc = run(
        [tool("lintian"), "-i", "-I", "-E", "--pedantic", "--fail-on", "error,warning", str(deb)]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tags = [line for line in proc.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert tags == []


def test_ruff() -> None:
    proc = run([sys.executable, "-m", "ruff", "check", "."])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run([sys.executable, "-m", "ruff", "format", "--check", "."])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy() -> None:
    proc = run([sys.executable, "-m", "mypy"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
