"""The maintainer scripts in a real Debian 12 root (chroot), where booting is not needed.

Two kernels, the checkroot.sh diversion with initscripts installed before or after ro-root,
reinstall, dpkg-reconfigure, upgrade and removal. The initramfs is built with MODULES=list
(no modules) to keep each rebuild to seconds: what is checked is which initrds carry the
payload, not whether they boot (the VM tests do that).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import add_changelog_entry, build_deb, chroot_sh, copy_source, unpack_test_root

from testbed import images

PAYLOAD = "usr/share/initramfs-tools/scripts/init-bottom/ro-root"  # as lsinitramfs lists it
HOOKED = "scripts/init-bottom/ro-root"
CHECKROOT = "/etc/init.d/checkroot.sh"
DIVERTED = "/etc/init.d/checkroot.sh.ro-root.orig"
FAKE_OLD_KERNEL = "6.1.0-0-amd64"  # sorts below any real bookworm kernel

pytestmark = pytest.mark.chroot


class Root:
    def __init__(self, path: Path) -> None:
        self.path = path

    def sh(self, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return chroot_sh(self.path, script, check=check)

    def kernels(self) -> list[str]:
        return self.sh("linux-version list | linux-version sort --reverse").stdout.split()

    def initrd_has_payload(self, version: str) -> bool:
        listing = self.sh(f"lsinitramfs /boot/initrd.img-{version}").stdout.splitlines()
        return HOOKED in listing

    def diversions(self) -> list[str]:
        out = self.sh("dpkg-divert --list").stdout.splitlines()
        return [line for line in out if "ro-root" in line]

    def file(self, path: str) -> Path:
        return self.path / path.lstrip("/")

    def conffile_md5(self, package: str, path: str) -> str:
        out = self.sh(f"dpkg-query -W -f='${{Conffiles}}' {package}").stdout
        for line in out.splitlines():
            fields = line.split()
            if fields and fields[0] == path:
                return fields[1]
        raise AssertionError(f"{path} is not a conffile of {package}:\n{out}")


def build(out: Path, version: str | None = None) -> Path:
    """The package as built from this tree, or with VERSION as its newest changelog entry."""
    if version is None:
        return build_deb(out)
    tree = copy_source(out / "src")
    add_changelog_entry(tree, version)
    return build_deb(out, tree)


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Root]:
    tree = tmp_path / "root"
    tree.mkdir()
    unpack_test_root(tree)
    with images.chroot_mounts(tree):
        chroot = Root(tree)
        # A second, older kernel: a copy of the real one under a lower version.
        (real,) = chroot.kernels()
        chroot.sh(
            f"cp /boot/vmlinuz-{real} /boot/vmlinuz-{FAKE_OLD_KERNEL}; "
            f"cp /boot/config-{real} /boot/config-{FAKE_OLD_KERNEL}; "
            f"cp -a /lib/modules/{real} /lib/modules/{FAKE_OLD_KERNEL}; "
            f"update-initramfs -u -k {real}; update-initramfs -c -k {FAKE_OLD_KERNEL}"
        )
        assert chroot.kernels() == [real, FAKE_OLD_KERNEL]
        yield chroot
    shutil.rmtree(tree)


def install(root: Root, deb: Path, *args: str) -> str:
    shutil.copyfile(deb, root.file(f"/tmp/{deb.name}"))
    proc = root.sh(f"apt-get install -y --no-install-recommends {' '.join(args)} /tmp/{deb.name}")
    return proc.stdout + proc.stderr


def assert_installed_state(root: Root, *, initscripts: bool) -> None:
    assert root.diversions() == [
        f"diversion of {CHECKROOT} to {DIVERTED} by ro-root",
    ]
    link = root.file(CHECKROOT)
    assert link.is_symlink()
    assert str(link.readlink()) == "/usr/libexec/ro-root/checkroot.sh"
    assert root.file(DIVERTED).is_file() == initscripts
    for kernel in root.kernels():
        assert root.initrd_has_payload(kernel), f"initrd of {kernel} lacks the payload"


def assert_plain_state(root: Root, *, initscripts: bool) -> None:
    assert root.diversions() == []
    assert not root.file(DIVERTED).exists()
    if initscripts:
        original = root.file(CHECKROOT)
        assert original.is_file() and not original.is_symlink()
        digest = hashlib.md5(original.read_bytes()).hexdigest()
        assert digest == root.conffile_md5("initscripts", CHECKROOT)
    else:
        assert not root.file(CHECKROOT).exists() and not root.file(CHECKROOT).is_symlink()
    for kernel in root.kernels():
        assert not root.initrd_has_payload(kernel), f"initrd of {kernel} still has the payload"


def test_install_covers_every_kernel_and_removal_restores_checkroot(
    root: Root, tmp_path: Path
) -> None:
    root.sh("apt-get install -y --no-install-recommends initscripts")
    original = root.file(CHECKROOT).read_bytes()
    deb = build(tmp_path / "dist")

    out = install(root, deb)
    assert "update-initramfs: Generating /boot/initrd.img-" + FAKE_OLD_KERNEL in out
    assert_installed_state(root, initscripts=True)
    assert root.file(DIVERTED).read_bytes() == original
    # The wrapper runs the original when the root is not ro-root's overlay.
    wrapper = root.sh(f"{CHECKROOT} status", check=False)
    assert "ro-root:" not in wrapper.stdout
    assert "cannot open" not in wrapper.stderr
    # No boot to report in a chroot, and no advice about the build host's kernel.
    status = root.sh("ro-root status", check=False)
    assert status.returncode == 5, status.stdout + status.stderr
    assert "no boot to report: this is a chroot" in status.stdout
    assert "initrd" not in status.stdout
    # A chroot has no /run/ro-root: the login banner says nothing.
    motd = root.sh("/etc/update-motd.d/50-ro-root")
    assert motd.stdout + motd.stderr == ""

    # The APT/dpkg guard runs before dpkg removes the package, silently in a chroot.
    removal = root.sh("apt-get remove -y ro-root")
    assert "apt-guard" not in removal.stdout + removal.stderr
    assert "cannot open" not in removal.stdout + removal.stderr
    assert_plain_state(root, initscripts=True)
    assert root.file(CHECKROOT).read_bytes() == original
    root.sh("dpkg --verify initscripts")


def test_initscripts_installed_after_ro_root_is_restored_on_removal(
    root: Root, tmp_path: Path
) -> None:
    deb = build(tmp_path / "dist")
    install(root, deb)
    assert_installed_state(root, initscripts=False)

    root.sh("apt-get install -y --no-install-recommends initscripts")
    assert_installed_state(root, initscripts=True)

    root.sh("apt-get purge -y ro-root")
    assert_plain_state(root, initscripts=True)
    root.sh("dpkg --verify initscripts")
    assert "ro-root" not in root.sh("dpkg -l").stdout


def test_reinstall_reconfigure_and_upgrade_are_idempotent(root: Root, tmp_path: Path) -> None:
    root.sh("apt-get install -y --no-install-recommends initscripts")
    first = build(tmp_path / "dist")
    install(root, first)
    install(root, first, "--reinstall")
    assert_installed_state(root, initscripts=True)
    root.sh("dpkg-reconfigure ro-root")
    assert_installed_state(root, initscripts=True)

    newer = build(tmp_path / "newer", version="99.0")
    install(root, newer)
    assert root.sh("dpkg-query -W -f='${Version}' ro-root").stdout == "99.0"
    assert_installed_state(root, initscripts=True)

    root.sh("apt-get purge -y ro-root")
    assert_plain_state(root, initscripts=True)


def test_purge_without_initscripts_leaves_no_file_diversion_or_debconf_entry(
    root: Root, tmp_path: Path
) -> None:
    deb = build(tmp_path / "dist")
    install(root, deb)
    assert_installed_state(root, initscripts=False)
    owned = root.sh("dpkg-query -L ro-root").stdout.split()
    files = [path for path in owned if not root.file(path).is_dir()]
    assert "/usr/lib/ro-root/boot.sh" in files
    root.sh("apt-get purge -y ro-root")
    assert_plain_state(root, initscripts=False)
    assert [
        path for path in files if root.file(path).exists() or root.file(path).is_symlink()
    ] == []
    assert not root.file("/usr/libexec/ro-root").exists()
    assert not root.file("/usr/share/doc/ro-root").exists()
    assert root.sh("dpkg-query -W ro-root", check=False).returncode != 0
    assert root.sh("debconf-show ro-root").stdout == ""
