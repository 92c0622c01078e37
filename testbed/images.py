"""Test images: Debian minbase trees made with mmdebstrap, a .deb installed, an ext4 disk.

Two steps, each usable alone:

1. `base_tarball(spec)` builds a minbase Debian tarball with mmdebstrap, customized by
   `vmfiles/customize.sh` (fstab, hostname, the probe or a demo root password), and caches it
   under `cache_dir()` keyed by a hash of everything that shapes it.
2. `prepare_image(spec, debs, workdir)` unpacks that tarball, installs local .debs with apt in a
   chroot (which rebuilds the initrd at native speed), copies out the kernel and the initrd
   and makes an ext4 disk image of the tree with `mke2fs -d`.

Booting an image is `testbed.qemu`'s part.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import gzip
import hashlib
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import tarfile
import time
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from debian.debian_support import Version as DebianVersion

from ro_root.errors import die
from ro_root.proc import require, run
from testbed import raspi

log = logging.getLogger("ro-root")

VMFILES = Path(__file__).resolve().parent / "vmfiles"
# The hooks and files of the arm64 images with Debian's raspi-firmware only: hashed into
# those images' cache key, and no other's.
RASPI_VMFILES = VMFILES / "raspi"
DEFAULT_CACHE = Path("/var/cache/ro-root-tests")
CACHE_ENV = "RO_ROOT_TEST_CACHE"
DISK_SIZE = 3 * 1024**3
# The init-bottom script as lsinitramfs lists it: present iff the initrd carries ro-root.
PAYLOAD_IN_INITRD = "scripts/init-bottom/ro-root"
# The same for a dracut initrd (lsinitrd): the dracut module's pre-pivot hook.
DRACUT_PAYLOAD_IN_INITRD = "var/lib/dracut/hooks/pre-pivot/50-ro-root-pre-pivot.sh"
# Suites whose mirror's Release may be past its Valid-Until (Debian testing: forky).
NO_VALID_UNTIL = frozenset({"forky"})
# Installed into each image when it is prepared, so that editing the probe does not
# invalidate the cached base tarballs (it is left out of their cache key).
PROBE = "ro-root-probe"

# Host programs the harness (this module and testbed.qemu) runs, with their Debian packages.
HOST_PROGRAMS = {
    "mmdebstrap": "mmdebstrap",
    "qemu-system-x86_64": "qemu-system-x86",
    "mke2fs": "e2fsprogs",
    "tar": "tar",
    "chroot": "coreutils",
    "mount": "mount",
    "umount": "mount",
    "debugfs": "e2fsprogs",
    "lsinitramfs": "initramfs-tools-core",
}
# What the arm64 (raspi-firmware) images need on top: qemu-user through binfmt_misc to run
# the image's programs, the emulator, and the tools of the partitioned disk with its FAT
# firmware partition (testbed.raspi).
FOREIGN_HOST_PROGRAMS = {
    "qemu-aarch64-static": "qemu-user-static",
    "qemu-system-aarch64": "qemu-system-arm",
    "sfdisk": "fdisk",
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
    "mdir": "mtools",
    "mtype": "mtools",
    # lsinitramfs of the initrd copied off the firmware partition.
    "zstd": "zstd",
}

_CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "DEBIAN_FRONTEND": "noninteractive",
    "LC_ALL": "C",
}
_BUSYBOX_PACKAGES = ("busybox", "busybox-static")


@dataclass(frozen=True)
class ImageSpec:
    """What goes into a base image (everything except the .debs under test)."""

    suite: str = "bookworm"
    init: Literal["systemd", "sysvinit"] = "systemd"
    busybox: bool = False
    extra_packages: tuple[str, ...] = ()
    # Also install the suite's backports kernel: an image with two kernels, the distribution's
    # one being the older.
    backports_kernel: bool = False
    # True: test image (probe runs at boot, prints facts, powers off; no getty on ttyS0).
    # False: demo image (no probe, getty on ttyS0, root password "root").
    probe: bool = True
    # arm64 with Debian's raspi-firmware: built through qemu-user, a partitioned disk whose
    # FAT partition 1 (/boot/firmware) holds what raspi-firmware wrote, booted on qemu's
    # virt machine from those files (testbed.raspi). Left out of repr(), which cache_key()
    # hashes, so that adding it kept every cached amd64 tarball; the mmdebstrap command,
    # also hashed, carries it (--arch=arm64 and the raspi hooks).
    raspi: bool = field(default=False, repr=False)
    # The initramfs generator the image has. Left out of repr(), which cache_key() hashes,
    # so that the cached tarballs of the initramfs-tools images keep their keys: a dracut
    # image's mmdebstrap command (its packages) differs anyway, and so does its key.
    generator: Literal["initramfs-tools", "dracut"] = field(default="initramfs-tools", repr=False)

    def __post_init__(self) -> None:
        if self.init not in ("systemd", "sysvinit"):
            die(f"ImageSpec.init must be systemd or sysvinit, not {self.init!r}")
        if self.raspi and (self.init != "systemd" or self.busybox or self.backports_kernel):
            die("ImageSpec: a raspi image is systemd, without busybox or backports kernel")
        if self.generator not in ("initramfs-tools", "dracut"):
            die(f"ImageSpec.generator must be initramfs-tools or dracut, not {self.generator!r}")
        for name in (self.suite, *self.extra_packages):
            if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", name):
                die(f"ImageSpec: not a Debian suite or package name: {name!r}")

    @property
    def mode(self) -> str:
        return "probe" if self.probe else "demo"

    @property
    def arch(self) -> str:
        """The image's Debian architecture."""
        return "arm64" if self.raspi else "amd64"

    def packages(self) -> list[str]:
        """The packages mmdebstrap --include gets, on top of minbase."""
        packages = [f"linux-image-{self.arch}", self.generator, "udev", "kmod"]
        if self.raspi:
            packages.append("raspi-firmware")
        if self.init == "systemd":
            packages.append("systemd-sysv")
        else:
            packages += ["sysvinit-core", "initscripts", "orphan-sysvinit-scripts"]
        if self.busybox:
            packages.append("busybox")
        packages += self.extra_packages
        return packages


DEMO_SPEC = ImageSpec(probe=False)


@dataclass(frozen=True)
class Kernel:
    """One kernel installed in an image, with its initrd, copied out for qemu's -kernel/-initrd."""

    version: str
    vmlinuz: Path
    initrd: Path
    # What the initrd holds (lsinitramfs), without a leading "./".
    initrd_files: frozenset[str]

    @property
    def has_payload(self) -> bool:
        return bool({PAYLOAD_IN_INITRD, DRACUT_PAYLOAD_IN_INITRD} & self.initrd_files)


@dataclass(frozen=True)
class Image:
    """A bootable disk image with its kernels and initrds taken out of it."""

    spec: ImageSpec
    directory: Path
    disk: Path
    debs: tuple[Path, ...]
    # Every installed kernel, newest first; boot() uses the newest unless told otherwise.
    kernels: tuple[Kernel, ...]
    # The newest initrd differs from the base tarball's: installing the debs rebuilt it.
    initrd_rebuilt: bool
    # A UEFI image (layout="uefi"): this image's copy of OVMF's variable store. Booted by OVMF
    # and GRUB from the disk, never with qemu's -kernel.
    uefi_vars: Path | None = None
    # A UEFI image's root file system (root=UUID=... for a boot with the kernel handed to qemu).
    root_uuid: str = ""

    @property
    def newest(self) -> Kernel:
        return self.kernels[0]

    @property
    def kernel(self) -> Path:
        return self.newest.vmlinuz

    @property
    def initrd(self) -> Path:
        return self.newest.initrd

    @property
    def initrd_files(self) -> frozenset[str]:
        return self.newest.initrd_files

    def find_kernel(self, version: str) -> Kernel:
        for kernel in self.kernels:
            if kernel.version == version:
                return kernel
        die(f"{self.disk}: no kernel {version} (has {', '.join(k.version for k in self.kernels)})")


def cache_dir() -> Path:
    """Where base tarballs are kept: $RO_ROOT_TEST_CACHE or /var/cache/ro-root-tests."""
    value = os.environ.get(CACHE_ENV)
    return Path(value) if value else DEFAULT_CACHE


def check_host(foreign: bool = False) -> list[str]:
    """What this host lacks to build and boot test images (empty if nothing); FOREIGN: the
    arm64 (raspi) images too."""
    programs = {**HOST_PROGRAMS, **(FOREIGN_HOST_PROGRAMS if foreign else {})}
    problems = [
        f"{program} not found (apt-get install {package})"
        for program, package in programs.items()
        if shutil.which(program) is None
    ]
    if os.geteuid() != 0:
        problems.append(
            "not running as root: unpacking images with their owners, chroot and "
            "bind mounts need root"
        )
    return problems


BINFMT = Path("/proc/sys/fs/binfmt_misc")
BINFMT_CONF = Path("/usr/lib/binfmt.d")
_QEMU_USER = {"arm64": "aarch64"}


def ensure_foreign_arch(arch: str, binfmt: Path = BINFMT, conf: Path = BINFMT_CONF) -> None:
    """Make this host run ARCH's programs through qemu-user, as mmdebstrap --arch and a chroot
    into the image need; nothing if it does already.

    Debian 12's qemu-user-static registers its interpreters through systemd-binfmt, which
    does not run on every host (not in a container, nor where binfmt_misc is not mounted):
    mount binfmt_misc and register the package's own entry by hand. Once per boot of the host.
    """
    name = _QEMU_USER.get(arch)
    if name is None:
        die(f"no qemu-user interpreter known for architecture {arch!r}")
    entry = binfmt / f"qemu-{name}"
    if entry.is_file():
        if entry.read_text().splitlines()[0] != "enabled":
            die(f"{entry} is registered but disabled", hint=f"echo 1 >{entry}")
        return
    source = conf / f"qemu-{name}.conf"
    if not source.is_file():
        die(f"{source} not found", hint="apt-get install qemu-user-static")
    if not (binfmt / "register").exists():
        run(["mount", "-t", "binfmt_misc", "binfmt_misc", binfmt])
    lines = [ln for ln in source.read_text().splitlines() if ln and not ln.startswith("#")]
    if len(lines) != 1:
        die(f"{source}: expected one binfmt_misc entry, found {len(lines)}")
    log.info("binfmt_misc: registering %s from %s", entry.name, source)
    # FileExistsError: another run registered it meanwhile.
    with contextlib.suppress(FileExistsError):
        (binfmt / "register").write_text(lines[0] + "\n")
    if not entry.is_file():
        die(f"registering {source} in {binfmt} did not create {entry}")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(4 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


DIGEST_CHUNK = 64 * 1024
_ZEROS = bytes(DIGEST_CHUNK)


def disk_digest(path: Path) -> str:
    """A sha256 of the content of the sparse disk image PATH that reads only where data is.

    The file is cut in chunks of DIGEST_CHUNK bytes at fixed offsets; the digest covers the
    file's size and the offset and bytes of every chunk that is not all zeros. Holes read as
    zeros and are not read at all (SEEK_DATA/SEEK_HOLE). So two digests are equal exactly when
    the two contents are, byte for byte, as with a sha256 of every byte, however the file
    system happens to map the file: a read of an unwritten extent (the ext4 journal that
    mke2fs preallocates, read by the guest's mount) makes it "data" in the page cache
    without changing a byte, and must not count as a change. A 3 GiB test image holds
    about 0.9 GiB of data: this reads a third of what file_sha256() reads.
    """
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        descriptor = stream.fileno()
        size = os.fstat(descriptor).st_size
        digest.update(f"size {size}\n".encode())
        offset = 0  # every chunk before this one is done
        while offset < size:
            try:
                start = os.lseek(descriptor, offset, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # nothing but a hole up to the end
                    break
                raise
            end = os.lseek(descriptor, start, os.SEEK_HOLE)
            chunk_at = max(offset, start - start % DIGEST_CHUNK)
            stream.seek(chunk_at)
            while chunk_at < end:
                chunk = stream.read(DIGEST_CHUNK)
                if not chunk:
                    die(f"{path}: shorter than its data extents say (changed while read?)")
                if chunk != _ZEROS[: len(chunk)]:
                    digest.update(f"{chunk_at} {len(chunk)}\n".encode())
                    digest.update(chunk)
                chunk_at += len(chunk)
            offset = chunk_at
    return digest.hexdigest()


# --- 1. base tarball -----------------------------------------------------------------------


def mmdebstrap_argv(
    spec: ImageSpec, output: Path, vmfiles: Path = VMFILES, extra: Sequence[str] = ()
) -> list[str]:
    """The mmdebstrap command for SPEC; EXTRA options (hooks, ...) go before the suite.

    Without EXTRA the command is what cache_key() hashes: keep it so, or every cached base
    tarball is rebuilt.
    """
    # mmdebstrap runs the hook with sh -c and the chroot directory as "$1".
    kernel = "backports" if spec.backports_kernel else "distribution"
    hook = f'sh {shlex.quote(str(vmfiles / "customize.sh"))} "$1" {spec.mode} {spec.init} {kernel}'
    foreign: list[str] = []
    if spec.raspi:
        raspi = vmfiles / RASPI_VMFILES.name
        foreign = [
            "--arch=arm64",
            # raspi-firmware is in non-free-firmware.
            "--components=main,non-free-firmware",
            # Small initrds, set before the kernel is installed (see the hook).
            f'--essential-hook=sh {shlex.quote(str(raspi / "initramfs.sh"))} "$1"',
        ]
    # The option stays in the image (apt in the chroot reads the same lists later).
    aptopts = (
        ['--aptopt=Acquire::Check-Valid-Until "false"'] if spec.suite in NO_VALID_UNTIL else []
    )
    return [
        "mmdebstrap",
        "--variant=minbase",
        "--format=tar",
        # Package lists stay, so that apt can resolve a .deb's dependencies later.
        "--skip=cleanup/apt/lists",
        *foreign,
        *aptopts,
        f"--include={','.join(spec.packages())}",
        f"--customize-hook={hook}",
        # After customize.sh: mmdebstrap runs the hooks of one kind in the order given.
        *(
            [f'--customize-hook=sh {shlex.quote(str(vmfiles / "raspi" / "customize.sh"))} "$1"']
            if spec.raspi
            else []
        ),
        *extra,
        spec.suite,
        str(output),
    ]


def cache_key(spec: ImageSpec) -> str:
    """A hash of the spec, the mmdebstrap command and the guest-side files it installs."""
    digest = hashlib.sha256()
    argv = mmdebstrap_argv(spec, Path("OUT"), Path("VMFILES"))
    digest.update(json.dumps([repr(spec), argv]).encode())
    for path in sorted(p for p in VMFILES.iterdir() if p.name != PROBE and p.is_file()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    if spec.raspi:
        for path in sorted(RASPI_VMFILES.iterdir()):
            digest.update(b"raspi/" + path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def base_tarball(spec: ImageSpec, *, cache: Path | None = None) -> Path:
    """The cached base tarball for SPEC, built with mmdebstrap if missing."""
    cache = cache or cache_dir()
    # Tarballs of one family replace each other; each variant of a spec is a family of its own.
    family = "-".join(
        [
            f"base-{spec.suite}-{spec.init}-{spec.mode}",
            *(["arm64-raspi"] if spec.raspi else []),
            *(["busybox"] if spec.busybox else []),
            *(["bpo"] if spec.backports_kernel else []),
            *(["dracut"] if spec.generator == "dracut" else []),
            *(["extra", *spec.extra_packages] if spec.extra_packages else []),
        ]
    )
    target = cache / f"{family}-{cache_key(spec)}.tar"
    if target.is_file():
        log.info("base image: %s (cached)", target)
        return target
    require("mmdebstrap", "mmdebstrap")
    if spec.raspi:
        ensure_foreign_arch(spec.arch)
    cache.mkdir(parents=True, exist_ok=True)
    # Test runs in parallel (pytest-xdist workers, other checkouts) build a missing tarball
    # once: the others wait for it.
    with _locked(cache / f".{family}.lock"):
        if target.is_file():
            log.info("base image: %s (built meanwhile by another run)", target)
            return target
        _build_base_tarball(spec, family, target)
    return target


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on the file PATH (created) for the duration, waiting for it."""
    with path.open("a") as stream:
        fcntl.flock(stream, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(stream, fcntl.LOCK_UN)


def _build_base_tarball(spec: ImageSpec, family: str, target: Path) -> None:
    cache = target.parent
    partial = cache / f".{target.stem}.{os.getpid()}.partial.tar"
    started = time.monotonic()
    log.info("base image: building %s with mmdebstrap", target.name)
    try:
        run(mmdebstrap_argv(spec, partial))
        _check_busybox(spec, _installed_from_tar(partial), f"base tarball {partial}")
        partial.rename(target)
    finally:
        partial.unlink(missing_ok=True)
    # Each is about 700 MB: drop the ones this spec's older probe or options produced.
    # Only this family's own names: "base-bookworm-systemd-probe-*" would also match the
    # busybox and backports variants, which are families of their own.
    own = re.compile(re.escape(family) + r"-[0-9a-f]{16}\.tar")
    for stale in cache.glob(f"{family}-*.tar"):
        if stale != target and own.fullmatch(stale.name):
            log.info("base image: removing outdated %s", stale)
            stale.unlink(missing_ok=True)
    log.info("base image: built in %.0f s", time.monotonic() - started)


def build_tarball(spec: ImageSpec, output: Path, extra: Sequence[str]) -> Path:
    """An uncached tarball of SPEC, mmdebstrap given the EXTRA options (e.g. hooks that add
    an apt repository and preseed debconf): for images whose inputs change at every run."""
    require("mmdebstrap", "mmdebstrap")
    partial = output.with_name(f".{output.name}.partial.tar")
    started = time.monotonic()
    try:
        run(mmdebstrap_argv(spec, partial, extra=extra))
        _check_busybox(spec, _installed_from_tar(partial), f"tarball {partial}")
        partial.rename(output)
    finally:
        partial.unlink(missing_ok=True)
    log.info("image tarball: %s built in %.0f s", output, time.monotonic() - started)
    return output


def _parse_dpkg_status(text: str) -> set[str]:
    installed: set[str] = set()
    for stanza in text.split("\n\n"):
        fields = dict(
            line.split(":", 1) for line in stanza.splitlines() if ":" in line and line[0] != " "
        )
        if fields.get("Status", "").strip() == "install ok installed":
            installed.add(fields.get("Package", "").strip())
    return installed


def _installed_from_tar(tarball: Path) -> set[str]:
    with tarfile.open(tarball) as archive:
        for member in archive:
            if member.name.lstrip("./") == "var/lib/dpkg/status":
                stream = archive.extractfile(member)
                if stream is not None:
                    return _parse_dpkg_status(stream.read().decode())
    die(f"{tarball}: no var/lib/dpkg/status in the tarball")


def _check_busybox(spec: ImageSpec, installed: set[str], where: str) -> None:
    found = sorted(installed.intersection(_BUSYBOX_PACKAGES))
    if spec.busybox and not found:
        die(f"{where}: busybox was asked for but is not installed")
    if not spec.busybox and found:
        die(
            f"{where}: {', '.join(found)} is installed but the image must have no busybox",
            hint="something pulled it in: check the .debs' and extra packages' dependencies",
        )


# --- 2. scenario image ---------------------------------------------------------------------


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve()).rstrip("/") + "/"
    mounts: list[str] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
        if (point + "/").startswith(prefix):
            mounts.append(point)
    return mounts


def _remove_tree(tree: Path) -> None:
    """Delete an unpacked image tree, but never through a mount into the host."""
    mounts = _mounts_under(tree)
    if mounts:
        die(
            f"refusing to delete {tree}: still mounted: {' '.join(mounts)}",
            hint=f"unmount them first: umount -R {' '.join(mounts)}",
        )
    shutil.rmtree(tree)


@contextmanager
def chroot_mounts(root: Path) -> Iterator[None]:
    """/proc, /sys and /dev (with /dev/pts) inside ROOT for the duration; always unmounted.

    /dev is a recursive bind made a slave, so that nothing mounted or unmounted under it in
    the chroot propagates back to the host's /dev (on hosts where / is a shared mount).
    ROOT may itself be a mount point (a loop-mounted disk image): only what is below it counts.
    """
    mounted: list[Path] = []
    try:
        run(["mount", "-t", "proc", "proc", root / "proc"])
        mounted.append(root / "proc")
        run(["mount", "-t", "sysfs", "sysfs", root / "sys"])
        mounted.append(root / "sys")
        run(["mount", "--rbind", "/dev", root / "dev"])
        mounted.append(root / "dev")
        run(["mount", "--make-rslave", root / "dev"])
        yield
    finally:
        for target in reversed(mounted):
            if run(["umount", "-R", target], check=False).returncode != 0:
                run(["umount", "-R", "--lazy", target], check=False)
        # Only what this mounted: ROOT itself may be a mount point (a loop-mounted disk image)
        # with other file systems of the image mounted below it (/boot, /boot/efi).
        own = [str(target.resolve()) for target in (root / "proc", root / "sys", root / "dev")]
        left = [m for m in _mounts_under(root) if any(m == o or m.startswith(o + "/") for o in own)]
        if left:
            die(f"could not unmount {' '.join(left)}", hint="unmount them by hand")


@contextmanager
def loop_mounted(disk: Path, point: Path) -> Iterator[Path]:
    """The raw disk image DISK loop-mounted on POINT, with chroot_mounts() inside, for the
    duration (offline work on a test image: a killed upgrade, an initrd rebuilt in a chroot).

    Always unmounted; an image still mounted after a few tries is an error, never a lazy
    unmount: the image is booted next, and must not change under qemu.
    """
    point.mkdir(exist_ok=True)
    run(["mount", "-o", "loop", disk, point])
    try:
        with chroot_mounts(point):
            yield point
    finally:
        _umount(point, f"loop-mounted {disk}")


def _umount(point: Path, what: str) -> None:
    """Unmount POINT (WHAT, for the message), retrying a few times; never lazily: a disk image
    is booted next, and must not change under qemu."""
    for _ in range(5):
        if run(["umount", point], check=False, capture=True).returncode == 0:
            return
        time.sleep(1)
    die(f"could not unmount {point} ({what})", hint=f"umount {point}")


def _newest_first(versions: Iterator[str] | Sequence[str]) -> list[str]:
    """Kernel versions in the order `linux-version sort --reverse` gives (Debian ordering)."""
    return sorted(versions, key=DebianVersion, reverse=True)


def _boot_versions(names: Sequence[str]) -> list[str]:
    """Versions that have both a vmlinuz-V and an initrd.img-V among NAMES, newest first."""
    vmlinuz = {n.removeprefix("vmlinuz-") for n in names if n.startswith("vmlinuz-")}
    initrd = {n.removeprefix("initrd.img-") for n in names if n.startswith("initrd.img-")}
    versions = _newest_first(sorted(vmlinuz & initrd))
    if not versions:
        die(f"no kernel with an initrd in /boot (found: {' '.join(sorted(names)) or 'nothing'})")
    return versions


def _cpio_names(initrd: Path) -> frozenset[str] | None:
    """The names in INITRD if it is made of newc cpio archives, one after the other, each
    uncompressed or gzip-compressed (a dracut initrd in a minbase image, which has no zstd);
    None for anything else."""
    data = initrd.read_bytes()
    names: set[str] = set()
    at = 0
    while at < len(data):
        if data[at : at + 4] == bytes(4):  # padding between archives
            at += 4
            continue
        if data[at : at + 2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data[at:])
            except (OSError, EOFError, zlib.error):
                return None
            at = 0
            continue
        if data[at : at + 6] not in (b"070701", b"070702") or at + 110 > len(data):
            return None
        fields = [int(data[at + 6 + 8 * i : at + 14 + 8 * i], 16) for i in range(13)]
        size, namesize = fields[6], fields[11]
        name = data[at + 110 : at + 110 + namesize - 1].decode(errors="replace")
        at += (110 + namesize + 3) & ~3
        at += (size + 3) & ~3
        if name != "TRAILER!!!":
            names.add(name.removeprefix("./"))
    return frozenset(names)


def _lsinitramfs(
    initrd: Path, chroot: Path | None = None, generator: str = "initramfs-tools"
) -> frozenset[str]:
    """What INITRD holds. A dracut initrd is read here when it can be (the image has no
    lsinitramfs; the host's takes half a minute on one), anything else is listed by
    lsinitramfs: the image's own when CHROOT (the image tree) is given, which knows its
    compression, else the host's."""
    if generator == "dracut":
        names = _cpio_names(initrd)
        if names is not None:
            return names
        chroot = None
    argv: list[str | Path] = ["lsinitramfs", initrd]
    if chroot is not None:
        argv = ["chroot", chroot, "lsinitramfs", f"/{initrd.relative_to(chroot)}"]
    listing = run(argv, capture=True, env=_CHROOT_ENV).stdout
    return frozenset(line.removeprefix("./") for line in listing.splitlines())


def _write_files(tree: Path, files: Mapping[str, bytes]) -> None:
    """Write FILES (path in the image: content), mode 0644, into the image tree TREE."""
    for name, content in files.items():
        target = tree / name.lstrip("/")
        if ".." in Path(name).parts or not target.parent.is_dir():
            die(f"cannot write {name} into the image: bad path or no such directory")
        target.write_bytes(content)
        target.chmod(0o644)


def _install_debs(tree: Path, debs: Sequence[Path], log_path: Path) -> None:
    staging = tree / "tmp" / "ro-root-debs"
    staging.mkdir()
    inside = []
    for deb in debs:
        shutil.copyfile(deb, staging / deb.name)
        inside.append(f"/tmp/ro-root-debs/{deb.name}")
    policy = tree / "usr/sbin/policy-rc.d"
    shutil.copyfile(VMFILES / "policy-rc.d", policy)
    policy.chmod(0o755)
    # apt may have to download a dependency; mmdebstrap leaves no resolv.conf behind.
    resolv = tree / "etc/resolv.conf"
    own_resolv = not resolv.exists() and not resolv.is_symlink()
    if own_resolv and Path("/etc/resolv.conf").exists():
        shutil.copyfile("/etc/resolv.conf", resolv)
    try:
        with chroot_mounts(tree):
            proc = run(
                ["chroot", tree, "apt-get", "install", "-y", "--no-install-recommends", *inside],
                check=False,
                capture=True,
                env=_CHROOT_ENV,
            )
        log_path.write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            die(
                f"apt-get install of {' '.join(d.name for d in debs)} failed:\n{tail}\n"
                f"(full output: {log_path})"
            )
    finally:
        policy.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        if own_resolv:
            resolv.unlink(missing_ok=True)


def prepare_image(
    spec: ImageSpec,
    debs: Sequence[Path],
    workdir: Path,
    *,
    cache: Path | None = None,
    size: int = DISK_SIZE,
    selections: str = "",
    files: Mapping[str, bytes] | None = None,
    tarball: Path | None = None,
    files_before: Mapping[str, bytes] | None = None,
    layout: Literal["ext4", "uefi"] = "ext4",
) -> Image:
    """Make WORKDIR/disk.img (+ vmlinuz, initrd.img) from SPEC's base tarball and DEBS.

    LAYOUT "ext4": the disk is one ext4 file system, the root. "uefi": a GPT disk with an EFI
    system partition, a separate /boot and the root, for GRUB (see make_uefi_disk; SPEC must
    include grub-efi-amd64).

    TARBALL replaces the cached base tarball of SPEC (one from build_tarball()).

    SELECTIONS (debconf-set-selections lines) are set before the first .deb is installed, as
    a preseeded unattended installation does. FILES (path in the image: content) are written
    after the installation, e.g. an /etc/ro-root.conf; FILES_BEFORE before it, e.g. an
    initramfs-tools setting that the initrd built by the installation must follow.
    """
    for program in ("tar", "chroot", "mke2fs", "mount"):
        require(program, HOST_PROGRAMS[program])
    if spec.raspi:
        for program, package in FOREIGN_HOST_PROGRAMS.items():
            require(program, package)
        # The chroot runs the image's arm64 programs (apt, the initrd's build).
        ensure_foreign_arch(spec.arch)
    debs = tuple(Path(d).resolve() for d in debs)
    for deb in debs:
        if not deb.is_file():
            die(f"no such package file: {deb}")
    if tarball is None:
        tarball = base_tarball(spec, cache=cache)
    workdir.mkdir(parents=True, exist_ok=True)
    for name in (",",):
        if name in str(workdir.resolve()):
            die(f"{workdir}: qemu cannot take a path with a comma")
    tree = workdir / "tree"
    if tree.exists():
        _remove_tree(tree)
    tree.mkdir()
    started = time.monotonic()
    try:
        run(
            [
                "tar",
                "--numeric-owner",
                "--xattrs",
                "--xattrs-include=*",
                "-xpf",
                tarball,
                "-C",
                tree,
            ]
        )
        boot_dir = tree / "boot"
        newest = _boot_versions([p.name for p in boot_dir.iterdir()])[0]
        initrd_before = file_sha256(boot_dir / f"initrd.img-{newest}")
        if selections:
            run(
                ["chroot", tree, "debconf-set-selections"],
                input=selections,
                capture=True,
                env=_CHROOT_ENV,
            )
        uefi_ids = None
        if layout == "uefi":
            # The real fstab before the installation: the initrd it builds is one for this
            # layout (ro-root's hook adds FAT's modules for the EFI system partition).
            uefi_ids = (str(uuid.uuid4()), str(uuid.uuid4()), secrets.token_hex(4).upper())
            (tree / "etc/fstab").write_text(uefi_fstab(*uefi_ids))
        _write_files(tree, files_before or {})
        # One apt run per .deb, in order: [old, new] is an upgrade.
        for number, deb in enumerate(debs, start=1):
            _install_debs(tree, [deb], workdir / f"install-{number}.log")
        _write_files(tree, files or {})
        if spec.probe:
            probe = tree / "usr/local/sbin" / PROBE
            shutil.copyfile(VMFILES / PROBE, probe)
            probe.chmod(0o755)
        _check_busybox(
            spec,
            _parse_dpkg_status((tree / "var/lib/dpkg/status").read_text()),
            f"image tree {tree}",
        )
        if not spec.busybox:
            for path in ("bin/busybox", "usr/bin/busybox", "sbin/busybox", "usr/sbin/busybox"):
                if (tree / path).exists():
                    die(f"image tree {tree}: /{path} exists but the image must have no busybox")
        disk = workdir / "disk.img"
        kernels = []
        if spec.raspi:
            raspi.make_disk(tree, disk, size)
            # What the firmware boots: the kernel and initrd its partition names (the one
            # installing the debs rebuilt, if raspi-firmware's hook copied it there).
            kernels.append(firmware_boot(disk, workdir / "kernels" / "firmware")[0])
        else:
            for version in _boot_versions([p.name for p in boot_dir.iterdir()]):
                kernels.append(
                    _copy_kernel(
                        version,
                        boot_dir,
                        workdir / "kernels" / version,
                        # The image's own lsinitramfs knows its compression.
                        _lsinitramfs(
                            boot_dir / f"initrd.img-{version}",
                            chroot=tree,
                            generator=spec.generator,
                        ),
                    )
                )
        rebuilt = file_sha256(kernels[0].initrd) != initrd_before
        uefi_vars, root_uuid = None, ""
        if not spec.raspi:
            disk.unlink(missing_ok=True)
            with disk.open("wb") as stream:
                stream.truncate(size)
        if uefi_ids is not None:
            uefi_vars, root_uuid = make_uefi_disk(tree, disk, workdir, uefi_ids)
        elif not spec.raspi:
            run(["mke2fs", "-q", "-t", "ext4", "-L", "root", "-d", tree, disk])
    finally:
        if tree.exists():
            _remove_tree(tree)
    log.info("image: %s prepared in %.0f s", disk, time.monotonic() - started)
    return Image(
        spec=spec,
        directory=workdir,
        disk=disk,
        debs=debs,
        kernels=tuple(kernels),
        initrd_rebuilt=rebuilt,
        uefi_vars=uefi_vars,
        root_uuid=root_uuid,
    )


# --- UEFI: GPT, an EFI system partition, a separate /boot, GRUB ------------------------------

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS.fd")
# The partitions of a UEFI image, as Debian's installer makes them for a separate /boot.
ESP_START_MIB = 1
ESP_MIB = 64
BOOT_MIB = 320
ESP_OFFSET = ESP_START_MIB * 1024 * 1024
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
LINUX_TYPE = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
UEFI_HOST_PROGRAMS = {
    "sfdisk": "fdisk",
    "losetup": "mount",
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
}


def uefi_fstab(root_uuid: str, boot_uuid: str, esp_id: str) -> str:
    """The real fstab of a UEFI image, with the lines and options Debian's installer writes."""
    return (
        "# /etc/fstab of an ro-root UEFI test image (testbed/images.py)\n"
        f"UUID={root_uuid} / ext4 errors=remount-ro 0 1\n"
        f"UUID={boot_uuid} /boot ext4 defaults 0 2\n"
        f"UUID={esp_id[:4]}-{esp_id[4:]} /boot/efi vfat umask=0077 0 1\n"
    )


def make_uefi_disk(
    tree: Path, disk: Path, workdir: Path, ids: tuple[str, str, str]
) -> tuple[Path, str]:
    """Turn the image tree TREE into the GPT disk DISK (sized already): an empty FAT EFI system
    partition for /boot/efi, /boot, and the root with an empty /boot directory, with the IDS
    (root UUID, /boot UUID, ESP volume id) of TREE's fstab (uefi_fstab). Returns WORKDIR's copy
    of OVMF's variable store and the root's UUID.

    GRUB is not installed here: grub-install writes the EFI system partition through a vfat
    mount, and a host kernel without vfat (this machine's) cannot make one. The image's first
    boot (kernel handed to qemu) installs it, as an admin of a read-only device would:
    `ro-root exec sh -c 'grub-install --target=x86_64-efi --removable --no-nvram && update-grub'`
    (the probe's task grub-install).
    """
    for program, package in UEFI_HOST_PROGRAMS.items():
        require(program, package)
    for firmware in (OVMF_CODE, OVMF_VARS):
        if not firmware.is_file():
            die(f"{firmware} not found", hint="install it with: apt-get install ovmf")
    root_uuid, boot_uuid, esp_id = ids
    if (tree / "etc/fstab").read_text() != uefi_fstab(*ids):
        die(f"{tree}/etc/fstab is not the UEFI layout's fstab for {ids}")
    # /boot's content goes to its own file system; the root keeps the empty mount point.
    boot_tree = workdir / "boot-tree"
    if boot_tree.exists():
        _remove_tree(boot_tree)
    boot_tree.mkdir()
    for entry in (tree / "boot").iterdir():
        shutil.move(entry, boot_tree / entry.name)
    (boot_tree / "efi").mkdir(exist_ok=True)
    layout = (
        "label: gpt\n"
        f"start={ESP_START_MIB}MiB, size={ESP_MIB}MiB, type={ESP_TYPE}, name=ESP\n"
        f"size={BOOT_MIB}MiB, type={LINUX_TYPE}, name=boot\n"
        f"type={LINUX_TYPE}, name=root\n"
    )
    run(["sfdisk", "--quiet", disk], input=layout, capture=True)
    table = json.loads(run(["sfdisk", "--json", disk], capture=True).stdout)
    sector = int(table["partitiontable"].get("sectorsize", 512))
    # One loop device per partition, at its offset: losetup --partscan makes no partition
    # devices where nothing creates their nodes (a container without udev).
    parts: list[Path] = []
    try:
        for entry in table["partitiontable"]["partitions"]:
            start, count = int(entry["start"]) * sector, int(entry["size"]) * sector
            argv = ["losetup", "--find", "--show", "--offset", str(start), "--sizelimit"]
            parts.append(Path(run([*argv, str(count), disk], capture=True).stdout.strip()))
        if len(parts) != 3:
            die(f"sfdisk made {len(parts)} partitions on {disk}, not 3")
        run(["mkfs.vfat", "-i", esp_id, "-n", "ESP", parts[0]], capture=True)
        for uid, label, content, part in (
            (boot_uuid, "boot", boot_tree, parts[1]),
            (root_uuid, "root", tree, parts[2]),
        ):
            run(["mke2fs", "-q", "-t", "ext4", "-U", uid, "-L", label, "-d", content, part])
    finally:
        for part in parts:
            run(["losetup", "--detach", part], check=False)
        _remove_tree(boot_tree)
    uefi_vars = workdir / "OVMF_VARS.fd"
    shutil.copyfile(OVMF_VARS, uefi_vars)
    return uefi_vars, root_uuid


def esp_put(image: Image, name: str, content: bytes = b"") -> None:
    """Write the file NAME at the top of IMAGE's EFI system partition, as another computer
    would (mtools, on the disk image: nothing mounted)."""
    require("mcopy", "mtools")
    source = image.directory / f"esp-{name}"
    source.write_bytes(content)
    run(
        ["mcopy", "-o", "-i", f"{image.disk}@@{ESP_OFFSET}", source, f"::{name}"],
        env={"MTOOLS_SKIP_CHECK": "1"},
        capture=True,
    )


def esp_list(image: Image) -> list[str]:
    """The names at the top of IMAGE's EFI system partition (mtools)."""
    require("mdir", "mtools")
    out = run(
        ["mdir", "-b", "-i", f"{image.disk}@@{ESP_OFFSET}", "::"],
        env={"MTOOLS_SKIP_CHECK": "1"},
        capture=True,
    ).stdout
    return [line.rsplit("/", 1)[-1] for line in out.splitlines() if line.strip()]


def _copy_kernel(version: str, boot_dir: Path, dest: Path, files: frozenset[str]) -> Kernel:
    dest.mkdir(parents=True, exist_ok=True)
    vmlinuz, initrd = dest / "vmlinuz", dest / "initrd.img"
    shutil.copyfile(boot_dir / f"vmlinuz-{version}", vmlinuz)
    shutil.copyfile(boot_dir / f"initrd.img-{version}", initrd)
    return Kernel(version=version, vmlinuz=vmlinuz, initrd=initrd, initrd_files=files)


def firmware_boot(disk: Path, dest: Path) -> tuple[Kernel, tuple[str, ...]]:
    """What a Raspberry Pi's firmware would boot from DISK's FAT partition (testbed.raspi):
    the kernel and initrd config.txt names, copied into DEST, and the kernel command line
    made from cmdline.txt."""
    config = raspi.parse_config(raspi.read_text(disk, "config.txt"))
    cmdline = raspi.boot_cmdline(raspi.read_text(disk, config.cmdline))
    dest.mkdir(parents=True, exist_ok=True)
    vmlinuz = raspi.copy_out(disk, config.kernel, dest / "vmlinuz")
    initrd = raspi.copy_out(disk, config.initramfs, dest / "initrd.img")
    kernel = Kernel(
        version=config.kernel.removeprefix("vmlinuz-"),
        vmlinuz=vmlinuz,
        initrd=initrd,
        initrd_files=_lsinitramfs(initrd),
    )
    return kernel, cmdline


def refresh_kernels(image: Image) -> Image:
    """IMAGE with kernels and initrds taken anew from its disk (after a boot changed /boot).

    Reads the ext4 image with debugfs, which opens it read-only: the disk is not written.
    """
    require("debugfs", "e2fsprogs")
    require("lsinitramfs", "initramfs-tools-core")
    listing = run(["debugfs", "-R", "ls -p /boot", image.disk], capture=True).stdout
    # debugfs -p lines: /INODE/MODE/UID/GID/NAME/SIZE/
    names = [f.split("/")[5] for f in listing.splitlines() if f.count("/") >= 7]
    number = len(list(image.directory.glob("refresh-*"))) + 1
    staging = image.directory / f"refresh-{number:02d}"
    staging.mkdir()
    kernels = []
    for version in _boot_versions(names):
        for name in (f"vmlinuz-{version}", f"initrd.img-{version}"):
            run(["debugfs", "-R", f"dump /boot/{name} {staging / name}", image.disk], capture=True)
            if not (staging / name).is_file():
                die(f"debugfs could not copy /boot/{name} out of {image.disk}")
        files = _lsinitramfs(staging / f"initrd.img-{version}", generator=image.spec.generator)
        kernels.append(_copy_kernel(version, staging, staging / version, files))
    return dataclasses.replace(image, kernels=tuple(kernels))


def make_disk(path: Path, label: str, size_mib: int = 64) -> Path:
    """An empty ext4 file system labelled LABEL in the raw image PATH (an extra drive)."""
    require("mke2fs", "e2fsprogs")
    path.unlink(missing_ok=True)
    with path.open("wb") as stream:
        stream.truncate(size_mib * 1024 * 1024)
    run(["mke2fs", "-q", "-t", "ext4", "-L", label, path], capture=True)
    return path
