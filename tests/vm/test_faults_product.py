"""Faults injected into real boots (issue 8): what ro-root itself does about them.

One Debian 12 systemd image with ro-root and `data_mounts=LABEL=data:/var/local/data` in
/etc/ro-root.conf (protect_device and upper_warn_percent at their defaults, yes and 90), and
extra disks: "data" and "upper" (healthy ext4, LABEL=data and LABEL=upper), "data-bad" and
"upper-bad" (the same labels, their group descriptors overwritten with junk: still ext4 to
blkid, refused by the kernel). Boots, in order:

1. hostile (faults 8 and 9): a kernel command line of quotes, `;`, `$(...)`, backquotes, a
   1,200-character value, an unknown mode, a bare `ro-root`: a default tmpfs overlay, each
   bad word warned about, nothing executed. The probe then attacks the protected real root:
   `mount -o remount,rw /ro`, a write to /ro, a raw write to /dev/vda. The root disk image
   is hashed before and after.
2. fill (fault 1): `ro-root.size=64m`; a service and a user are set up, the layer is filled
   to 95 % (status warns), then to ENOSPC (status says FULL); the service, journald, a PAM
   login and `systemctl is-system-running` are checked while it is full.
3. exec (fault 9): with a healthy persistent upper disk and the data disk, `ro-root exec`
   writes a file on the protected real root; the device is read-only again afterwards, and
   the file is on the disk image (read with debugfs after the boot).
4. corrupt (fault 4): `ro-root=device:LABEL=upper` with "data-bad" and "upper-bad": tmpfs
   and no data mount, both loudly, and neither corrupted disk image changes.

A copy of the image whose initrd was rebuilt offline with ro-root's initramfs files moved
aside (fault 6) boots plain, and `ro-root status` says the payload is missing.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import vmtest
from vmtest import Boot, BootSequence

from ro_root.errors import UserError
from ro_root.proc import run
from testbed import images, qemu

pytestmark = pytest.mark.vm

Observed = Callable[[str], None]

SPEC = images.ImageSpec(suite="bookworm", init="systemd")
CONF = b"data_mounts=LABEL=data:/var/local/data\ndevice_timeout=3\n"
PWNED = "touch${IFS}/run/ro-root-pwned"
LONG_LABEL = "A" * 1200
# Each word, as /proc/cmdline holds it, and what ro-root must say about it.
HOSTILE = {
    f"ro-root=$({PWNED})": "ignoring unknown value in kernel parameter 'ro-root=$(touch",
    f"ro-root.size=`{PWNED}`": "bad value '`touch${IFS}/run/ro-root-pwned`' for size",
    f"ro-root.policy=rw;{PWNED}": "bad value 'rw;touch${IFS}/run/ro-root-pwned' for failure_po",
    # The kernel and systemd take key="value" unquoted; so does ro-root (issue 12, defect 13).
    f'ro-root="tmpfs;{PWNED}"': "ignoring unknown value in kernel parameter 'ro-root=tmpfs;",
    "ro-root=overlayfs": "ignoring unknown value in kernel parameter 'ro-root=overlayfs'",
    f"ro-root=device:LABEL={LONG_LABEL}": "ignoring bad device in kernel parameter 'ro-root=dev",
    "ro-root": "ignoring unknown kernel parameter 'ro-root'",
    "ro-root.size='1g'": "bad value ''1g'' for size",
}
FILL_SIZE = "64m"
UPPER = "ro-root=device:LABEL=upper"

BOOTS = {
    "hostile": Boot((*HOSTILE, "rorootest.task=setro-attack"), "active", ("data",)),
    "fill": Boot((f"ro-root.size={FILL_SIZE}", "rorootest.task=fill-full"), "active", ("data",)),
    "exec": Boot((UPPER, "rorootest.task=setro-exec"), "active", ("data", "upper")),
    "corrupt": Boot((UPPER, "rorootest.task=status"), "active", ("data-bad", "upper-bad")),
}


# --- the image and its disks ------------------------------------------------------------------


def corrupt_group_descriptors(disk: Path) -> str:
    """Overwrite the primary group descriptor table of the ext4 image DISK with 0xff bytes:
    the superblock (type, label) stays intact, every group's bitmaps and inode table point
    outside the file system. Returns what was done, for the record."""
    listing = run(["dumpe2fs", disk], capture=True).stdout
    size = re.search(r"^Block size:\s+(\d+)", listing, re.M)
    found = re.search(r"Group descriptors at (\d+)-(\d+)", listing)
    assert size and found, f"dumpe2fs shows no block size or group descriptors for {disk}"
    block_size, first, last = int(size.group(1)), int(found.group(1)), int(found.group(2))
    with disk.open("r+b") as stream:
        stream.seek(first * block_size)
        stream.write(b"\xff" * ((last - first + 1) * block_size))
    return f"blocks {first}-{last} of {block_size} bytes"


@pytest.fixture(scope="module")
def image(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> images.Image:
    workdir = tmp_path_factory.mktemp("faults")
    try:
        return images.prepare_image(
            SPEC,
            [ro_root_deb],
            workdir,
            files={"/etc/ro-root.conf": CONF},
            files_before=vmtest.SMALL_INITRD,
        )
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)


@dataclasses.dataclass
class Disks:
    paths: dict[str, Path]
    corruption: dict[str, str]
    before: dict[str, str]


@pytest.fixture(scope="module")
def disks(image: images.Image) -> Disks:
    paths = {
        "data": images.make_disk(image.directory / "data.img", "data"),
        "upper": images.make_disk(image.directory / "upper.img", "upper"),
        "data-bad": images.make_disk(image.directory / "data-bad.img", "data"),
        "upper-bad": images.make_disk(image.directory / "upper-bad.img", "upper"),
    }
    corruption = {
        name: corrupt_group_descriptors(paths[name]) for name in ("data-bad", "upper-bad")
    }
    before = {name: images.file_sha256(paths[name]) for name in ("data-bad", "upper-bad")}
    return Disks(paths, corruption, before)


@pytest.fixture(scope="module")
def boots(image: images.Image, disks: Disks) -> BootSequence:
    return BootSequence(image, BOOTS, hash_disk=["hostile", "fill"], disks=disks.paths)


# --- helpers ----------------------------------------------------------------------------------


def logged(boot: qemu.BootResult, text: str) -> list[str]:
    if any(text in line for line in boot.numbered("rorootlog")):
        return []
    return [f"/run/ro-root/log has no line with {text!r}"]


def on_console(boot: qemu.BootResult, text: str) -> list[str]:
    return [] if text in boot.log else [f"the console does not show {text!r}"]


def status_json(boot: qemu.BootResult, name: str) -> dict[str, object]:
    text = boot.facts.get(f"cmd_{name}_json", "")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        vmtest.expect(boot, [f"ro-root status --json ({name}) is not JSON: {text!r}"])
    assert isinstance(data, dict)
    return data


def warnings_of(data: dict[str, object]) -> list[str]:
    found = data.get("warnings")
    return [str(w) for w in found] if isinstance(found, list) else []


def status_text(boot: qemu.BootResult, name: str) -> str:
    return "\n".join(boot.numbered(f"cmd_{name}_out"))


def disk_unchanged(boots: BootSequence, name: str) -> tuple[list[str], str]:
    before, after = boots.disk_before.get(name), boots.disk_after.get(name)
    if before is None or after is None:
        return [f"the root disk was not hashed around boot {name!r}"], "not hashed"
    if before != after:
        return [f"boot {name!r} changed the root disk: sha256 {before} -> {after}"], "CHANGED"
    return [], f"unchanged (sha256 {before[:12]}...)"


# --- fault 8: a hostile kernel command line ---------------------------------------------------


@pytest.mark.fault(
    8,
    "Malformed or hostile kernel command line",
    expected="each bad ro-root parameter is warned about and ignored; the boot uses the "
    "defaults (a tmpfs overlay); nothing in it is executed",
)
def test_hostile_command_line_boots_with_defaults_and_executes_nothing(
    boots: BootSequence, observed: Observed
) -> None:
    boot = boots("hostile")
    problems = vmtest.overlay_problems(boot)
    problems += vmtest.facts_differ(
        boot,
        pwned="",
        **{
            "setting.mode": "tmpfs",
            "setting.size": "50%",
            "setting.failure_policy": "rw",
            "setting.upper": "tmpfs",
        },
    )
    missing = [word for word, text in HOSTILE.items() if logged(boot, text)]
    problems += [f"no warning for {word[:60]!r}" for word in missing]
    warnings = int(boot.facts.get("setting.warnings") or 0)
    if warnings != len(HOSTILE):
        problems.append(f"{warnings} warnings for {len(HOSTILE)} bad parameters")
    longest = max((len(line) for line in boot.numbered("rorootlog")), default=0)
    if longest > 400:
        problems.append(f"a log line of {longest} characters: the long value was not cut")
    console = boot.log.count("ro-root: warning:")
    if console < len(HOSTILE):
        problems.append(f"only {console} warnings on the console")
    unchanged, digest = disk_unchanged(boots, "hostile")
    problems += unchanged
    vmtest.expect(boot, problems, "a hostile kernel command line")
    observed(
        f"state {boot.facts['rorootstate']}, mode {boot.facts['setting.mode']}, size "
        f"{boot.facts['setting.size']}, policy {boot.facts['setting.failure_policy']}; "
        f"{warnings} warnings logged for {len(HOSTILE)} bad words ({console} on the console, "
        f"longest log line {longest} characters, from a {len(boot.cmdline)}-character command "
        f"line); evidence files: {boot.facts['pwned'] or 'none'}; root disk {digest}"
    )


# --- fault 9: remount,rw /ro while the overlay is active --------------------------------------


@pytest.mark.fault(
    9,
    "`mount -o remount,rw /ro` while the overlay is active (`protect_device`)",
    expected="with protect_device=yes (the default) the real root's device is read-only: "
    "the remount and writes fail, the disk image is unchanged; `ro-root exec` still "
    "writes the real root and leaves the device read-only again",
)
def test_protected_device_refuses_remount_and_exec_still_works(
    boots: BootSequence, image: images.Image, observed: Observed
) -> None:
    attack, execd = boots("hostile"), boots("exec")
    problems = vmtest.facts_differ(
        attack,
        cmd_sys_ro="1",
        cmd_getro="1",
        ro_write="denied",
        **{"setting.protect_device": "yes", "setting.lower_device_read_only": "yes"},
    )
    if attack.facts.get("cmd_remount_rc") in (None, "0"):
        problems.append("mount -o remount,rw /ro succeeded")
    problems += vmtest.has_option(attack, "cmd_ro_options_after", "ro")
    if attack.facts.get("cmd_write_ro_rc") in (None, "0"):
        problems.append("touch /ro/... succeeded")
    raw_rc = attack.facts.get("cmd_raw_write_rc")
    if raw_rc in (None, "0"):
        problems.append("a raw write to /dev/vda succeeded")
    unchanged, digest = disk_unchanged(boots, "hostile")
    problems += unchanged
    attack_status = status_json(attack, "status")
    if attack_status.get("lower_device_read_only") is not True:
        problems.append(
            f"status says lower_device_read_only={attack_status.get('lower_device_read_only')}"
        )
    vmtest.expect(attack, problems, "the protected device")

    problems = vmtest.facts_differ(
        execd,
        cmd_getro_before="1",
        cmd_exec_rc="0",
        cmd_getro_after="1",
        rw_fstype="ext4",
        **{"setting.upper": "/dev/vdc", "setting.lower_device_read_only": "yes"},
    )
    problems += vmtest.has_option(execd, "cmd_ro_options_after", "ro")
    if execd.facts.get("cmd_remount_after_rc") in (None, "0"):
        problems.append("mount -o remount,rw /ro succeeded after ro-root exec")
    persisted = run(
        ["debugfs", "-R", "cat /etc/rorootest-exec", image.disk], capture=True
    ).stdout.strip()
    if persisted != execd.facts.get("boot_id"):
        problems.append(f"/etc/rorootest-exec on the disk is {persisted!r}, not the boot id")
    vmtest.expect(execd, problems, "ro-root exec with protect_device")
    remount_err = (attack.numbered("cmd_remount_out") or ["(no message)"])[0]
    raw_err = (attack.numbered("cmd_raw_write_out") or ["(no message)"])[0]
    observed(
        f"/dev/vda read-only flag {attack.facts['cmd_getro']}; remount,rw exit "
        f"{attack.facts['cmd_remount_rc']} ({remount_err}); touch /ro exit "
        f"{attack.facts['cmd_write_ro_rc']}; raw dd to /dev/vda exit {raw_rc} ({raw_err}); root "
        f"disk {digest}. ro-root exec exit {execd.facts['cmd_exec_rc']}, flag "
        f"{execd.facts['cmd_getro_before']} before and {execd.facts['cmd_getro_after']} after, "
        f"its file on the disk image holds the boot id: {persisted == execd.facts['boot_id']}"
    )


# --- fault 1: the tmpfs layer fills up --------------------------------------------------------


@pytest.mark.fault(
    1,
    "The tmpfs upper layer fills up",
    expected="writes fail with ENOSPC; services keep running, a login works, journald "
    "logs within its cap; `ro-root status` warns at 90 % and says FULL at 100 %",
)
def test_full_tmpfs_layer_keeps_the_system_up_and_status_says_so(
    boots: BootSequence, observed: Observed
) -> None:
    boot = boots("fill")
    problems = vmtest.overlay_problems(boot)
    warn, full, freed = (
        status_json(boot, n) for n in ("status_warn", "status_full", "status_freed")
    )
    if (warn.get("upper_usage"), warn.get("upper_warn_percent")) != ("warning", 90):
        problems.append(f"at 95 % status says {warn.get('upper_usage')!r}")
    if not any("% full (upper_warn_percent=90)" in w for w in warnings_of(warn)):
        problems.append(f"no usage warning at 95 %: {warn.get('warnings')}")
    if "warning; warning at 90%" not in status_text(boot, "status_warn"):
        problems.append("the text status does not show the warning state")
    if (full.get("upper_usage"), full.get("upper_used_percent")) != ("full", 100):
        problems.append(f"when full status says {full.get('upper_usage')!r}")
    if "warning: the writable layer /rw is FULL" not in status_text(boot, "status_full"):
        problems.append("the text status does not say FULL")
    if (full.get("exit_status"), boot.facts.get("cmd_status_full_rc")) != (0, "0"):
        problems.append("a full layer changed the exit status of ro-root status")
    if freed.get("upper_usage") != "ok":
        problems.append(f"after freeing, status says {freed.get('upper_usage')!r}")
    fill_out = " ".join(boot.numbered("cmd_fill_full_out"))
    if "No space left on device" not in fill_out:
        problems.append(f"the writer did not stop on ENOSPC: {fill_out!r}")
    if boot.facts.get("cmd_write_full_rc") in (None, "0"):
        problems.append("a write succeeded on the full layer")
    problems += vmtest.facts_differ(
        boot, cmd_services_rc="0", cmd_running_rc="0", cmd_login_rc="0", cmd_journal_marker="1"
    )
    login = " ".join(boot.numbered("cmd_login_out"))
    if "login-ok user=rrlogin home=/home/rrlogin" not in login:
        problems.append(f"the login printed {login!r}")
    journal_kib = int(boot.facts.get("cmd_journal_dir_kib") or 0)
    if not 0 < journal_kib <= 16 * 1024:
        problems.append(f"the journal takes {journal_kib} KiB, cap 16 MiB")
    unchanged, digest = disk_unchanged(boots, "fill")
    problems += unchanged
    vmtest.expect(boot, problems, "a full tmpfs layer")
    observed(
        f"{boot.facts.get('cmd_fill_size_kib')} KiB layer; at "
        f"{warn.get('upper_used_percent')} % status said {warn.get('upper_usage')!r}; the "
        f"writer stopped on 'No space left on device', status then said "
        f"{full.get('upper_usage')!r} ({full.get('upper_used_percent')} %, exit "
        f"{boot.facts.get('cmd_status_full_rc')}); while full: services "
        f"{' '.join(boot.numbered('cmd_services_out'))}, system "
        f"{' '.join(boot.numbered('cmd_running_out'))}, runuser -l printed {login!r}, the "
        f"journal marker found {boot.facts.get('cmd_journal_marker')} time(s), journal "
        f"{journal_kib} KiB; after freeing status said {freed.get('upper_usage')!r}; root disk "
        f"{digest}"
    )


# --- fault 4: corrupted persistent upper and data devices -------------------------------------


@pytest.mark.fault(
    4,
    "Corrupted persistent upper or data device",
    expected="the upper falls back to tmpfs and the data mount is skipped, each with a "
    "warning on the console and in /run/ro-root; neither device is formatted or written",
)
def test_corrupted_upper_and_data_devices_are_refused_loudly_and_not_written(
    boots: BootSequence, disks: Disks, observed: Observed
) -> None:
    boot = boots("corrupt")
    after = {name: images.file_sha256(disks.paths[name]) for name in disks.before}
    problems = vmtest.overlay_problems(boot)
    problems += vmtest.facts_differ(
        boot, data_mounted="no", **{"setting.upper": "tmpfs", "setting.data_mounts_active": ""}
    )
    refused = "holds a file system (ext4) that the kernel refuses to mount even read-only"
    problems += logged(
        boot, f"persistent upper device LABEL=upper (/dev/disk/by-label/upper) {refused}"
    )
    problems += logged(boot, f"data mount LABEL=data (/dev/vdb, for /var/local/data) {refused}")
    problems += on_console(boot, "ro-root: warning: persistent upper device LABEL=upper")
    problems += on_console(boot, "ro-root: warning: data mount LABEL=data")
    status = status_json(boot, "status")
    if not any("data mount LABEL=data" in w for w in warnings_of(status)):
        problems.append("ro-root status does not show the skipped data mount")
    for name, digest in disks.before.items():
        if after[name] != digest:
            problems.append(f"the corrupted disk {name} changed: sha256 {digest} -> {after[name]}")
    if any(line.startswith(("/dev/vdb ", "/dev/vdc ")) for line in boot.numbered("mount")):
        problems.append("a corrupted disk is mounted")
    vmtest.expect(boot, problems, "corrupted devices")
    observed(
        f"group descriptors overwritten ({disks.corruption['upper-bad']}); state "
        f"{boot.facts['rorootstate']}, upper {boot.facts['setting.upper']}, data mounted "
        f"{boot.facts['data_mounted']}, {boot.facts['setting.warnings']} warnings "
        f"({boot.log.count('ro-root: warning:')} on the console); sha256 of the corrupted upper "
        f"{'unchanged' if after['upper-bad'] == disks.before['upper-bad'] else 'CHANGED'}, "
        f"of the corrupted data disk "
        f"{'unchanged' if after['data-bad'] == disks.before['data-bad'] else 'CHANGED'}"
    )


# --- fault 6: the initrd lacks the payload ----------------------------------------------------

# ro-root's initramfs files, moved aside while the initrd is rebuilt: as if it had been built
# before the package was unpacked (or while it was half-installed).
PAYLOAD_FILES = (
    "usr/share/initramfs-tools/hooks/ro-root",
    "usr/share/initramfs-tools/scripts/init-bottom/ro-root",
    "usr/share/initramfs-tools/scripts/local-premount/ro-root",
)


def image_without_payload(image: images.Image, workdir: Path) -> images.Image:
    """A copy of IMAGE whose newest initrd was rebuilt offline without ro-root's files."""
    disk = workdir / "disk.img"
    run(["cp", "--sparse=always", image.disk, disk])
    aside = workdir / "aside"
    aside.mkdir()
    with images.loop_mounted(disk, workdir / "tree") as tree:
        for number, name in enumerate(PAYLOAD_FILES):
            shutil.move(tree / name, aside / str(number))
        try:
            run(
                ["chroot", tree, "update-initramfs", "-u", "-k", image.newest.version],
                capture=True,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"},
            )
        finally:
            for number, name in enumerate(PAYLOAD_FILES):
                shutil.move(aside / str(number), tree / name)
    copy = dataclasses.replace(image, disk=disk, directory=workdir)
    return images.refresh_kernels(copy)


@pytest.mark.fault(
    6,
    "The initrd lacks the payload",
    expected="a plain boot (no /run/ro-root); `ro-root status` exits 5 and says the initrd "
    "of the running kernel lacks the payload, with the command that fixes it",
)
def test_initrd_without_payload_boots_plain_and_status_says_why(
    image: images.Image, tmp_path_factory: pytest.TempPathFactory, observed: Observed
) -> None:
    try:
        plain = image_without_payload(image, tmp_path_factory.mktemp("no-payload"))
        if plain.newest.has_payload:
            pytest.fail("the rebuilt initrd still has the payload", pytrace=False)
        boot = qemu.boot(plain, ("rorootest.task=status",), expect="none")
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)
    kernel = boot.facts.get("kernel", "?")
    message = (
        f"the initrd of kernel {kernel} lacks ro-root's payload; "
        f"run: ro-root exec update-initramfs -u -k {kernel}, then reboot"
    )
    problems = vmtest.facts_differ(
        boot, rorootstate="none", root_fstype="ext4", ro_fstype="", cmd_status_rc="5"
    )
    problems += [] if boot.facts.get("rorootlog.count") == "0" else ["/run/ro-root/log exists"]
    if f"initrd: {message}" not in status_text(boot, "status"):
        problems.append(f"ro-root status does not say {message!r}")
    data = status_json(boot, "status")
    if (data.get("state"), data.get("initrd_payload"), data.get("exit_status")) != (
        "none",
        False,
        5,
    ):
        problems.append(f"status --json: {data}")
    if "ro-root: " in boot.log.split(qemu.PROBE_BEGIN, 1)[0]:
        problems.append("ro-root printed something at boot")
    vmtest.expect(boot, problems, "an initrd without the payload")
    observed(
        f"initrd of {kernel} without scripts/init-bottom/ro-root "
        f"({len(plain.newest.initrd_files)} files); state {boot.facts['rorootstate']}, / is "
        f"{boot.facts['root_fstype']}; ro-root status exit {boot.facts['cmd_status_rc']}: "
        f"{data.get('initrd_check')!r}"
    )
