"""Debian 12 minbase with sysvinit, no busybox, ro-root installed.

sysvinit is where ro-root diverts initscripts' checkroot.sh, which would otherwise check
and remount the root: /etc/init.d/checkroot.sh is ro-root's wrapper, which does nothing
while the root is the overlay and runs the original otherwise. Five boots of one image
(about a minute each under TCG), each with the outcome it must end in:

1. default command line: the overlay is active, the wrapper says checkroot.sh has nothing
   to do, /ro stays read-only through the init scripts;
2. default command line again ("reboot"): what boot 1 wrote is gone, and the disk image is
   byte-identical from before boot 1 to after boot 2;
3. no overlay module with `ro-root.policy=ro`: failed, and the wrapper keeps the real root
   read-only (the original would remount it): the disk image does not change;
4. `ro-root=disabled`: skipped; the original checkroot.sh ran through the wrapper and
   remounted the root read-write as fstab says;
5. `single`: recovery boot, skipped, root writable; the write of boot 4 is still there.

In a `single` boot sysvinit runs only the runlevel-S entries of inittab (never rc.local):
the test image starts the probe from an inittab entry placed before sulogin's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import vmtest
from vmtest import Boot, BootSequence

from testbed import images, qemu

pytestmark = pytest.mark.vm

SPEC = images.ImageSpec(suite="bookworm", init="sysvinit", busybox=False)
BOOTS = {
    "overlay": Boot((), expect="active"),
    "reboot": Boot((), expect="active"),
    "policy-ro": Boot(("modprobe.blacklist=overlay", "ro-root.policy=ro"), expect="failed"),
    "disabled": Boot(("ro-root=disabled",), expect="skipped"),
    "single": Boot(("single",), expect="skipped"),
}

WRAPPER = "/usr/libexec/ro-root/checkroot.sh"
WRAPPER_SAYS = "ro-root: / is a read-only overlay: checkroot.sh has nothing to check or remount"
# initscripts' checkroot.sh, as it starts fsck of the root (the initrd has no fsck, so the
# root is checked here, and VERBOSE=no gives this form).
ORIGINAL_SAYS = "Checking root file system"
# What initscripts' checkroot.sh prints when it cannot check or remount the root.
CHECKROOT_ERRORS = (
    "Cannot check root file system",
    "check (fsck) of the root filesystem failed",
    "for the root filesystem is missing or incorrect",
    "The root filesystem is currently mounted in read-only mode",
)


@pytest.fixture(scope="module")
def image(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> images.Image:
    return vmtest.prepare(
        SPEC, ro_root_deb, tmp_path_factory.mktemp("sysvinit"), files_before=vmtest.SMALL_INITRD
    )


@pytest.fixture(scope="module")
def boots(image: images.Image) -> BootSequence:
    return BootSequence(image, BOOTS, hash_disk=["overlay", "reboot", "policy-ro"])


def checkroot_problems(boot: qemu.BootResult) -> list[str]:
    """checkroot.sh is the wrapper, and the serial log has no checkroot error."""
    problems = vmtest.facts_differ(boot, checkroot=f"symlink {WRAPPER}")
    for line in boot.log.replace("\r", "").splitlines():
        lowered = line.lower()
        if any(error in line for error in CHECKROOT_ERRORS) or (
            "checkroot" in lowered and ("fail" in lowered or "error" in lowered)
        ):
            problems.append(f"serial log: {line.strip()}")
    return problems


def test_sysvinit_image_has_no_busybox_and_a_rebuilt_initrd_with_the_payload(
    image: images.Image,
) -> None:
    problems = vmtest.image_problems(image)
    assert not problems, problems


# --- boot 1: the overlay --------------------------------------------------------------------


def test_sysvinit_default_boot_is_a_read_only_overlay(boots: BootSequence) -> None:
    boot = boots("overlay")
    # After checkroot.sh and the other init scripts ran: still read-only.
    vmtest.expect(boot, vmtest.facts_differ(boot, pid1="init"))
    vmtest.expect_overlay(boot)


def test_sysvinit_overlay_boot_runs_the_checkroot_wrapper_without_errors(
    boots: BootSequence,
) -> None:
    boot = boots("overlay")
    problems = checkroot_problems(boot)
    if WRAPPER_SAYS not in boot.log:
        problems.append(f"the serial log lacks the wrapper's line {WRAPPER_SAYS!r}")
    if ORIGINAL_SAYS in boot.log:
        problems.append(f"initscripts' checkroot.sh ran on the overlay ({ORIGINAL_SAYS!r})")
    vmtest.expect(boot, problems, "checkroot.sh on the overlay")


# --- boot 2: reboot, overlay again ----------------------------------------------------------


def test_sysvinit_reboot_is_a_read_only_overlay_again(boots: BootSequence) -> None:
    vmtest.expect_overlay(boots("reboot"))


def test_sysvinit_reboot_forgets_the_writes_and_leaves_the_disk_image_unchanged(
    boots: BootSequence,
) -> None:
    vmtest.expect_reboot_forgets(boots, "overlay", "reboot")


# --- boot 3: failure_policy=ro ---------------------------------------------------------------
# (its test is at the end of this module)


# --- boot 4: ro-root=disabled ---------------------------------------------------------------


def test_sysvinit_disabled_boot_is_skipped_and_writable(boots: BootSequence) -> None:
    boot = boots("disabled")
    vmtest.expect_plain_writable(boot, "disabled")
    # marker_before: neither overlay boot's write reached the disk.
    vmtest.expect(boot, vmtest.facts_differ(boot, marker_before="absent"))


def test_sysvinit_disabled_boot_runs_the_original_checkroot_through_the_wrapper(
    boots: BootSequence,
) -> None:
    # The kernel mounts the root read-only (`ro` on its command line); under sysvinit only
    # checkroot.sh remounts it as fstab says, so a rw root is the original's work.
    boot = boots("disabled")
    problems = [*checkroot_problems(boot), *vmtest.has_option(boot, "root_options", "rw")]
    if ORIGINAL_SAYS not in boot.log:
        problems.append(f"the serial log lacks initscripts' checkroot.sh line {ORIGINAL_SAYS!r}")
    if WRAPPER_SAYS in boot.log:
        problems.append("the wrapper said the root is the overlay on a plain boot")
    vmtest.expect(boot, problems, "checkroot.sh on a plain boot")


# --- boot 5: single-user --------------------------------------------------------------------


def test_sysvinit_single_user_boot_is_skipped_and_writable(boots: BootSequence) -> None:
    vmtest.expect_plain_writable(boots("single"), "single")


def test_sysvinit_writes_on_a_plain_boot_persist(boots: BootSequence) -> None:
    vmtest.expect_write_persists(boots, "disabled", "single")


KEEPS_RO_SAYS = "ro-root: FAILED, and failure_policy=ro keeps the root read-only"


def test_sysvinit_policy_ro_keeps_the_real_root_read_only(boots: BootSequence) -> None:
    boot = boots("policy-ro")
    problems = vmtest.facts_differ(boot, rorootstate="failed", root_fstype="ext4", write_ok="no")
    problems += vmtest.has_option(boot, "root_options", "ro")
    if KEEPS_RO_SAYS not in boot.log:
        problems.append(f"the serial log lacks the wrapper's {KEEPS_RO_SAYS!r}")
    if boots.disk_before.get("policy-ro") != boots.disk_after.get("policy-ro"):
        problems.append(f"the failure_policy=ro boot changed {boots.image.disk}")
    vmtest.expect(boot, problems, "failure_policy=ro under sysvinit")
