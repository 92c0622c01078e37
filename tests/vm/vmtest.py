"""Helpers shared by the VM test modules.

- `BootSequence`: an image's boots in a fixed order, each with the outcome it must end in;
- `Steps`: the same for steps that do more than boot (a power cut, a repair on the image);
- `prepare()`: the module fixtures' image, a failure (not an error) if it cannot be made;
- checks that every image's boots share. Each returns a list of problems (empty: all is
  well) so that one failing test names everything that is wrong with a boot at once, and
  `expect()` turns that list into a test failure that also shows the boot's facts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import pytest

from ro_root.errors import UserError
from ro_root.proc import run
from testbed import images, qemu, raspi

# "panic": the boot must stop in the initramfs, before the system (and the probe) runs.
Outcome = Literal["active", "skipped", "failed", "none", "panic"]

# Where busybox lands in an initrd (bookworm's initramfs has /bin -> usr/bin).
INITRD_BUSYBOX = frozenset({"bin/busybox", "usr/bin/busybox"})
INITRD_PAYLOAD = (
    "scripts/init-bottom/ro-root",
    "scripts/local-premount/ro-root",
    "usr/lib/ro-root/common.sh",
    "usr/lib/ro-root/settings.sh",
    "usr/lib/ro-root/record.sh",
    "usr/lib/ro-root/boot.sh",
)
# The shared core as the hook copies it, in the order the boot scripts source it.
CORE_IN_INITRD = ("common", "settings", "record", "boot")
REPO = Path(__file__).resolve().parents[2]
# Every test image has this root (testbed/vmfiles/fstab, qemu's virtio disk), but the arm64
# raspi images, whose disk is partitioned as a Pi's (testbed/vmfiles/raspi/fstab).
ROOT_DEVICE = "/dev/vda"


def root_device(boot: qemu.BootResult) -> str:
    """The real root's device in BOOT's guest."""
    return raspi.GUEST_ROOT if boot.image.spec.raspi else ROOT_DEVICE


class Boot(NamedTuple):
    """One boot of a sequence: extra kernel parameters, the outcome it must end in, and the
    names of the sequence's extra disks attached to it (/dev/vdb, /dev/vdc, ... in order)."""

    append: tuple[str, ...]
    expect: Outcome
    drives: tuple[str, ...] = ()


class BootSequence:
    """Boots an image once per entry of BOOTS (name: Boot(append, expect)), in order.

    Boots run on first demand: asking for a later boot runs the earlier ones first, so
    tests may rely on what earlier boots did to the disk (markers written, or not).

    A boot that fails, or ends in another outcome than its expected one, is recorded and
    fails only the tests that ask for it, so a broken overlay boot does not hide whether
    the fallback boots work.

    The disk image is hashed before and after each boot named in HASH_DISK (default: the
    boots expected to be active, which must not write to it at all).
    """

    def __init__(
        self,
        image: images.Image,
        boots: Mapping[str, Boot],
        hash_disk: Collection[str] | None = None,
        disks: Mapping[str, Path] | None = None,
    ) -> None:
        self.image = image
        self.boots = boots
        self.disks = dict(disks or {})
        for name, boot in boots.items():
            unknown = [d for d in boot.drives if d not in self.disks]
            if unknown:
                raise KeyError(f"boot {name!r} wants unknown disks {unknown}")
        # Hashing the disk (its 0.9 GB of data, images.disk_digest) takes seconds: only around
        # the boots that need it.
        if hash_disk is None:
            hash_disk = [name for name, boot in boots.items() if boot.expect == "active"]
        self.hash_disk = hash_disk
        self.outcomes: dict[str, qemu.BootResult | str] = {}
        # digest of the disk image before and after each boot named in hash_disk
        self.disk_before: dict[str, str] = {}
        self.disk_after: dict[str, str] = {}

    def __call__(self, name: str) -> qemu.BootResult:
        if name not in self.boots:
            raise KeyError(f"no boot {name!r} in this sequence: {', '.join(self.boots)}")
        previous: str | None = None
        for step, wanted in self.boots.items():
            if step not in self.outcomes:
                if step in self.hash_disk:
                    # Nothing touches the disk between two boots: no need to hash it again.
                    if previous is not None and previous in self.disk_after:
                        self.disk_before[step] = self.disk_after[previous]
                    else:
                        self.disk_before[step] = images.disk_digest(self.image.disk)
                try:
                    panic = wanted.expect == "panic"
                    self.outcomes[step] = qemu.boot(
                        self.image,
                        wanted.append,
                        expect=None if panic else wanted.expect,
                        drives=[self.disks[d] for d in wanted.drives],
                        probe=not panic,
                    )
                except UserError as exc:  # its message has the serial log's path and tail
                    self.outcomes[step] = str(exc)
                if step in self.hash_disk:
                    self.disk_after[step] = images.disk_digest(self.image.disk)
            if step == name:
                break
            previous = step
        outcome = self.outcomes[name]
        if isinstance(outcome, str):
            pytest.fail(f"boot '{name}' failed: {outcome}", pytrace=False)
        return outcome


class Steps:
    """Named steps, each a function that ends in a boot, run in order on first demand and each
    only once: asking for a later step runs the earlier ones first.

    A step that fails is remembered and fails every test that asks for it, without stopping
    the later steps. Subclasses set self.steps in their __init__, after calling this one.
    """

    def __init__(self) -> None:
        self.results: dict[str, qemu.BootResult | str] = {}
        self.steps: list[tuple[str, Callable[[], qemu.BootResult]]] = []

    def __call__(self, name: str) -> qemu.BootResult:
        if name not in dict(self.steps):
            raise KeyError(f"no step {name!r}: {', '.join(step for step, _ in self.steps)}")
        for step, function in self.steps:
            if step not in self.results:
                try:
                    self.results[step] = function()
                except UserError as exc:  # its message has the serial log's path and tail
                    self.results[step] = str(exc)
            if step == name:
                break
        outcome = self.results[name]
        if isinstance(outcome, str):
            pytest.fail(f"boot '{name}' failed: {outcome}", pytrace=False)
        return outcome


# Small initrds (MODULES=list: what a virtio disk with ext4 needs; ro-root's hook adds the
# overlay module, and FAT's where the fstab has a FAT boot partition), written before the
# installation, for images whose initrd's module set is not what their tests are about:
# each preparation's initrd build takes half the time (24 s against 50 s, measured for
# issue 15), and an in-guest rebuild about a minute. Never for the images whose initrd is
# the subject (test_boot_bookworm, test_boot_busybox, make bench).
SMALL_INITRD = {
    "/etc/initramfs-tools/conf.d/ro-root-test-modules": b"MODULES=list\n",
    "/etc/initramfs-tools/modules": b"virtio_pci\nvirtio_blk\next4\ncrc32c_generic\n",
}


def prepare(
    spec: images.ImageSpec,
    deb: Path,
    workdir: Path,
    files_before: Mapping[str, bytes] | None = None,
) -> images.Image:
    """The image of SPEC with DEB installed (after FILES_BEFORE were written into it); a test
    failure, not an error, if that fails."""
    try:
        return images.prepare_image(spec, [deb], workdir, files_before=files_before)
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)


def expect(boot: qemu.BootResult, problems: Sequence[str], what: str = "") -> None:
    """Fail with every problem found about BOOT, and where to look, if there is any."""
    if problems:
        head = f"{what}: " if what else ""
        listing = "\n  ".join(problems)
        pytest.fail(
            f"{head}{len(problems)} problem(s):\n  {listing}\n{boot.describe()}", pytrace=False
        )


def fstab_entries(boot: qemu.BootResult) -> list[list[str]]:
    """The guest's /etc/fstab lines that are in effect (not comments), split in fields."""
    return [
        line.split()
        for line in boot.numbered("fstab")
        if line.strip() and not line.lstrip().startswith("#")
    ]


def facts_differ(boot: qemu.BootResult, **wanted: str) -> list[str]:
    """One problem per fact of BOOT that is not as WANTED."""
    return [
        f"{key} is {boot.facts.get(key)!r}, expected {value!r}"
        for key, value in wanted.items()
        if boot.facts.get(key) != value
    ]


def has_option(boot: qemu.BootResult, key: str, option: str) -> list[str]:
    """A problem if mount option OPTION is not in fact KEY (e.g. root_options)."""
    options = boot.facts.get(key, "")
    if option in options.split(","):
        return []
    return [f"{key} is {options!r}, lacks {option!r}"]


# --- the image ------------------------------------------------------------------------------


def image_problems(image: images.Image) -> list[str]:
    """Installing the package rebuilt the initrd, which has the payload, and busybox if and
    only if the image has it (prepare_image() already checked the image's own packages)."""
    problems = []
    if not image.initrd_rebuilt:
        problems.append(f"installing ro-root did not rebuild the initrd ({image.initrd})")
    files = image.initrd_files
    problems += [
        f"{path} not in the initrd {image.initrd}" for path in INITRD_PAYLOAD if path not in files
    ]
    busybox = sorted(INITRD_BUSYBOX & files)
    if image.spec.busybox and not busybox:
        problems.append(f"the image has busybox but the initrd {image.initrd} does not")
    if not image.spec.busybox and busybox:
        problems.append(f"busybox in the initrd {image.initrd}: {' '.join(busybox)}")
    return problems


def unpack_initrd(initrd: Path, dest: Path) -> Path:
    """The tree of INITRD (unmkinitramfs), its main archive when an early one precedes it."""
    run(["unmkinitramfs", initrd, dest])
    return dest / "main" if (dest / "main").is_dir() else dest


def _core_as_bash_reads_it(libdir: Path) -> str:
    """Every function and RR_/rr_ variable the core defines, as bash prints them back:
    the code without its comments and layout."""
    sources = "".join(f'. "{libdir}/{name}.sh"\n' for name in CORE_IN_INITRD)
    script = f"{sources}declare -f\ndeclare -p | grep -E '^declare -[-a-zA-Z]* (RR_|rr_)'\n"
    return run(["bash", "-c", script], capture=True).stdout


def initrd_content_problems(image: images.Image, dest: Path) -> list[str]:
    """The initrd carries nothing the boot does not need: no rm or chmod, blockdev once
    (busybox's where busybox is there), and the core without its comments but with the same
    code as the library in the tree."""
    tree = unpack_initrd(image.initrd, dest)
    busybox = tree / "usr/bin/busybox"
    problems = []
    for name in ("usr/bin/rm", "usr/bin/chmod", "usr/sbin/blockdev"):
        path = tree / name
        if image.spec.busybox:
            # busybox's hook links its applets; nothing else may stand in their place.
            if path.exists() and not path.samefile(busybox):
                problems.append(f"{name} in the initrd is not busybox's applet")
        elif name == "usr/sbin/blockdev":
            if not path.exists() or path.stat().st_size < 4096:
                problems.append(f"no util-linux blockdev in the initrd {image.initrd}")
        elif path.exists() or path.is_symlink():
            problems.append(f"{name} in the initrd {image.initrd}: klibc's tools do its job")
    # FAT's modules are for the flag file on a separate FAT boot partition: none here.
    if image.uefi_vars is None and not image.spec.raspi:
        fat = sorted(str(p.relative_to(tree)) for p in tree.glob("usr/lib/modules/*/**/vfat.ko*"))
        if fat:
            problems.append(f"{fat} in the initrd of an image without a FAT boot partition")
    if image.spec.busybox and not (tree / "usr/sbin/blockdev").exists():
        problems.append(f"no blockdev in the initrd {image.initrd}")
    for name in CORE_IN_INITRD:
        text = (tree / f"usr/lib/ro-root/{name}.sh").read_text()
        comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
        if comments:
            problems.append(f"usr/lib/ro-root/{name}.sh keeps comment lines: {comments[:3]}")
    if _core_as_bash_reads_it(tree / "usr/lib/ro-root") != _core_as_bash_reads_it(REPO / "lib"):
        problems.append("the initrd's copy of the core is not the same code as lib/")
    return problems


# --- an overlay boot: what every image must show --------------------------------------------


def root_is_overlay(boot: qemu.BootResult) -> list[str]:
    return facts_differ(boot, rorootstate="active", root_fstype="overlay")


def real_root_read_only_on_ro(boot: qemu.BootResult) -> list[str]:
    return [
        *facts_differ(boot, ro_fstype="ext4", ro_source=root_device(boot), ro_write="denied"),
        *has_option(boot, "ro_options", "ro"),
    ]


def rw_is_tmpfs_of_root_755(boot: qemu.BootResult) -> list[str]:
    return facts_differ(boot, rw_fstype="tmpfs", rw_mode="755", rw_owner="root")


def system_writable_and_healthy(boot: qemu.BootResult) -> list[str]:
    """Writes work (in RAM), systemd reached `running` without a failed unit, and busybox
    is in the running system if and only if the image asked for it."""
    problems = facts_differ(boot, write_ok="yes", marker_written="yes")
    if boot.image.spec.init == "systemd":
        problems += facts_differ(boot, system_state="running", failed_units_count="0")
    busybox = boot.facts.get("busybox_present")
    if boot.image.spec.busybox and busybox in (None, "no"):
        problems.append(f"busybox_present is {busybox!r} in an image with busybox")
    if not boot.image.spec.busybox and busybox != "no":
        problems.append(f"busybox_present is {busybox!r} in an image without busybox")
    return problems


def fstab_root_disabled_with_header(boot: qemu.BootResult) -> list[str]:
    problems = []
    fstab = boot.numbered("fstab")
    active = [e for e in fstab_entries(boot) if e[1:2] == ["/"]]
    if active:
        problems.append(f"/etc/fstab still has a root entry: {active}")
    device = root_device(boot)
    if not any(line.startswith("#") and device in line and " / " in line for line in fstab):
        problems.append(f"/etc/fstab has no commented-out {device} / entry")
    if not any(line.startswith("#") and "/ro/etc/fstab" in line for line in fstab):
        problems.append("/etc/fstab has no header naming the real file, /ro/etc/fstab")
    return problems


def overlay_problems(boot: qemu.BootResult) -> list[str]:
    """Everything an overlay boot must show, on any image."""
    return [
        *root_is_overlay(boot),
        *real_root_read_only_on_ro(boot),
        *rw_is_tmpfs_of_root_755(boot),
        *system_writable_and_healthy(boot),
        *fstab_root_disabled_with_header(boot),
    ]


def expect_overlay(boot: qemu.BootResult) -> None:
    expect(boot, overlay_problems(boot), "not a healthy read-only overlay boot")


# --- a boot where ro-root steps aside -------------------------------------------------------


def plain_writable_problems(boot: qemu.BootResult, reason: str) -> list[str]:
    """ro-root skipped (REASON in its reason), the root is the real ext4, mounted rw, with the
    real fstab, and writes work."""
    problems = [
        *facts_differ(
            boot, rorootstate="skipped", root_fstype="ext4", write_ok="yes", ro_fstype=""
        ),
        *has_option(boot, "root_options", "rw"),
    ]
    if reason not in boot.facts.get("rorootreason", ""):
        problems.append(f"rorootreason does not mention {reason!r}")
    device = root_device(boot)
    if [device, "/", "ext4"] not in [e[:3] for e in fstab_entries(boot)]:
        problems.append(f"/etc/fstab has no {device} / ext4 entry (not the real fstab?)")
    return problems


def expect_plain_writable(boot: qemu.BootResult, reason: str) -> None:
    expect(boot, plain_writable_problems(boot, reason), "not a plain writable boot")


# --- across boots ---------------------------------------------------------------------------


def expect_reboot_forgets(boots: BootSequence, first: str, reboot: str) -> None:
    """What boot FIRST wrote is gone at boot REBOOT, and the disk image did not change at all
    from before FIRST to after REBOOT (both hashed by BOOTS)."""
    wrote, after = boots(first), boots(reboot)
    problems = []
    if wrote.facts.get("marker_written") != "yes":
        problems.append(f"boot '{first}' could not write its marker: nothing to forget")
    if after.facts.get("marker_before") != "absent":
        problems.append(
            f"boot '{reboot}' found the marker written by boot '{first}': "
            f"{after.facts.get('marker_before_content')!r}"
        )
    hashes = [
        (f"before '{first}'", boots.disk_before.get(first)),
        (f"after '{first}'", boots.disk_after.get(first)),
        (f"after '{reboot}'", boots.disk_after.get(reboot)),
    ]
    if None in (digest for _, digest in hashes):
        problems.append(f"the disk was not hashed around '{first}' and '{reboot}'")
    elif len({digest for _, digest in hashes}) != 1:
        listing = ", ".join(f"{when}: {digest}" for when, digest in hashes)
        problems.append(f"the read-only boots changed {boots.image.disk}: digest {listing}")
    expect(after, problems, f"boot '{reboot}' after '{first}'")


def expect_write_persists(boots: BootSequence, writer: str, reader: str) -> None:
    """What writable boot WRITER wrote is still there at boot READER."""
    wrote, after = boots(writer), boots(reader)
    problems = []
    if wrote.facts.get("marker_written") != "yes":
        problems.append(f"boot '{writer}' could not write its marker")
    if after.facts.get("marker_before") != "present":
        problems.append(f"boot '{reader}' did not find the marker written by boot '{writer}'")
    elif after.facts.get("marker_before_content") != wrote.facts.get("boot_id"):
        problems.append(
            f"boot '{reader}' found a marker {after.facts.get('marker_before_content')!r}, "
            f"not boot '{writer}''s boot id {wrote.facts.get('boot_id')!r}"
        )
    expect(after, problems, f"boot '{reader}' after '{writer}'")
