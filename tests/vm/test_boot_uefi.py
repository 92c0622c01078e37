"""amd64 UEFI through a real boot loader: OVMF, GRUB, an EFI system partition and a separate
/boot (issue 13).

One Debian 12 systemd image on a GPT disk laid out as Debian's installer does it for a
separate /boot: the EFI system partition on /boot/efi (FAT), /boot (ext4) and the root (ext4,
with an empty /boot directory). The host cannot mount FAT (its kernel has no vfat), so GRUB
is installed by the image's own first boot, the only one with the kernel handed to qemu:
`ro-root exec sh -c 'grub-install --target=x86_64-efi --removable --no-nvram && update-grub'`.
From then on qemu boots the disk with OVMF, never with -kernel. initrds are built with
MODULES=list (virtio, ext4), so that the in-guest rebuilds take a minute under TCG, not ten.
The probe's `uefi` task reads which step it is from GRUB's menu (the kernel command line).
Boots, in order:

0. `grub-install` (active, kernel handed to qemu): GRUB installed through ro-root's window,
   which mounts /boot and /boot/efi writable under /ro and read-only again afterwards.
1. `read-only` (active): /boot and /boot/efi are mounted read-only; `ro-root exec` changes an
   initramfs input and GRUB's menu (update-grub): the initrd on the /boot partition is
   rebuilt, grub.cfg there gets the new command line, nothing lands in the root's /boot
   directory, and everything is read-only again after the window.
2. `flag` (skipped): the host puts `ro-root.disable-once` on the EFI system partition with
   mtools, as another computer would; the initramfs removes it and the boot is writable, from
   GRUB's new menu entry.
3. `again` (active): read-only again, running the rebuilt initrd; `ro-root exec apt-get
   remove ro-root` rebuilds the initrd on /boot without the payload.
4. `plain` (none): a plain writable system.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import vmtest

from ro_root.errors import UserError
from testbed import images, qemu

pytestmark = pytest.mark.vm

SPEC = images.ImageSpec(suite="bookworm", init="systemd", extra_packages=("grub-efi-amd64",))
# Boots that rebuild an initrd and run update-grub in the guest (TCG).
LONG_TIMEOUT = 900.0
FLAG = "ro-root.disable-once"
# Small initrds: what a virtio disk with ext4 needs (ro-root's hook adds overlay and vfat).
FILES_BEFORE = vmtest.SMALL_INITRD
# GRUB's settings, written before update-grub runs in the image: no menu wait, the console
# on the serial line, the probe's task. `quiet` would hide the kernel's handoff line that the
# harness watches for.
GRUB_DEFAULT = (
    b"GRUB_DEFAULT=0\n"
    b"GRUB_TIMEOUT=0\n"
    b"GRUB_DISTRIBUTOR=Debian\n"
    b'GRUB_CMDLINE_LINUX_DEFAULT=""\n'
    b'GRUB_CMDLINE_LINUX="console=ttyS0 panic=-1 rorootest.task=uefi"\n'
    b"GRUB_DISABLE_OS_PROBER=true\n"
)


class Sequence(vmtest.Steps):
    def __init__(self, image: images.Image) -> None:
        super().__init__()
        self.image = image
        self.esp_after_flag: list[str] = []
        self.steps = [
            ("grub-install", self._grub_install),
            ("read-only", lambda: self._boot("active", LONG_TIMEOUT)),
            ("flag", self._flag),
            ("again", lambda: self._boot("active", LONG_TIMEOUT)),
            ("plain", lambda: self._boot("none")),
        ]

    def _boot(self, expect: str, timeout: float = qemu.DEFAULT_BOOT_TIMEOUT) -> qemu.BootResult:
        return qemu.boot(self.image, expect=expect, timeout=timeout)

    def _grub_install(self) -> qemu.BootResult:
        # The kernel handed to qemu this once: GRUB is not on the disk yet.
        direct = dataclasses.replace(self.image, uefi_vars=None)
        task = (f"root=UUID={self.image.root_uuid}", "rorootest.task=grub-install")
        return qemu.boot(direct, task, expect="active", timeout=LONG_TIMEOUT)

    def _flag(self) -> qemu.BootResult:
        images.esp_put(self.image, FLAG)
        result = self._boot("skipped")
        self.esp_after_flag = images.esp_list(self.image)
        return result


@pytest.fixture(scope="module")
def image(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> images.Image:
    try:
        return images.prepare_image(
            SPEC,
            [ro_root_deb],
            tmp_path_factory.mktemp("uefi"),
            files_before=FILES_BEFORE,
            files={"/etc/default/grub": GRUB_DEFAULT},
            layout="uefi",
        )
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def boots(image: images.Image) -> Sequence:
    return Sequence(image)


def cmd(boot: qemu.BootResult, key: str) -> str:
    return boot.facts.get(f"cmd_{key}", "<missing>")


def read_only(options: str) -> bool:
    return options.split(",")[0] == "ro"


def closed_again(boot: qemu.BootResult) -> list[str]:
    """Problems if /boot, /boot/efi or /ro are not read-only after the boot's window."""
    return [
        f"{key} is {cmd(boot, key)!r}: not read-only again after the window"
        for key in ("boot_opts_after", "efi_opts_after", "ro_opts_after")
        if not read_only(cmd(boot, key))
    ]


# --- the image as installed ------------------------------------------------------------------


def test_the_initrd_the_installation_built_carries_fat_for_the_esp(image: images.Image) -> None:
    # MODULES=list names no FAT module: ro-root's hook adds them because the fstab mounts
    # /boot/efi from a FAT partition (the flag file's), as it does not for a plain root.
    fat = sorted(n for n in image.initrd_files if n.rsplit("/", 1)[-1].startswith("vfat.ko"))
    assert fat, f"no vfat module in {image.initrd} built with the UEFI layout's fstab"


# --- boot 0: GRUB installed from the running read-only system -------------------------------


def test_grub_is_installed_on_the_esp_and_boot_through_ro_root_exec(boots: Sequence) -> None:
    boot = boots("grub-install")
    problems = vmtest.facts_differ(
        boot,
        cmd_grub_install_rc="0",
        cmd_efi_loader="yes",
        cmd_grub_cfg="yes",
        cmd_root_boot_dir_after="",
        cmd_mounts_below_ro_after="",
    )
    vmtest.expect(boot, problems + closed_again(boot), "ro-root exec grub-install")


# --- boot 1: OVMF, GRUB, a read-only system -----------------------------------------------


def test_ovmf_boots_grub_from_the_disk_and_grub_the_kernel_from_boot(
    boots: Sequence,
) -> None:
    boot = boots("read-only")
    problems = vmtest.facts_differ(boot, cmd_efi_loader="yes", cmd_efi_fstype="vfat")
    # GRUB's linux line: the kernel's path on the /boot partition, the menu's parameters.
    if "BOOT_IMAGE=/vmlinuz-" not in boot.facts.get("cmdline", ""):
        problems.append(f"cmdline {boot.facts.get('cmdline')!r} is not GRUB's")
    if cmd(boot, "grub_step") != "1":
        problems.append("not the first menu")
    vmtest.expect(boot, problems)


def test_boot_partitions_are_read_only_outside_a_window(boots: Sequence) -> None:
    boot = boots("read-only")
    problems = []
    for key in ("boot_opts", "efi_opts"):
        if not read_only(cmd(boot, key)):
            problems.append(f"{key} is {cmd(boot, key)!r}, not read-only")
    problems += vmtest.facts_differ(boot, cmd_boot_write="denied", cmd_root_boot_dir="")
    vmtest.expect(boot, problems)


def test_exec_rebuilds_the_initrd_and_grubs_menu_on_the_boot_partition(
    boots: Sequence,
) -> None:
    boot = boots("read-only")
    problems = vmtest.facts_differ(
        boot,
        cmd_exec_rc="0",
        cmd_initrd_marker="0",
        cmd_initrd_marker_after="1",
        cmd_grub_cfg_step2="0",
        # Nothing written into the root's empty mount point, nothing left mounted under /ro.
        cmd_root_boot_dir_after="",
        cmd_mounts_below_ro_after="",
    )
    if cmd(boot, "grub_cfg_step2_after") in ("0", "<missing>"):
        problems.append("grub.cfg on /boot lacks the new command line after update-grub")
    if cmd(boot, "initrd_sum_after") == cmd(boot, "initrd_sum"):
        problems.append("the initrd on /boot did not change")
    vmtest.expect(boot, problems + closed_again(boot), "ro-root exec ... update-grub")


# --- boot 2: the flag file on the EFI system partition ------------------------------------


def test_a_flag_file_on_the_esp_gives_one_writable_boot_and_is_consumed(
    boots: Sequence,
) -> None:
    boot = boots("flag")
    problems = vmtest.facts_differ(boot, cmd_efi_flag="no", cmd_grub_step="2")
    if f"/boot/efi/{FLAG}" not in boot.facts.get("rorootreason", ""):
        problems.append(f"the reason does not name the flag: {boot.facts.get('rorootreason')!r}")
    if read_only(boot.facts.get("root_options", "ro")):
        problems.append("the root is not writable on the flag's boot")
    if FLAG in boots.esp_after_flag:
        problems.append(f"{FLAG} is still on the EFI system partition: {boots.esp_after_flag}")
    vmtest.expect(boot, problems)


# --- boot 3: read-only again, with the rebuilt initrd; removal through exec -----------------


def test_the_next_boot_is_read_only_with_the_rebuilt_initrd_and_new_menu(
    boots: Sequence,
) -> None:
    first = boots("read-only")
    boot = boots("again")
    problems = vmtest.facts_differ(
        boot,
        cmd_grub_step="2",
        cmd_initrd_marker="1",
        cmd_initrd_sum=cmd(first, "initrd_sum_after"),
        cmd_boot_write="denied",
    )
    vmtest.expect(boot, problems + vmtest.root_is_overlay(boot))


def test_exec_apt_get_remove_rebuilds_the_initrd_on_boot_without_the_payload(
    boots: Sequence,
) -> None:
    boot = boots("again")
    problems = vmtest.facts_differ(
        boot,
        cmd_remove_rc="0",
        cmd_initrd_payload="1",
        cmd_initrd_payload_after="0",
        cmd_root_boot_dir_after="",
        cmd_mounts_below_ro_after="",
    )
    vmtest.expect(boot, problems + closed_again(boot), "ro-root exec apt-get remove ro-root")


# --- boot 4: plain ----------------------------------------------------------------------------


def test_after_removal_the_boot_is_plain_and_writable(boots: Sequence) -> None:
    boot = boots("plain")
    problems = vmtest.facts_differ(boot, root_fstype="ext4", cmd_initrd_payload="0")
    for key in ("root_options", "cmd_boot_opts", "cmd_efi_opts"):
        if read_only(boot.facts.get(key, "ro")):
            problems.append(f"{key} is {boot.facts.get(key)!r}, not writable")
    vmtest.expect(boot, problems)
