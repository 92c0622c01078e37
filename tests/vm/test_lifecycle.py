"""The package's life on real boots: two kernels, removal inside the VM, upgrade.

Removal image: Debian 12 with sysvinit (initscripts, so checkroot.sh is really diverted and
run) and two kernels, the distribution's and the newer one from bookworm-backports. Its
boots, in order:

1. the *older* kernel, default command line: the overlay is active on it too;
2. `ro-root=disabled`, and the probe runs `apt-get remove ro-root` (task `remove`) in the
   guest: a writable boot, as the README tells users to remove the package;
3. after removal: a plain writable ext4 root where what boot 2 wrote is still there.

Upgrade image: Debian 12 with systemd; the previous version of the package is installed, then
the current one over it (two apt runs), and the system must still boot read-only. The same
image then boots with the overlay module blacklisted: ro-root fails, loudly, and the normal
root boots writable.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import vmtest
from support import add_changelog_entry, build_deb, copy_source

from ro_root.errors import UserError
from testbed import images, qemu

pytestmark = pytest.mark.vm

# In-guest initrd rebuilds under TCG take minutes, even with MODULES=dep.
REMOVAL_TIMEOUT = 1200.0


def boot_or_fail(
    image: images.Image,
    *append: str,
    expect: str,
    kernel: str | None = None,
    timeout: float = qemu.DEFAULT_BOOT_TIMEOUT,
) -> qemu.BootResult:
    try:
        return qemu.boot(image, append, expect=expect, kernel=kernel, timeout=timeout)
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)


def once(function: Callable[[], qemu.BootResult]) -> Callable[[], qemu.BootResult]:
    """Run a boot on first demand only; later tests get the same result (or failure)."""
    results: list[qemu.BootResult] = []
    errors: list[str] = []

    def wrapper() -> qemu.BootResult:
        if errors:
            pytest.fail(errors[0], pytrace=False)
        if not results:
            try:
                results.append(function())
            except pytest.fail.Exception as exc:
                errors.append(str(exc))
                raise
        return results[0]

    return wrapper


# --- two kernels, sysvinit, removal inside the VM ------------------------------------------

REMOVAL_SPEC = images.ImageSpec(suite="bookworm", init="sysvinit", backports_kernel=True)


@pytest.fixture(scope="module")
def two_kernel_image(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> images.Image:
    try:
        return images.prepare_image(
            REMOVAL_SPEC,
            [ro_root_deb],
            tmp_path_factory.mktemp("removal"),
            files_before=vmtest.SMALL_INITRD,
        )
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)


class Removal:
    def __init__(self, image: images.Image) -> None:
        self.image = image
        self.older = once(lambda: boot_or_fail(image, expect="active", kernel=self.oldest))
        self.remove = once(self._remove)
        self.after = once(self._after)
        self.refreshed: images.Image | None = None

    @property
    def oldest(self) -> str:
        return self.image.kernels[-1].version

    def _remove(self) -> qemu.BootResult:
        self.older()
        return boot_or_fail(
            self.image,
            "ro-root=disabled",
            "rorootest.task=remove",
            expect="skipped",
            timeout=REMOVAL_TIMEOUT,
        )

    def _after(self) -> qemu.BootResult:
        self.remove()
        try:
            self.refreshed = images.refresh_kernels(self.image)
        except UserError as exc:
            pytest.fail(str(exc), pytrace=False)
        return boot_or_fail(self.refreshed, expect="none")


@pytest.fixture(scope="module")
def removal(two_kernel_image: images.Image) -> Removal:
    return Removal(two_kernel_image)


def test_install_puts_the_payload_in_both_kernels_initrds(two_kernel_image: images.Image) -> None:
    kernels = two_kernel_image.kernels
    assert len(kernels) == 2, [k.version for k in kernels]
    for kernel in kernels:
        assert kernel.has_payload, f"initrd of {kernel.version} lacks ro-root ({kernel.initrd})"
        assert "usr/lib/ro-root/boot.sh" in kernel.initrd_files


def test_older_kernel_boots_read_only_too(removal: Removal) -> None:
    boot = removal.older()
    assert boot.facts["kernel"] == removal.oldest, boot.describe()
    assert boot.facts["root_fstype"] == "overlay", boot.describe()
    assert "ro" in boot.facts["ro_options"].split(","), boot.describe()
    assert boot.facts["rw_fstype"] == "tmpfs", boot.describe()


def test_sysvinit_overlay_boot_runs_the_checkroot_wrapper_without_errors(
    removal: Removal,
) -> None:
    boot = removal.older()
    assert boot.facts["checkroot"] == "symlink /usr/libexec/ro-root/checkroot.sh", boot.describe()
    assert "ro-root: / is a read-only overlay: checkroot.sh has nothing to check" in boot.log
    lines = [line for line in boot.log.splitlines() if "checkroot" in line.lower()]
    assert not [line for line in lines if "fail" in line.lower() or "error" in line.lower()], lines


def test_removal_in_a_writable_boot_succeeds(removal: Removal) -> None:
    boot = removal.remove()
    facts = boot.facts
    assert facts["root_fstype"] == "ext4", boot.describe()
    assert facts["task_rc"] == "0", "\n".join(boot.numbered("task_out"))
    # remove (not purge) keeps only the configuration: "rc".
    assert facts["ro_root_status"].strip() == "rc", boot.describe()


def test_removal_leaves_no_diversion_and_the_original_checkroot(removal: Removal) -> None:
    facts = removal.remove().facts
    assert facts["diversions"] == "", facts
    assert facts["checkroot"] == "file", facts
    assert facts["checkroot_dpkg_md5"], facts
    assert facts["checkroot_md5"] == facts["checkroot_dpkg_md5"], facts


def test_removal_rebuilds_every_initrd_without_the_payload(removal: Removal) -> None:
    removal.after()
    assert removal.refreshed is not None
    kernels = removal.refreshed.kernels
    assert len(kernels) == 2
    for kernel in kernels:
        assert not kernel.has_payload, f"initrd of {kernel.version} still has ro-root"


def test_boot_after_removal_is_plain_writable_and_writes_persist(removal: Removal) -> None:
    remove = removal.remove()
    boot = removal.after()
    facts = boot.facts
    assert facts["rorootstate"] == "none", boot.describe()
    assert facts["root_fstype"] == "ext4", boot.describe()
    assert "rw" in facts["root_options"].split(","), boot.describe()
    assert facts["ro_fstype"] == "" and facts["rw_fstype"] == "", boot.describe()
    assert facts["write_ok"] == "yes", boot.describe()
    assert facts["marker_before_content"] == remove.facts["boot_id"], boot.describe()
    assert not [line for line in boot.log.splitlines() if line.startswith("ro-root:")]


# --- upgrade from the previous version -------------------------------------------------------

UPGRADE_SPEC = images.ImageSpec(suite="bookworm", init="systemd")


@pytest.fixture(scope="module")
def upgrade_image(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> images.Image:
    # The previous version: this tree with a lower version on top of its changelog.
    work = tmp_path_factory.mktemp("previous")
    tree = copy_source(work / "src")
    current = ro_root_deb.name.split("_")[1]
    add_changelog_entry(tree, f"{current}~previous")
    previous = build_deb(work / "dist", tree)
    try:
        return images.prepare_image(
            UPGRADE_SPEC,
            [previous, ro_root_deb],
            tmp_path_factory.mktemp("upgrade"),
            files_before=vmtest.SMALL_INITRD,
        )
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def upgraded_boot(upgrade_image: images.Image) -> qemu.BootResult:
    return boot_or_fail(upgrade_image, expect="active")


def test_upgrade_keeps_the_system_booting_read_only(
    upgrade_image: images.Image, upgraded_boot: qemu.BootResult
) -> None:
    assert upgrade_image.newest.has_payload
    install_log = (upgrade_image.directory / "install-2.log").read_text()
    assert "Preparing to unpack" in install_log and "over (" in install_log, install_log[-2000:]
    boot = upgraded_boot
    facts = boot.facts
    assert facts["ro_root_version"] == upgrade_image.debs[1].name.split("_")[1], boot.describe()
    assert facts["root_fstype"] == "overlay", boot.describe()
    assert facts["failed_units_count"] == "0", boot.describe()
    assert facts["diversions"] == (
        "diversion of /etc/init.d/checkroot.sh to /etc/init.d/checkroot.sh.ro-root.orig by ro-root"
    ), boot.describe()


def test_missing_overlay_support_fails_safe_and_loud(
    upgrade_image: images.Image, upgraded_boot: qemu.BootResult
) -> None:
    # A failure path on a real boot: the admin blacklisted the overlay module, so the boot
    # script cannot mount the overlay; the root must be the normal one, and writable.
    boot = boot_or_fail(upgrade_image, "modprobe.blacklist=overlay", expect="failed")
    facts = boot.facts
    assert "overlay" in facts["rorootreason"], boot.describe()
    assert facts["root_fstype"] == "ext4", boot.describe()
    assert "rw" in facts["root_options"].split(","), boot.describe()
    assert facts["write_ok"] == "yes", boot.describe()
    assert "ro-root: FAILED: the kernel has no overlay file system" in boot.log, boot.log_path
    # The real fstab is in effect: nothing rewrote it.
    assert any(line.startswith("/dev/vda") for line in boot.numbered("fstab")), boot.describe()
