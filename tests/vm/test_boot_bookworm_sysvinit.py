"""Debian 12 minbase with sysvinit, no busybox, ro-root installed.

sysvinit is where ro-root diverts initscripts' checkroot.sh, which would otherwise check
and remount the root. Two boots of one image (about a minute each under TCG):

1. default command line: the overlay is active, /ro stays read-only through the init
   scripts, and the disk image does not change;
2. `single`: recovery boot with the root writable; the overlay boot's write is gone.

In a `single` boot sysvinit runs only the runlevel-S entries of inittab (never rc.local):
the test image starts the probe from an inittab entry placed before sulogin's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from vmtest import BootSequence, fstab_entries

from ro_root import vm
from ro_root.errors import UserError

pytestmark = pytest.mark.vm

SPEC = vm.ImageSpec(suite="bookworm", init="sysvinit", busybox=False)
BOOTS = {
    "overlay": (),
    "single": ("single",),
}


@pytest.fixture(scope="module")
def image(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> vm.Image:
    try:
        return vm.prepare_image(SPEC, [ro_root_deb], tmp_path_factory.mktemp("sysvinit"))
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def boots(image: vm.Image) -> BootSequence:
    return BootSequence(image, BOOTS)


def test_sysvinit_default_boot_root_is_overlay_over_read_only_root(boots: BootSequence) -> None:
    boot = boots("overlay")
    facts = boot.facts
    assert facts["pid1"] == "init", boot.describe()
    assert facts["rorootstate"] == "active", boot.describe()
    assert facts["root_fstype"] == "overlay", boot.describe()
    # After checkroot.sh and the other init scripts ran: still read-only.
    assert facts["ro_fstype"] == "ext4", boot.describe()
    assert "ro" in facts["ro_options"].split(","), boot.describe()
    assert facts["ro_write"] == "denied", boot.describe()
    assert facts["rw_fstype"] == "tmpfs", boot.describe()
    assert (facts["rw_mode"], facts["rw_owner"]) == ("755", "root"), boot.describe()
    assert facts["write_ok"] == "yes", boot.describe()
    assert facts["busybox_present"] == "no", boot.describe()
    assert not [e for e in fstab_entries(boot) if e[1:2] == ["/"]], boot.describe()


def test_sysvinit_default_boot_leaves_disk_image_unchanged(boots: BootSequence) -> None:
    boot = boots("overlay")
    assert boots.disk_before["overlay"] == boots.disk_after["overlay"], (
        f"the overlay boot changed {boot.image.disk}\n{boot.describe()}"
    )


def test_sysvinit_single_user_boot_is_skipped_and_writable(boots: BootSequence) -> None:
    boot = boots("single")
    facts = boot.facts
    assert facts["rorootstate"] == "skipped", boot.describe()
    assert "single" in facts["rorootreason"], boot.describe()
    assert facts["root_fstype"] == "ext4", boot.describe()
    assert "rw" in facts["root_options"].split(","), boot.describe()
    assert facts["write_ok"] == "yes", boot.describe()
    assert ["/dev/vda", "/", "ext4"] in [e[:3] for e in fstab_entries(boot)], boot.describe()


def test_sysvinit_writes_on_the_overlay_vanish_at_reboot(boots: BootSequence) -> None:
    overlay = boots("overlay")
    assert overlay.facts["marker_written"] == "yes", overlay.describe()
    boot = boots("single")
    assert boot.facts["marker_before"] == "absent", boot.describe()
