"""Debian 13 (trixie) minbase, systemd, no busybox, ro-root installed.

The next release: kernel 6.12, a newer systemd and initramfs-tools. Three boots of one
image (about a minute each under TCG), each with the outcome it must end in:

1. default command line: the overlay is active, with everything bookworm shows;
2. default command line again ("reboot"): what boot 1 wrote is gone, and the disk image is
   byte-identical from before boot 1 to after boot 2;
3. `ro-root=disabled`: skipped, the normal writable root.

`single` is left to the bookworm images: it takes the same path through the boot script as
`ro-root=disabled` and would cost another minute.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import vmtest
from vmtest import Boot, BootSequence

from testbed import images

pytestmark = pytest.mark.vm

SPEC = images.ImageSpec(suite="trixie", init="systemd", busybox=False)
BOOTS = {
    "overlay": Boot((), expect="active"),
    "reboot": Boot((), expect="active"),
    "disabled": Boot(("ro-root=disabled",), expect="skipped"),
}


@pytest.fixture(scope="module")
def image(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> images.Image:
    return vmtest.prepare(SPEC, ro_root_deb, tmp_path_factory.mktemp("trixie"))


@pytest.fixture(scope="module")
def boots(image: images.Image) -> BootSequence:
    return BootSequence(image, BOOTS)


def test_trixie_image_has_no_busybox_and_a_rebuilt_initrd_with_the_payload(
    image: images.Image,
) -> None:
    problems = vmtest.image_problems(image)
    assert not problems, problems


def test_trixie_default_boot_is_a_read_only_overlay(boots: BootSequence) -> None:
    boot = boots("overlay")
    vmtest.expect(boot, vmtest.facts_differ(boot, pid1="systemd"))
    assert boot.facts.get("kernel", "").startswith("6.12."), boot.describe()
    vmtest.expect_overlay(boot)


def test_trixie_reboot_is_a_read_only_overlay_again(boots: BootSequence) -> None:
    vmtest.expect_overlay(boots("reboot"))


def test_trixie_reboot_forgets_the_writes_and_leaves_the_disk_image_unchanged(
    boots: BootSequence,
) -> None:
    vmtest.expect_reboot_forgets(boots, "overlay", "reboot")


def test_trixie_disabled_boot_is_skipped_and_writable(boots: BootSequence) -> None:
    boot = boots("disabled")
    vmtest.expect_plain_writable(boot, "disabled")
    # marker_before: neither overlay boot's write reached the disk.
    vmtest.expect(boot, vmtest.facts_differ(boot, failed_units_count="0", marker_before="absent"))
