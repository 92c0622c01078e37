"""What several test modules do with the source tree: copy it, bump its version, build it."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from testbed import images

REPO = Path(__file__).resolve().parent.parent
# What the builder reads.
SOURCE_TREE = (
    "build.py",
    "ro_root",
    "debian",
    "hooks",
    "scripts",
    "dracut",
    "sbin",
    "lib",
    "libexec",
)


def copy_source(dest: Path) -> Path:
    """Copy what the builder reads to DEST (created), for variant trees."""
    dest.mkdir(parents=True)
    for name in SOURCE_TREE:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def add_changelog_entry(
    tree: Path, version: str, author: str = "ro-root developers <ro-root@lists.example.org>"
) -> None:
    changelog = tree / "debian/changelog"
    entry = (
        f"ro-root ({version}) unstable; urgency=medium\n\n  * Test entry.\n\n"
        f" -- {author}  Wed, 25 Nov 2026 10:00:00 +0000\n\n"
    )
    changelog.write_text(entry + changelog.read_text())


def run_build(
    tree: Path, *args: str, env: Mapping[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run TREE/build.py ARGS as a user would."""
    return subprocess.run(
        [*prefix, sys.executable, str(tree / "build.py"), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


def build_deb(out: Path, tree: Path = REPO) -> Path:
    """Build the package from TREE into OUT (lintian is a test of its own); return its path."""
    proc = run_build(tree, "deb", "--no-lintian", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """A real HTTP server for DIRECTORY on 127.0.0.1 (a free port); yields its base URL.

    Chroots share the host's network namespace, so apt inside them reaches it too.
    """

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def publish(
    repo: Path, gnupghome: Path, url: str, *debs: Path, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """python3 build.py repo --out REPO --url URL --gnupghome GNUPGHOME ... DEBS."""
    args = ["repo", "--out", str(repo), "--url", url, "--gnupghome", str(gnupghome), *extra]
    return run_build(REPO, *args, *(str(d) for d in debs))


# --- Debian 12 roots for the chroot tests ----------------------------------------------------

TEST_MACHINE_ID = "0123456789abcdef0123456789abcdef\n"


def unpack_test_root(tree: Path, *, machine_id: bool = False) -> None:
    """Make TREE (an empty directory) a Debian 12 minbase root for chroot tests: the cached
    base tarball, the host's resolv.conf, no service starts, fast initrds (MODULES=list) and,
    if MACHINE_ID, the machine ID of a system that has been booted once."""
    if os.geteuid() != 0:
        pytest.fail("chroot tests need root: run make check as root")
    for program in ("mmdebstrap", "tar"):
        if shutil.which(program) is None:
            pytest.fail(f"{program} is not installed (make check installs it)")
    tarball = images.base_tarball(images.ImageSpec())
    subprocess.run(["tar", "-C", str(tree), "--numeric-owner", "-xpf", str(tarball)], check=True)
    shutil.copyfile("/etc/resolv.conf", tree / "etc/resolv.conf")
    (tree / "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
    (tree / "usr/sbin/policy-rc.d").chmod(0o755)
    (tree / "etc/initramfs-tools/conf.d/test-fast").write_text("MODULES=list\n")
    if machine_id:
        (tree / "etc/machine-id").write_text(TEST_MACHINE_ID)


def chroot_sh(
    root: Path,
    script: str,
    *,
    check: bool = True,
    frontend: str = "noninteractive",
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run SCRIPT with sh -e chrooted into ROOT; with CHECK, fail unless it exits 0."""
    proc = subprocess.run(
        ["chroot", str(root), "/bin/sh", "-ec", script],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        env={
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "DEBIAN_FRONTEND": frontend,
            "LC_ALL": "C",
        },
        timeout=timeout,
    )
    if check:
        assert proc.returncode == 0, f"{script}\n{proc.stdout}\n{proc.stderr}"
    return proc


def assert_one_error_line(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    """build.py failed with exactly one line, `build.py: error: ...` naming WORDS, and
    printed nothing on standard output."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("build.py: error: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    assert proc.stdout == ""
