"""Raspberry Pi style disks for the arm64 test images (Debian's raspi-firmware).

On a Pi the boot ROM and the GPU firmware read the FAT firmware partition: config.txt names
the kernel and the initramfs (as Debian's raspi-firmware writes them), cmdline.txt holds the
kernel command line, and the root is on partition 2. qemu has no Pi firmware: its `virt`
machine boots what `-kernel`, `-initrd` and `-append` hand it. So the test bed plays the
firmware's part: it reads config.txt and cmdline.txt from the FAT partition of the disk image
(mtools, no mount, no root), copies out the files they name, and hands those to qemu. What
the guest wrote to its firmware partition (a rebuilt initrd, a flag file) is exactly what the
next boot gets; the Pi's own firmware, its device tree and its boot ROM are not tested.

The disk is an MBR disk as on a Pi's SD card: partition 1 FAT32 (type 0c, /boot/firmware),
partition 2 the ext4 root. qemu's virt machine shows it as /dev/vda.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ro_root.errors import die
from ro_root.proc import require, run

MIB = 1024 * 1024
SECTOR = 512
# Partition 1 from 1 MiB (as Raspberry Pi OS images and the usual partitioning tools align
# it), 256 MiB: raspi-firmware's files and two kernels with their initrds fit.
FIRMWARE_START = 1 * MIB
FIRMWARE_SIZE = 256 * MIB
ROOT_START = FIRMWARE_START + FIRMWARE_SIZE
FIRMWARE_LABEL = "RASPIFIRM"
ROOT_LABEL = "root"
# MBR partition types that are FAT (what a Pi's boot ROM reads).
FAT_TYPES = frozenset({"b", "c", "e", "6"})
# The device names of the partitions in the guest (qemu virt, one virtio disk).
GUEST_DISK = "/dev/vda"
GUEST_FIRMWARE = "/dev/vda1"
GUEST_ROOT = "/dev/vda2"
# What the harness adds to cmdline.txt: the virt machine's serial console (a Pi's is ttyS0
# or ttyAMA0 by model, and cmdline.txt names only tty0), and no reboot after a panic.
HARNESS_CMDLINE = ("console=ttyAMA0", "panic=-1")
# On a Pi with an SD card, root=/dev/mmcblk0p2; the virt machine has no SD card.
PI_ROOT_PREFIX = "root=/dev/mmcblk0p"
# mtools refuses an image whose size is no multiple of its idea of a track without this.
_MTOOLS_ENV = {"MTOOLS_SKIP_CHECK": "1"}


@dataclass(frozen=True)
class FirmwareConfig:
    """What the firmware reads in config.txt: the kernel, the initramfs, the cmdline file."""

    kernel: str
    initramfs: str
    cmdline: str = "cmdline.txt"


# Filters of config.txt sections that apply to the board qemu stands in for: a Pi 4 (64-bit,
# what Debian's arm64 raspi-firmware and kernel support best). Others ([pi3], [pi02], [cm4],
# [none], ...) are skipped, as that board's firmware skips them.
_APPLIES = frozenset({"all", "pi4"})


def parse_config(text: str) -> FirmwareConfig:
    """config.txt: `kernel=FILE`, `initramfs FILE [followkernel|ADDRESS]` (also with `=`),
    `cmdline=FILE`, in the sections that apply to a Pi 4; the last setting wins, as with the
    firmware. A config without an initramfs is an error here: ro-root lives in the initrd.
    """
    values: dict[str, str] = {}
    applies = True
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        section = re.fullmatch(r"\[([^\]]*)\]", line)
        if section:
            applies = section.group(1).strip().lower() in _APPLIES
            continue
        if not applies:
            continue
        match = re.fullmatch(r"initramfs[ \t=]+(\S+)(?:[ \t]+\S+)?", line)
        if match:
            values["initramfs"] = match.group(1)
            continue
        key, sep, value = line.partition("=")
        if sep and key.strip() in ("kernel", "cmdline"):
            if not value.strip() or "/" in value.strip():
                die(f"config.txt line {number}: bad {key.strip()}: {raw!r}")
            values[key.strip()] = value.strip()
    if "initramfs" not in values:
        die("config.txt names no initramfs (ro-root needs the initrd the firmware loads)")
    if "/" in values["initramfs"]:
        die(f"config.txt: initramfs {values['initramfs']!r} is not a file of the partition")
    return FirmwareConfig(
        # The 64-bit firmware's default kernel file.
        kernel=values.get("kernel", "kernel8.img"),
        initramfs=values["initramfs"],
        cmdline=values.get("cmdline", "cmdline.txt"),
    )


def boot_cmdline(cmdline_txt: str) -> tuple[str, ...]:
    """The kernel command line the harness hands qemu for CMDLINE_TXT (cmdline.txt's text):
    its words (the file is one line), root= moved from a Pi's SD card to the virt machine's
    disk, then HARNESS_CMDLINE. Everything else, `rw` included, is given as the file says.
    """
    lines = [line for line in cmdline_txt.splitlines() if line.strip()]
    if len(lines) != 1:
        die(f"cmdline.txt must be one line, it has {len(lines)}")
    words = []
    for word in lines[0].split():
        if word.startswith(PI_ROOT_PREFIX):
            word = f"root={GUEST_DISK}{word.removeprefix(PI_ROOT_PREFIX)}"
        words.append(word)
    return (*words, *HARNESS_CMDLINE)


# --- the disk image ------------------------------------------------------------------------


def make_disk(tree: Path, disk: Path, size: int) -> None:
    """DISK (SIZE bytes, sparse): partition 1 FAT32 with what TREE/boot/firmware holds,
    partition 2 ext4 with the rest of TREE (its /boot/firmware left empty: the mount point).
    Made without loop devices or mounts: sfdisk, mkfs.vfat and mke2fs at offsets, mcopy.
    """
    for program, package in (
        ("sfdisk", "fdisk"),
        ("mkfs.vfat", "dosfstools"),
        ("mcopy", "mtools"),
        ("mke2fs", "e2fsprogs"),
    ):
        require(program, package)
    firmware = tree / "boot" / "firmware"
    if not firmware.is_dir() or not any(firmware.iterdir()):
        die(f"{firmware}: empty or missing (is raspi-firmware installed in the image?)")
    if size <= ROOT_START + 512 * MIB:
        die(f"a {size}-byte disk has no room for a root partition after the firmware partition")
    disk.unlink(missing_ok=True)
    with disk.open("wb") as stream:
        stream.truncate(size)
    run(
        ["sfdisk", "--quiet", disk],
        input=(
            "label: dos\n"
            f"start={FIRMWARE_START // SECTOR}, size={FIRMWARE_SIZE // SECTOR}, type=c\n"
            f"start={ROOT_START // SECTOR}, type=83\n"
        ),
        capture=True,
    )
    run(
        [
            "mkfs.vfat", "-F", "32", "-s", "1", "-n", FIRMWARE_LABEL,
            f"--offset={FIRMWARE_START // SECTOR}", disk, str(FIRMWARE_SIZE // 1024),
        ],
        capture=True,
    )  # fmt: skip
    entries = sorted(firmware.iterdir())
    run(["mcopy", "-s", "-m", "-i", fat(disk), *entries, "::/"], capture=True, env=_MTOOLS_ENV)
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    root_kib = (size - ROOT_START) // 1024
    run(
        [
            "mke2fs", "-q", "-t", "ext4", "-L", ROOT_LABEL, "-E", f"offset={ROOT_START}",
            "-d", tree, disk, f"{root_kib}k",
        ],
        capture=True,
    )  # fmt: skip
    if disk.stat().st_size != size:
        die(f"{disk}: mke2fs changed the disk image's size")


def firmware_offset(disk: Path) -> int:
    """The byte offset of partition 1, read from DISK's partition table; it must be FAT."""
    require("sfdisk", "fdisk")
    table = json.loads(run(["sfdisk", "--json", disk], capture=True).stdout)["partitiontable"]
    partitions = table.get("partitions", [])
    if table.get("label") != "dos" or not partitions:
        die(f"{disk}: not an MBR disk with partitions (a Pi boots from an MBR partition 1)")
    first = partitions[0]
    if first.get("type", "").lower() not in FAT_TYPES:
        die(f"{disk}: partition 1 has type {first.get('type')}, not a FAT type")
    return int(first["start"]) * int(table.get("sectorsize", SECTOR))


def fat(disk: Path) -> str:
    """mtools' name of DISK's firmware partition (-i IMAGE@@OFFSET)."""
    if "@" in str(disk):
        die(f"{disk}: mtools cannot take an image path with '@'")
    return f"{disk}@@{firmware_offset(disk) if disk.exists() else FIRMWARE_START}"


def read_text(disk: Path, name: str) -> str:
    """The text file NAME of DISK's firmware partition (config.txt, cmdline.txt)."""
    require("mtype", "mtools")
    if "/" in name or not name:
        die(f"not a file name of the firmware partition: {name!r}")
    proc = run(["mtype", "-i", fat(disk), f"::/{name}"], check=False, capture=True,
               env=_MTOOLS_ENV)  # fmt: skip
    if proc.returncode != 0:
        die(f"{disk}: cannot read {name} from the firmware partition: {proc.stderr.strip()}")
    return proc.stdout


def copy_out(disk: Path, name: str, dest: Path) -> Path:
    """Copy the file NAME of DISK's firmware partition to DEST (binary-safe)."""
    if "/" in name or not name:
        die(f"not a file name of the firmware partition: {name!r}")
    dest.unlink(missing_ok=True)
    run(["mcopy", "-n", "-i", fat(disk), f"::/{name}", dest], capture=True, env=_MTOOLS_ENV)
    if not dest.is_file():
        die(f"{disk}: mcopy did not copy {name} out of the firmware partition")
    return dest


def write_file(disk: Path, name: str, content: bytes, workdir: Path) -> None:
    """Put NAME with CONTENT on DISK's firmware partition (as a user with a card reader
    does between two boots), replacing a file of that name."""
    if "/" in name or not name:
        die(f"not a file name of the firmware partition: {name!r}")
    staging = workdir / f".fat-{name}"
    staging.write_bytes(content)
    try:
        run(["mcopy", "-o", "-i", fat(disk), staging, f"::/{name}"], capture=True,
            env=_MTOOLS_ENV)  # fmt: skip
    finally:
        staging.unlink(missing_ok=True)


def list_files(disk: Path) -> frozenset[str]:
    """The names in the root directory of DISK's firmware partition (as written, long names)."""
    require("mdir", "mtools")
    proc = run(["mdir", "-b", "-i", fat(disk), "::/"], capture=True, env=_MTOOLS_ENV)
    return frozenset(line.strip().removeprefix("::/") for line in proc.stdout.splitlines()
                     if line.strip())  # fmt: skip
