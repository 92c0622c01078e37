"""Debian arm64 with Debian's raspi-firmware: booting from the FAT firmware partition.

On a Raspberry Pi the firmware reads the FAT partition 1: config.txt names the kernel and the
initramfs that raspi-firmware's hooks copied there, cmdline.txt is the kernel command line
(`... root=/dev/mmcblk0p2 rw ...`: note `rw`). qemu has no Pi firmware, so the test bed plays
its part (testbed/raspi.py): before every boot it reads config.txt and cmdline.txt from the
disk image's FAT partition and hands the files they name to `qemu-system-aarch64 -M virt`;
root= moves to the virt machine's /dev/vda2, everything else of cmdline.txt is kept.
So what a guest (or a user with a card reader) wrote to the firmware partition is what the
next boot runs. The Pi's firmware, device tree and boot ROM themselves are not tested.

One image, boots in this order (each ~30-60 s under TCG; the two that rebuild an initrd in
the guest take minutes):

1. `first`   (active): read-only although cmdline.txt says `rw`; the disk is unchanged;
2. `exec`    (active): the first boot's write is gone (a second read-only boot); then
   `ro-root exec` adds an initramfs boot script: exec rebuilds the initrd, and
   raspi-firmware's hook copies it to /boot/firmware, the FAT partition;
3. `rebuilt` (active): booted from the new files: it ran the rebuilt initrd, read-only,
   and the disk is unchanged;
4. `once`    (skipped): `ro-root.disable-once` put on the FAT partition: one writable boot,
   which deletes the flag;
5. `cmdline` (skipped): `ro-root=disabled` added to cmdline.txt (then taken out again);
6. `remove`  (active): `ro-root exec apt-get remove ro-root`;
7. `plain`   (none): the firmware partition's new initrd has no ro-root: a plain boot.

(A separate second read-only boot before `exec` proved nothing that `exec`'s start and
`rebuilt` do not: it was dropped for issue 15, its checks moved to those boots.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import vmtest

from testbed import images, qemu, raspi

pytestmark = pytest.mark.vm

SPEC = images.ImageSpec(raspi=True)
# The flag file a user puts on the firmware partition for one writable boot.
ONCE_FLAG = "ro-root.disable-once"
# Booted kernels run under TCG; an initrd rebuilt in the guest (exec, removal) takes minutes.
REBUILD_TIMEOUT = 1500.0
MARK_SCRIPT = "scripts/init-bottom/rorootest-mark"


class Firmware:
    """What the firmware partition holds after a step: its files, and what it boots."""

    def __init__(self, disk: Path, workdir: Path) -> None:
        self.files = raspi.list_files(disk)
        self.kernel, self.cmdline = images.firmware_boot(disk, workdir)
        self.initrd_sha256 = images.file_sha256(self.kernel.initrd)


class RaspiBoots(vmtest.Steps):
    """The boots above, each run once on first demand, in order; with each the disk digest
    before and after it, and the firmware partition after it."""

    def __init__(self, image: images.Image) -> None:
        super().__init__()
        self.image = image
        self.before: dict[str, str] = {}
        self.after: dict[str, str] = {}
        self.firmware: dict[str, Firmware] = {}
        self._last: str | None = None
        self.steps = [
            ("first", self._plain("first", "active")),
            ("exec", self._plain("exec", "active", "rorootest.task=cmd-firmware")),
            ("rebuilt", self._plain("rebuilt", "active")),
            ("once", self._once),
            ("cmdline", self._cmdline),
            ("remove", self._plain("remove", "active", "rorootest.task=cmd-remove")),
            ("plain", self._plain("plain", "none")),
        ]

    def _boot(self, name: str, append: tuple[str, ...], expect: str) -> qemu.BootResult:
        # Hashing the disk takes seconds: the digest after the last boot serves as this one's
        # "before" unless the harness wrote to the disk since (_last is then None).
        self.before[name] = self._last or images.disk_digest(self.image.disk)
        try:
            return qemu.boot(self.image, append, expect=expect, timeout=REBUILD_TIMEOUT)
        finally:
            self.after[name] = self._last = images.disk_digest(self.image.disk)
            self.firmware[name] = Firmware(
                self.image.disk, self.image.directory / f"firmware-after-{name}"
            )

    def _plain(self, name: str, expect: str, *append: str) -> Callable[[], qemu.BootResult]:
        return lambda: self._boot(name, append, expect)

    def _write(self, name: str, content: bytes) -> None:
        self._last = None
        raspi.write_file(self.image.disk, name, content, self.image.directory)

    def _once(self) -> qemu.BootResult:
        self._write(ONCE_FLAG, b"")
        return self._boot("once", (), "skipped")

    def _cmdline(self) -> qemu.BootResult:
        """A writable boot asked for in cmdline.txt, as a user edits it on a Pi; then the file
        is put back as it was."""
        original = raspi.read_text(self.image.disk, "cmdline.txt")
        self._write("cmdline.txt", (original.rstrip("\n") + " ro-root=disabled\n").encode())
        try:
            return self._boot("cmdline", (), "skipped")
        finally:
            self._write("cmdline.txt", original.encode())


@pytest.fixture(scope="module")
def image(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> images.Image:
    problems = images.check_host(foreign=True)
    if problems:
        pytest.fail("arm64 VM tests cannot run on this host:\n  " + "\n  ".join(problems))
    return vmtest.prepare(SPEC, ro_root_deb, tmp_path_factory.mktemp("raspi"))


@pytest.fixture(scope="module")
def boots(image: images.Image) -> RaspiBoots:
    return RaspiBoots(image)


def fact(boot: qemu.BootResult, key: str) -> str:
    return boot.facts.get(f"cmd_{key}", "")


def out(boot: qemu.BootResult, key: str) -> str:
    return "\n".join(boot.numbered(f"cmd_{key}_out"))


def unchanged(boots: RaspiBoots, *names: str) -> list[str]:
    """A problem if the disk image changed during any of the boots NAMES, or between them."""
    digests = [(f"before '{names[0]}'", boots.before.get(names[0]))]
    digests += [(f"after '{name}'", boots.after.get(name)) for name in names]
    if len({digest for _, digest in digests}) == 1 and digests[0][1] is not None:
        return []
    listing = ", ".join(f"{when}: {digest}" for when, digest in digests)
    return [f"the read-only boots changed {boots.image.disk}: {listing}"]


# --- the image -------------------------------------------------------------------------------


def test_raspi_firmware_partition_boots_the_kernel_and_initrd_raspi_firmware_wrote(
    image: images.Image,
) -> None:
    """The firmware partition holds what raspi-firmware's hooks wrote when ro-root was
    installed: config.txt names this kernel and its initrd, which carries the payload."""
    files = raspi.list_files(image.disk)
    config = raspi.parse_config(raspi.read_text(image.disk, "config.txt"))
    kernel = image.newest
    problems = [f"{name} not on the firmware partition" for name in
                (config.kernel, config.initramfs, "cmdline.txt") if name not in files]  # fmt: skip
    if config.kernel != f"vmlinuz-{kernel.version}":
        problems.append(f"config.txt names kernel {config.kernel}")
    if config.initramfs != f"initrd.img-{kernel.version}":
        problems.append(f"config.txt names initramfs {config.initramfs}")
    if not image.initrd_rebuilt:
        problems.append("installing ro-root did not change the firmware partition's initrd")
    problems += [f"{path} not in {config.initramfs}" for path in vmtest.INITRD_PAYLOAD
                 if path not in kernel.initrd_files]  # fmt: skip
    assert not problems, problems


# --- read-only boots from the firmware partition ----------------------------------------------


def test_raspi_boot_is_read_only_although_cmdline_txt_says_rw(boots: RaspiBoots) -> None:
    boot = boots("first")
    words = boot.facts.get("cmdline", "").split()
    problems = vmtest.overlay_problems(boot)
    problems += [f"{word} not on the kernel command line" for word in
                 ("rw", "root=/dev/vda2", "console=ttyAMA0") if word not in words]  # fmt: skip
    if not any("says 'rw': mounting the root read-only" in line
               for line in boot.numbered("rorootlog")):  # fmt: skip
        problems.append("ro-root's log does not say it mounted the root read-only over 'rw'")
    problems += unchanged(boots, "first")
    vmtest.expect(boot, problems, "the first boot from the firmware partition")


def test_raspi_firmware_partition_is_mounted_read_only_at_a_read_only_boot(
    boots: RaspiBoots,
) -> None:
    boot = boots("first")
    mount = boot.facts.get("fw_mount_boot", "").split()
    problems = []
    if mount[:2] != [raspi.GUEST_FIRMWARE, "vfat"]:
        problems.append(f"/boot/firmware is {mount}, not {raspi.GUEST_FIRMWARE} (vfat)")
    elif "ro" not in mount[2].split(","):
        problems.append(f"/boot/firmware is mounted writable: {mount[2]}")
    vmtest.expect(boot, problems, "the firmware partition at a read-only boot")


def test_raspi_second_boot_forgets_the_first_and_the_disk_is_unchanged(
    boots: RaspiBoots,
) -> None:
    # The second read-only boot is exec's: its probe looks for the first boot's marker before
    # its task runs.
    boots("first")
    boot = boots("exec")
    problems = vmtest.overlay_problems(boot)
    problems += vmtest.facts_differ(boot, marker_before="absent")
    problems += unchanged(boots, "first")
    vmtest.expect(boot, problems, "the second read-only boot")


# --- maintenance through exec ---------------------------------------------------------------


def test_raspi_exec_rebuilds_the_initrd_on_the_firmware_partition(boots: RaspiBoots) -> None:
    boot = boots("exec")
    after = boots.firmware["exec"]
    before = boots.firmware["first"]
    problems = []
    if fact(boot, "fw_exec_rc") != "0":
        problems.append(f"ro-root exec failed ({fact(boot, 'fw_exec_rc')}): {out(boot, 'fw_exec')}")
    if fact(boot, "fw_written") != "no":
        problems.append("a file could be written to /boot/firmware outside exec")
    if fact(boot, "fw_initrd_after") == fact(boot, "fw_initrd_before"):
        problems.append("the guest's /boot/firmware initrd did not change through exec")
    if after.initrd_sha256 == before.initrd_sha256:
        problems.append("the firmware partition's initrd is the one before exec")
    # raspi-firmware's hook wrote cmdline.txt anew in the window: its root= must still be the
    # real root (the hook asks findmnt), not the overlay of the running system.
    if "root=/dev/vda2" not in after.cmdline:
        problems.append(f"cmdline.txt after exec: {' '.join(after.cmdline)}")
    if MARK_SCRIPT not in after.kernel.initrd_files:
        problems.append(f"the firmware partition's initrd lacks the added {MARK_SCRIPT}")
    problems += [f"{path} not in the rebuilt initrd" for path in vmtest.INITRD_PAYLOAD
                 if path not in after.kernel.initrd_files]  # fmt: skip
    # The copy the firmware reads is the initrd update-initramfs built: status does not warn.
    if "the boot loader reads" in out(boot, "fw_status"):
        problems.append(f"ro-root status after exec: {out(boot, 'fw_status')}")
    if fact(boot, "fw_mounts_below_ro"):
        problems.append(f"mounts left below /ro after exec: {fact(boot, 'fw_mounts_below_ro')}")
    if "ro" not in fact(boot, "fw_ro_after").split(","):
        problems.append(f"/ro after exec: {fact(boot, 'fw_ro_after')}")
    vmtest.expect(boot, problems, "exec that rebuilds the initrd")


def test_raspi_next_boot_runs_the_rebuilt_initrd_read_only(boots: RaspiBoots) -> None:
    wrote, boot = boots("exec"), boots("rebuilt")
    problems = vmtest.overlay_problems(boot)
    if boot.facts.get("initrd_mark") != wrote.facts.get("boot_id"):
        problems.append(
            f"the boot did not run the initrd rebuilt by exec: initrd_mark is "
            f"{boot.facts.get('initrd_mark')!r}, exec's boot was {wrote.facts.get('boot_id')!r}"
        )
    problems += unchanged(boots, "rebuilt")
    vmtest.expect(boot, problems, "the boot after exec rebuilt the initrd")


# --- one writable boot ----------------------------------------------------------------------


def test_raspi_disable_once_flag_on_the_firmware_partition_gives_one_writable_boot(
    boots: RaspiBoots,
) -> None:
    boot = boots("once")
    problems = vmtest.plain_writable_problems(boot, "once")
    if ONCE_FLAG in boots.firmware["once"].files:
        problems.append(f"{ONCE_FLAG} is still on the firmware partition after its boot")
    vmtest.expect(boot, problems, f"the boot with {ONCE_FLAG} on the firmware partition")
    # The boot after it is read-only again.
    vmtest.expect_overlay(boots("remove"))


def test_raspi_ro_root_disabled_in_cmdline_txt_gives_a_writable_boot(boots: RaspiBoots) -> None:
    boot = boots("cmdline")
    problems = vmtest.plain_writable_problems(boot, "ro-root=disabled")
    if "ro-root=disabled" not in boot.facts.get("cmdline", "").split():
        problems.append("ro-root=disabled from cmdline.txt is not on the kernel command line")
    vmtest.expect(boot, problems, "the boot with ro-root=disabled in cmdline.txt")


# --- removal ----------------------------------------------------------------------------------


def test_raspi_removal_through_exec_gives_a_plain_boot_from_the_firmware_partition(
    boots: RaspiBoots,
) -> None:
    remove, plain = boots("remove"), boots("plain")
    problems = []
    if fact(remove, "remove_rc") != "0":
        problems.append(f"ro-root exec apt-get remove failed: {out(remove, 'remove')}")
    if fact(remove, "remove_status") not in ("rc", "un"):
        problems.append(f"ro-root's package status after removal: {fact(remove, 'remove_status')}")
    firmware = boots.firmware["remove"]
    left = [p for p in vmtest.INITRD_PAYLOAD if p in firmware.kernel.initrd_files]
    if left:
        problems.append(f"the firmware partition's initrd still has ro-root: {left}")
    problems += vmtest.facts_differ(plain, rorootstate="none", root_fstype="ext4", write_ok="yes")
    vmtest.expect(plain, problems, "removal through exec, then a boot")
