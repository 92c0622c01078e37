"""Debian 12 minbase, systemd, no busybox, ro-root installed: what a user sees at boot.

One image, three boots in a fixed order (each costs about a minute under TCG):

1. default command line: the overlay is active; the disk image must not change;
2. `ro-root=disabled`: the normal writable root; the overlay boot's write is gone;
3. `single`: recovery boot, root writable; the write of boot 2 is still there.

Under systemd `single` means rescue.target, whose sulogin waits for a root login on the
console; the probe unit is also wanted by rescue.target, so it reports and powers off while
sulogin waits.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from vmtest import BootSequence, fstab_entries

from ro_root import vm
from ro_root.errors import UserError

pytestmark = pytest.mark.vm

SPEC = vm.ImageSpec(suite="bookworm", init="systemd", busybox=False)
BOOTS = {
    "overlay": (),
    "disabled": ("ro-root=disabled",),
    "single": ("single",),
}


@pytest.fixture(scope="module")
def image(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> vm.Image:
    try:
        return vm.prepare_image(SPEC, [ro_root_deb], tmp_path_factory.mktemp("bookworm"))
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def boots(image: vm.Image) -> BootSequence:
    return BootSequence(image, BOOTS)


# --- the image ------------------------------------------------------------------------------


def test_image_has_no_busybox_and_a_rebuilt_initrd_with_the_payload(image: vm.Image) -> None:
    # prepare_image() already refuses an image whose dpkg status lists busybox.
    assert image.initrd_rebuilt, "installing ro-root did not rebuild the initrd"
    files = image.initrd_files
    assert "scripts/init-bottom/ro-root" in files
    assert "scripts/ro-root-functions" in files
    assert not {"bin/busybox", "usr/bin/busybox"} & files, "busybox in the initrd"


# --- boot 1: the overlay --------------------------------------------------------------------


def test_default_boot_root_is_overlay(boots: BootSequence) -> None:
    boot = boots("overlay")
    assert boot.facts["rorootstate"] == "active", boot.describe()
    assert boot.facts["root_fstype"] == "overlay", boot.describe()


def test_default_boot_real_root_is_read_only_on_ro(boots: BootSequence) -> None:
    boot = boots("overlay")
    facts = boot.facts
    assert facts["ro_fstype"] == "ext4", boot.describe()
    assert facts["ro_source"] == "/dev/vda", boot.describe()
    assert "ro" in facts["ro_options"].split(","), boot.describe()
    assert facts["ro_write"] == "denied", boot.describe()


def test_default_boot_rw_is_tmpfs_owned_by_root_mode_755(boots: BootSequence) -> None:
    boot = boots("overlay")
    facts = boot.facts
    assert facts["rw_fstype"] == "tmpfs", boot.describe()
    assert (facts["rw_mode"], facts["rw_owner"]) == ("755", "root"), boot.describe()


def test_default_boot_system_is_writable_and_healthy(boots: BootSequence) -> None:
    boot = boots("overlay")
    facts = boot.facts
    assert facts["write_ok"] == "yes", boot.describe()
    assert facts["marker_written"] == "yes", boot.describe()
    assert facts["failed_units_count"] == "0", boot.describe()
    assert facts["system_state"] == "running", boot.describe()
    assert facts["busybox_present"] == "no", boot.describe()


def test_default_boot_fstab_has_root_disabled_and_a_header(boots: BootSequence) -> None:
    boot = boots("overlay")
    fstab = boot.numbered("fstab")
    assert not [e for e in fstab_entries(boot) if e[1:2] == ["/"]], boot.describe()
    assert any(line.startswith("#") and "/dev/vda" in line and " / " in line for line in fstab), (
        boot.describe()
    )
    assert any(line.startswith("#") and "/ro/etc/fstab" in line for line in fstab), boot.describe()


def test_default_boot_leaves_disk_image_unchanged(boots: BootSequence) -> None:
    boot = boots("overlay")
    assert boots.disk_before["overlay"] == boots.disk_after["overlay"], (
        f"the overlay boot changed {boot.image.disk}\n{boot.describe()}"
    )


# --- boot 2: ro-root=disabled ---------------------------------------------------------------


def test_disabled_boot_is_skipped_and_writable(boots: BootSequence) -> None:
    boot = boots("disabled")
    facts = boot.facts
    assert facts["rorootstate"] == "skipped", boot.describe()
    assert "disabled" in facts["rorootreason"], boot.describe()
    assert facts["root_fstype"] == "ext4", boot.describe()
    assert "rw" in facts["root_options"].split(","), boot.describe()
    assert facts["write_ok"] == "yes", boot.describe()
    assert facts["ro_fstype"] == "", boot.describe()
    assert facts["failed_units_count"] == "0", boot.describe()


def test_disabled_boot_sees_the_real_fstab(boots: BootSequence) -> None:
    # The rewritten fstab of boot 1 lived in the overlay only.
    boot = boots("disabled")
    assert ["/dev/vda", "/", "ext4"] in [e[:3] for e in fstab_entries(boot)], boot.describe()


def test_writes_on_the_overlay_vanish_at_reboot(boots: BootSequence) -> None:
    overlay = boots("overlay")
    assert overlay.facts["marker_written"] == "yes", overlay.describe()
    boot = boots("disabled")
    assert boot.facts["marker_before"] == "absent", boot.describe()


# --- boot 3: single-user --------------------------------------------------------------------


def test_single_user_boot_is_skipped_and_writable(boots: BootSequence) -> None:
    boot = boots("single")
    facts = boot.facts
    assert facts["rorootstate"] == "skipped", boot.describe()
    assert "single" in facts["rorootreason"], boot.describe()
    assert facts["root_fstype"] == "ext4", boot.describe()
    assert facts["write_ok"] == "yes", boot.describe()


def test_writes_on_a_plain_boot_persist(boots: BootSequence) -> None:
    disabled = boots("disabled")
    assert disabled.facts["marker_written"] == "yes", disabled.describe()
    boot = boots("single")
    assert boot.facts["marker_before"] == "present", boot.describe()
    assert boot.facts["marker_before_content"] == disabled.facts["boot_id"], boot.describe()
