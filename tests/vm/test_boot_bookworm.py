"""Debian 12 minbase, systemd, no busybox, ro-root installed: what a user sees at boot.

One image, four boots in a fixed order (each costs about a minute under TCG), each with the
outcome it must end in:

1. default command line: the overlay is active;
2. default command line again ("reboot"): the overlay is active, what boot 1 wrote is gone,
   and the disk image is byte-identical from before boot 1 to after boot 2;
3. `ro-root=disabled`: skipped, the normal writable root;
4. `single`: recovery boot, skipped, root writable; the write of boot 3 is still there.

Under systemd `single` means rescue.target, whose sulogin waits for a root login on the
console; the probe unit is also wanted by rescue.target, so it reports and powers off while
sulogin waits.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import vmtest
from vmtest import Boot, BootSequence

from ro_root import vm

pytestmark = pytest.mark.vm

SPEC = vm.ImageSpec(suite="bookworm", init="systemd", busybox=False)
BOOTS = {
    "overlay": Boot((), expect="active"),
    "reboot": Boot((), expect="active"),
    "disabled": Boot(("ro-root=disabled",), expect="skipped"),
    "single": Boot(("single",), expect="skipped"),
}


@pytest.fixture(scope="module")
def image(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> vm.Image:
    return vmtest.prepare(SPEC, ro_root_deb, tmp_path_factory.mktemp("bookworm"))


@pytest.fixture(scope="module")
def boots(image: vm.Image) -> BootSequence:
    return BootSequence(image, BOOTS)


# --- the image ------------------------------------------------------------------------------


def test_image_has_no_busybox_and_a_rebuilt_initrd_with_the_payload(image: vm.Image) -> None:
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


# --- boot 3: ro-root=disabled ---------------------------------------------------------------


def test_disabled_boot_is_skipped_and_writable(boots: BootSequence) -> None:
    boot = boots("disabled")
    vmtest.expect_plain_writable(boot, "disabled")
    # marker_before: neither overlay boot's write reached the disk.
    vmtest.expect(boot, vmtest.facts_differ(boot, failed_units_count="0", marker_before="absent"))


def test_disabled_boot_sees_the_real_fstab(boots: BootSequence) -> None:
    # The rewritten fstab of the overlay boots lived in the overlay only.
    boot = boots("disabled")
    assert ["/dev/vda", "/", "ext4"] in [e[:3] for e in vmtest.fstab_entries(boot)], boot.describe()


# --- boot 4: single-user --------------------------------------------------------------------


def test_single_user_boot_is_skipped_and_writable(boots: BootSequence) -> None:
    vmtest.expect_plain_writable(boots("single"), "single")


def test_writes_on_a_plain_boot_persist(boots: BootSequence) -> None:
    vmtest.expect_write_persists(boots, "disabled", "single")
