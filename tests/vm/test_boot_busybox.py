"""Debian 12 minbase, systemd, WITH busybox, ro-root installed.

With busybox installed, initramfs-tools puts it into the initrd and the boot script runs
among busybox's applets instead of klibc's alone: the payload must work in both. Two boots
of one image (about a minute each under TCG), each with the outcome it must end in:

1. default command line: the overlay is active, with everything the klibc-only image shows;
2. default command line again ("reboot"): what boot 1 wrote is gone, and the disk image is
   byte-identical from before boot 1 to after boot 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import vmtest
from vmtest import Boot, BootSequence

from testbed import images

pytestmark = pytest.mark.vm

SPEC = images.ImageSpec(suite="bookworm", init="systemd", busybox=True)
BOOTS = {
    "overlay": Boot((), expect="active"),
    "reboot": Boot((), expect="active"),
}


@pytest.fixture(scope="module")
def image(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> images.Image:
    return vmtest.prepare(SPEC, ro_root_deb, tmp_path_factory.mktemp("busybox"))


@pytest.fixture(scope="module")
def boots(image: images.Image) -> BootSequence:
    return BootSequence(image, BOOTS)


def test_busybox_image_has_busybox_in_a_rebuilt_initrd_with_the_payload(
    image: images.Image,
) -> None:
    problems = vmtest.image_problems(image)
    assert not problems, problems


def test_busybox_initrd_carries_only_what_the_boot_needs(
    image: images.Image, tmp_path: Path
) -> None:
    problems = vmtest.initrd_content_problems(image, tmp_path / "initrd")
    assert not problems, problems


def test_busybox_default_boot_is_a_read_only_overlay(boots: BootSequence) -> None:
    vmtest.expect_overlay(boots("overlay"))


def test_busybox_reboot_is_a_read_only_overlay_again(boots: BootSequence) -> None:
    vmtest.expect_overlay(boots("reboot"))


def test_busybox_reboot_forgets_the_writes_and_leaves_the_disk_image_unchanged(
    boots: BootSequence,
) -> None:
    vmtest.expect_reboot_forgets(boots, "overlay", "reboot")
