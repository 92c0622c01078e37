"""Debian 12 minbase, systemd, no busybox, ro-root installed: what a user sees at boot.

One image, seven boots in a fixed order (each costs about a minute under TCG), each with the
outcome it must end in:

1. default command line: the overlay is active;
2. default command line again ("reboot"): the overlay is active, what boot 1 wrote is gone,
   and the disk image is byte-identical from before boot 1 to after boot 2;
3. and 4. `rw fsck.repair=yes`, as Debian's raspi-firmware writes into cmdline.txt: active, the
   initramfs mounted the root read-only and ran no fsck, and the disk image is byte-identical
   from before boot 3 to after boot 4 (issue 18);
5. `ro-root=disabled`: skipped, the normal writable root;
6. `single`: recovery boot, skipped, root writable; the write of boot 5 is still there;
7. `ro-root=disabled rw`: skipped, the root mounted read-write and checked by the initramfs's
   fsck as the command line asks.

Under systemd `single` means rescue.target, whose sulogin waits for a root login on the
console; the probe unit is also wanted by rescue.target, so it reports and powers off while
sulogin waits.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import vmtest
from vmtest import Boot, BootSequence

from testbed import images

pytestmark = pytest.mark.vm

SPEC = images.ImageSpec(suite="bookworm", init="systemd", busybox=False)
# A Raspberry Pi's command line (Debian's raspi-firmware): read-write, and fsck may repair.
RW = ("rw", "fsck.repair=yes")
# initramfs-tools' fsck hook puts fsck into the initrd for the root's type, which it finds by
# probing the root's device: in an image built offline there is none, so say it, as a device's
# own installation would find it.
FSCK_IN_INITRD = {"/etc/initramfs-tools/conf.d/ro-root-test-fstype": b"FSTYPE=ext4\n"}
# What util-linux's fsck prints when the initramfs runs it on the root.
FSCK_RAN = "fsck from util-linux"
BOOTS = {
    "overlay": Boot((), expect="active"),
    "reboot": Boot((), expect="active"),
    "rw": Boot(RW, expect="active"),
    "rw-reboot": Boot(RW, expect="active"),
    "disabled": Boot(("ro-root=disabled",), expect="skipped"),
    "single": Boot(("single",), expect="skipped"),
    "rw-disabled": Boot(("ro-root=disabled", *RW), expect="skipped"),
}


@pytest.fixture(scope="module")
def image(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> images.Image:
    return vmtest.prepare(
        SPEC, ro_root_deb, tmp_path_factory.mktemp("bookworm"), files_before=FSCK_IN_INITRD
    )


@pytest.fixture(scope="module")
def boots(image: images.Image) -> BootSequence:
    return BootSequence(image, BOOTS)


# --- the image ------------------------------------------------------------------------------


def test_image_has_no_busybox_and_a_rebuilt_initrd_with_the_payload(image: images.Image) -> None:
    # prepare_image() already refuses an image whose dpkg status lists busybox.
    problems = vmtest.image_problems(image)
    assert not problems, problems


# --- boot 1: the overlay --------------------------------------------------------------------


def test_default_boot_root_is_overlay(boots: BootSequence) -> None:
    boot = boots("overlay")
    vmtest.expect(boot, vmtest.root_is_overlay(boot))


def test_default_boot_real_root_is_read_only_on_ro(boots: BootSequence) -> None:
    boot = boots("overlay")
    vmtest.expect(boot, vmtest.real_root_read_only_on_ro(boot))


def test_default_boot_rw_is_tmpfs_owned_by_root_mode_755(boots: BootSequence) -> None:
    boot = boots("overlay")
    vmtest.expect(boot, vmtest.rw_is_tmpfs_of_root_755(boot))


def test_default_boot_system_is_writable_and_healthy(boots: BootSequence) -> None:
    boot = boots("overlay")
    vmtest.expect(boot, vmtest.system_writable_and_healthy(boot))


def test_default_boot_fstab_has_root_disabled_and_a_header(boots: BootSequence) -> None:
    boot = boots("overlay")
    vmtest.expect(boot, vmtest.fstab_root_disabled_with_header(boot))


# --- boot 2: reboot, overlay again ----------------------------------------------------------


def test_reboot_is_a_read_only_overlay_again(boots: BootSequence) -> None:
    vmtest.expect_overlay(boots("reboot"))


def test_reboot_forgets_the_writes_and_leaves_the_disk_image_unchanged(
    boots: BootSequence,
) -> None:
    vmtest.expect_reboot_forgets(boots, "overlay", "reboot")


# --- boot 5: ro-root=disabled ---------------------------------------------------------------


def test_disabled_boot_is_skipped_and_writable(boots: BootSequence) -> None:
    boot = boots("disabled")
    vmtest.expect_plain_writable(boot, "disabled")
    # marker_before: neither overlay boot's write reached the disk.
    vmtest.expect(boot, vmtest.facts_differ(boot, failed_units_count="0", marker_before="absent"))


def test_disabled_boot_sees_the_real_fstab(boots: BootSequence) -> None:
    # The rewritten fstab of the overlay boots lived in the overlay only.
    boot = boots("disabled")
    assert ["/dev/vda", "/", "ext4"] in [e[:3] for e in vmtest.fstab_entries(boot)], boot.describe()


# --- boot 6: single-user --------------------------------------------------------------------


def test_single_user_boot_is_skipped_and_writable(boots: BootSequence) -> None:
    vmtest.expect_plain_writable(boots("single"), "single")


def test_writes_on_a_plain_boot_persist(boots: BootSequence) -> None:
    vmtest.expect_write_persists(boots, "disabled", "single")


# --- boots 3, 4 and 7: `rw fsck.repair=yes` on the kernel command line (issue 18) ----------------


def test_klibc_only_initrd_carries_only_what_the_boot_needs(
    image: images.Image, tmp_path: Path
) -> None:
    problems = vmtest.initrd_content_problems(image, tmp_path / "initrd")
    assert not problems, problems


def test_initrd_has_fsck_for_the_root(image: images.Image) -> None:
    # Otherwise the rw boots would prove nothing about the initramfs's fsck.
    files = image.initrd_files
    assert {"usr/sbin/fsck", "usr/sbin/e2fsck"} & files or {"sbin/fsck", "sbin/e2fsck"} & files, (
        sorted(f for f in files if "fsck" in f)
    )


def test_rw_on_the_command_line_still_mounts_the_root_read_only_without_fsck(
    boots: BootSequence,
) -> None:
    boot = boots("rw")
    problems = vmtest.overlay_problems(boot)
    settings = boot.numbered("rorootsettings")
    for wanted in ("overridden=rw fsck", "medium=untouched"):
        if wanted not in settings:
            problems.append(f"/run/ro-root/settings lacks {wanted!r}: {settings}")
    if FSCK_RAN in boot.log:
        problems.append("the initramfs ran fsck on the root")
    log = " ".join(boot.numbered("rorootlog"))
    if "the kernel command line says 'rw': mounting the root read-only instead" not in log:
        problems.append("/run/ro-root/log does not say that 'rw' was overridden")
    vmtest.expect(boot, problems, "'rw fsck.repair=yes' boot")


def test_two_rw_boots_leave_the_disk_image_byte_identical(boots: BootSequence) -> None:
    vmtest.expect_reboot_forgets(boots, "rw", "rw-reboot")


def test_disabled_with_rw_is_writable_and_checked_as_the_command_line_asks(
    boots: BootSequence,
) -> None:
    boot = boots("rw-disabled")
    problems = vmtest.plain_writable_problems(boot, "disabled")
    if FSCK_RAN not in boot.log:
        problems.append("the initramfs did not check the root, though ro-root was disabled")
    if "medium=writable" not in boot.numbered("rorootsettings"):
        problems.append(f"settings: {boot.numbered('rorootsettings')}")
    vmtest.expect(boot, problems, "'ro-root=disabled rw' boot")
