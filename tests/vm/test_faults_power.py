"""Faults 2, 3, 5 and 7 of the reliability issue, on real boots: power cuts, a data device
that disappears, an interrupted upgrade. docs/reliability.md is made from these results.

A power cut is qemu killed with SIGKILL (qemu.boot's cut_at) when the guest prints a cue on the
console: the disk image keeps what the guest had handed to its virtual disk by then, and
nothing else (what was still in the guest's page cache is lost, as in a real cut; qemu runs
with the host's page cache, so what the guest did write is not lost a second time).

Image "power" (Debian 12, systemd; the data disk "data" on /var/local/data through a
preseeded data_mounts, attached at every boot). Its boots, in order:

1. session-cut: an ordinary read-only session writes and fsyncs files all the time (new ones,
   and changed and deleted files of the real root); power cut. [fault 3]
2. unplug: the next boot (read-only again, the disk image unchanged); while a writer fsyncs
   to the data disk, its virtio PCI device is removed in the guest (the kernel's view of a
   yanked disk); the system must keep running. [faults 3 and 5]
3. apt-cut: `ro-root exec apt-get install -y ./rorootest-slow.deb`, power cut while the
   package's postinst runs (dpkg has unpacked it, not configured it). [fault 2]
4. apt-repair: the next boot is read-only (`active`); `dpkg --audit` names the package, and
   `ro-root exec dpkg --configure -a` (documented in ro-root(8) and the README) repairs it.
   [fault 2]

Image "upgrade" (Debian 12, sysvinit, so initscripts' checkroot.sh is really diverted): version
A of ro-root installed; offline, on the disk image loop-mounted (an in-guest initrd rebuild
takes about ten minutes under TCG, in a chroot about one), `dpkg -i` of version B is killed
during B's postinst, then `dpkg --configure -a` is killed while the initrd is being rebuilt
(mkinitramfs), then `dpkg --configure -a` runs to the end; then the image boots. [fault 7]
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import vmtest
from support import add_changelog_entry, build_deb, copy_source

from ro_root.errors import UserError, die
from ro_root.proc import run
from testbed import images, qemu
from testbed.proc import Stopped, run_until

pytestmark = pytest.mark.vm

CUT = "RO-ROOT-POWER-CUT-NOW"
SPEC = images.ImageSpec(suite="bookworm", init="systemd")
SELECTIONS = "ro-root ro-root/data_mounts string LABEL=data:/var/local/data\n"
# A boot whose task runs apt and ro-root exec several times.
LONG_TIMEOUT = 600.0


def e2fsck(disk: Path) -> tuple[int, str]:
    """e2fsck -fn DISK (reads only): exit status and its summary (files, blocks) line."""
    proc = run(["e2fsck", "-fn", disk], check=False, capture=True)
    lines = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
    return proc.returncode, lines[-1].split(": ", 1)[-1] if lines else ""


def needs_recovery(disk: Path) -> bool:
    """The ext4 journal of DISK holds transactions not yet written to their place."""
    proc = run(["dumpe2fs", "-h", disk], check=False, capture=True)
    features = [line for line in proc.stdout.splitlines() if line.startswith("Filesystem features")]
    return bool(features) and "needs_recovery" in features[0]


def console_says(boot: qemu.BootResult, prefix: str) -> list[str]:
    """The console lines starting with PREFIX (what a cut boot's task printed before the cue)."""
    lines = boot.log.replace("\r", "").splitlines()
    return [line for line in lines if line.startswith(prefix)]


def fact(boot: qemu.BootResult, name: str) -> str:
    return boot.facts.get(f"cmd_{name}", "missing")


def out(boot: qemu.BootResult, name: str) -> str:
    return "\n".join(boot.numbered(f"cmd_{name}_out"))


class PowerImage(vmtest.Steps):
    """The boots of image "power", each run once on first demand and in order; a failed step
    is remembered and fails every test that needs it."""

    def __init__(self, image: images.Image) -> None:
        super().__init__()
        self.image = image
        self.data = images.make_disk(image.directory / "data.img", "data")
        self.sha: dict[str, str] = {}
        self.fsck: dict[str, tuple[int, str]] = {}
        self.notes: dict[str, str] = {}
        self.steps = [
            ("session-cut", self._session_cut),
            ("unplug", self._unplug),
            ("apt-cut", self._apt_cut),
            ("apt-repair", self._apt_repair),
        ]

    def _boot(self, task: str, **kwargs: object) -> qemu.BootResult:
        return qemu.boot(
            self.image,
            (f"rorootest.task={task}",),
            drives=[self.data],
            **kwargs,  # type: ignore[arg-type]
        )

    def _session_cut(self) -> qemu.BootResult:
        self.sha["before"] = images.disk_digest(self.image.disk)
        result = self._boot("fault-session-cut", cut_at=CUT)
        self.sha["after-cut"] = images.disk_digest(self.image.disk)
        return result

    def _unplug(self) -> qemu.BootResult:
        result = self._boot("fault-data-unplug", expect="active")
        self.sha["after-next-boot"] = images.disk_digest(self.image.disk)
        return result

    def _apt_cut(self) -> qemu.BootResult:
        result = self._boot("fault-apt-cut", cut_at=CUT, timeout=LONG_TIMEOUT)
        disk = self.image.disk
        self.notes["needs_recovery"] = "yes" if needs_recovery(disk) else "no"
        self.fsck["after-cut"] = e2fsck(disk)
        # What the next mount does first, replaying the journal, done on a copy here so that
        # the check needs no boot: then e2fsck -fn must find nothing.
        copy = disk.with_name("after-cut-copy.img")
        run(["cp", "--sparse=always", disk, copy])
        try:
            replay = run(["e2fsck", "-E", "journal_only", "-y", copy], check=False, capture=True)
            self.notes["replay_rc"] = str(replay.returncode)
            self.fsck["after-replay"] = e2fsck(copy)
        finally:
            copy.unlink(missing_ok=True)
        return result

    def _apt_repair(self) -> qemu.BootResult:
        result = self._boot("fault-apt-repair", expect="active", timeout=LONG_TIMEOUT)
        self.fsck["after-repair"] = e2fsck(self.image.disk)
        status = run(
            ["debugfs", "-R", "cat /var/lib/dpkg/status", self.image.disk], capture=True
        ).stdout
        stanza = re.search(r"^Package: rorootest-slow\n(?:.+\n)*?Status: (.+)$", status, re.M)
        self.notes["status_on_disk"] = stanza.group(1) if stanza else "absent"
        return result


@pytest.fixture(scope="module")
def power(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> PowerImage:
    try:
        image = images.prepare_image(
            SPEC,
            [ro_root_deb],
            tmp_path_factory.mktemp("power"),
            selections=SELECTIONS,
            files_before=vmtest.SMALL_INITRD,
        )
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)
    return PowerImage(image)


# --- fault 3 -------------------------------------------------------------------------------


@pytest.mark.fault(
    3,
    "Power cut during an ordinary read-only session",
    expected="the disk image is byte-identical after the cut and after the next boot, which "
    "is read-only (active) again and has forgotten the session's writes",
)
def test_power_cut_during_a_read_only_session_leaves_the_image_byte_identical(
    power: PowerImage, observed: Callable[[str], None]
) -> None:
    cut = power("session-cut")
    after = power("unplug")
    problems = []
    said = console_says(cut, "rorootest-cut: ")
    if not any("state=active root=overlay" in line for line in said):
        problems.append(f"the session was not a read-only overlay: {said}")
    rounds = [line for line in said if "rounds written" in line]
    if not rounds:
        problems.append("the session did not report its writes before the cut")
    digests = [power.sha.get(k, "?") for k in ("before", "after-cut", "after-next-boot")]
    if len(set(digests)) != 1:
        problems.append(f"disk sha256 before/after the cut/after the next boot: {digests}")
    problems += vmtest.root_is_overlay(after)
    problems += vmtest.real_root_read_only_on_ro(after)
    problems += vmtest.facts_differ(after, marker_before="absent")
    vmtest.expect(after, problems, "a power cut during a read-only session")
    observed(
        f"cut {cut.seconds:.0f} s into the boot while writing "
        f"({rounds[0].removeprefix('rorootest-cut: ')}); disk sha256 {digests[0][:16]}… before "
        f"the cut, after it and after the next boot ({len(set(digests))} distinct value); next "
        f"boot {after.facts['rorootstate']}, / {after.facts['root_fstype']}, the session's "
        f"marker {after.facts['marker_before']}"
    )


# --- fault 5 -------------------------------------------------------------------------------


@pytest.mark.fault(
    5,
    "A data device disappears at run time",
    expected="the rest of the system keeps running: the boot finishes and reports, systemd "
    "running or degraded, / still writable (in RAM), ro-root still active; `ro-root status` "
    "warns that the data mount is gone and that writes there now go to RAM, or, when systemd "
    "left the file system mounted on the vanished device, that writes there fail (exit 6)",
)
def test_data_device_unplugged_at_run_time_the_system_keeps_running(
    power: PowerImage, observed: Callable[[str], None]
) -> None:
    boot = power("unplug")
    problems = vmtest.facts_differ(
        boot,
        cmd_unplug_source="/dev/vdb",
        cmd_removed="yes",
        cmd_dev_after="no",
        cmd_root_write_after="after-unplug",
        cmd_writer_stopped="yes",
        rorootstate="active",
        write_ok="yes",
    )
    if int(fact(boot, "writes_ok_before") or 0) < 1:
        problems.append("the writer had not written to the data disk before the removal")
    state = fact(boot, "state_after")
    if state not in ("running", "degraded"):
        problems.append(f"systemd is {state!r} after the removal")
    if boot.facts.get("system_state") not in ("running", "degraded"):
        problems.append(f"systemd is {boot.facts.get('system_state')!r} at the end of the boot")
    if fact(boot, "services_after").split() != ["active", "active"]:
        problems.append(f"journald, udevd: {fact(boot, 'services_after')!r}")
    warnings = [line for line in out(boot, "status").splitlines() if line.startswith("warning:")]
    # systemd normally unmounts the file system once udev reports the device gone; once in
    # CI it did not within 60 s, and the mount stayed on the vanished /dev/vdb. Either way
    # status must say so.
    if fact(boot, "data_mount_after"):
        wanted = "data mount LABEL=data on /var/local/data: its device /dev/vdb is gone"
    else:
        wanted = "data mount LABEL=data is not mounted on /var/local/data"
    lost = [line for line in warnings if wanted in line]
    if fact(boot, "status_rc") != "6" or not lost:
        problems.append(
            f"ro-root status exited {fact(boot, 'status_rc')} without the warning {wanted!r}: "
            f"{out(boot, 'status')!r}"
        )
    vmtest.expect(boot, problems, "a data device removed at run time")
    journal = boot.numbered("cmd_journal")
    io_errors = sum("I/O error" in line for line in journal)
    events = [
        line
        for line in journal
        if any(k in line for k in ("Aborting journal", "unmounting filesystem", "Unmounted "))
    ]
    mount = fact(boot, "data_mount_after") or "not mounted"
    written_after = int(fact(boot, "writes_ok_after")) - int(fact(boot, "writes_ok_before"))
    observed(
        f"{fact(boot, 'writes_ok_before')} fsync'ed writes to /dev/vdb before its PCI device was "
        f"removed; then {fact(boot, 'writes_err_after')} failed "
        f"({fact(boot, 'writer_lasterr') or 'no error text'}) and {written_after} succeeded; "
        f"/var/local/data afterwards: {mount} (mount unit {fact(boot, 'mount_unit_after')}), "
        f"the writer's file in the RAM layer: {fact(boot, 'writer_file_in_ram')}; journal: "
        f"{io_errors} I/O error lines, {'; '.join(events) or 'no unmount'}; systemd {state}, "
        f"journald/udevd {fact(boot, 'services_after').strip()}, / writable; `ro-root status` "
        f"exit {fact(boot, 'status_rc')}: {'; '.join(warnings) or 'no warning'}"
    )


# --- fault 2 -------------------------------------------------------------------------------


@pytest.mark.fault(
    2,
    "Power cut during `ro-root exec apt-get install`",
    expected="the next boot is read-only (active); the real root's ext4 checks clean once its "
    "journal is replayed (by the next mount); `dpkg --audit` names the interrupted package and "
    "`ro-root exec dpkg --configure -a` repairs it for good",
)
def test_power_cut_during_exec_apt_install_boots_read_only_and_dpkg_is_repairable(
    power: PowerImage, observed: Callable[[str], None]
) -> None:
    cut = power("apt-cut")
    boot = power("apt-repair")
    problems = []
    said = console_says(cut, "rorootest-cut: ")
    if not any("postinst configure running" in line for line in said):
        problems.append(f"the cut did not land in the package's postinst: {said}")
    replayed = power.fsck.get("after-replay", (-1, "not run"))
    if replayed[0] != 0:
        problems.append(f"e2fsck -fn after replaying the journal: {replayed}")
    repaired = power.fsck.get("after-repair", (-1, "not run"))
    if repaired[0] != 0:
        problems.append(f"e2fsck -fn after the repair boot: {repaired}")
    problems += vmtest.root_is_overlay(boot)
    problems += vmtest.real_root_read_only_on_ro(boot)
    if "rorootest-slow" not in out(boot, "audit_before"):
        problems.append(f"dpkg --audit after the cut: {out(boot, 'audit_before')!r}")
    problems += vmtest.facts_differ(
        boot,
        cmd_repair_rc="0",
        cmd_audit_after="",
        cmd_audit_after_rc="0",
        cmd_slow_after="ii",
        cmd_slow_files="50",
    )
    if "ro" not in fact(boot, "repair_ro_options").split(","):
        problems.append(f"/ro after the repair: {fact(boot, 'repair_ro_options')}")
    if power.notes.get("status_on_disk") != "install ok installed":
        problems.append(f"rorootest-slow on the disk image: {power.notes.get('status_on_disk')}")
    vmtest.expect(boot, problems, "a power cut during ro-root exec apt-get install")
    audit = " ".join(out(boot, "audit_before").split())
    after_cut = power.fsck["after-cut"]
    observed(
        f"cut {cut.seconds:.0f} s into the boot, in rorootest-slow's postinst "
        f"(state {fact(boot, 'slow_before')!r} afterwards); journal needed recovery: "
        f"{power.notes['needs_recovery']}; e2fsck -fn right after the cut (journal not "
        f"replayed): exit {after_cut[0]}; after replaying it: exit {replayed[0]} "
        f"({replayed[1]}); next boot {boot.facts['rorootstate']}; dpkg --audit: {audit[:160]!r}; "
        f"`ro-root exec dpkg --configure -a` exit {fact(boot, 'repair_rc')}, then dpkg --audit "
        f"empty, package {fact(boot, 'slow_after')!r}, {fact(boot, 'slow_files')} files; "
        f"on disk: {power.notes['status_on_disk']!r}, e2fsck -fn exit {repaired[0]}"
    )


# --- fault 7 -------------------------------------------------------------------------------

UPGRADE_SPEC = images.ImageSpec(suite="bookworm", init="sysvinit")
CHROOT_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "DEBIAN_FRONTEND": "noninteractive",
    "LC_ALL": "C",
}
DIVERTED = "/etc/init.d/checkroot.sh"
DIVERTED_TO = "/etc/init.d/checkroot.sh.ro-root.orig"
WRAPPER = "/usr/libexec/ro-root/checkroot.sh"
# Appended to the payload of version B, so that its initrd can be told from A's.
# A command line, not a comment: the hook copies the core without its comments (issue 17).
B_MARK = ": rorootest: payload of version B"
# What the chroot reports about dpkg's state, one KEY=VALUE line each.
STATE_SCRIPT = f"""
echo "ro_root=$(dpkg-query -W -f='${{db:Status-Abbrev}} ${{Version}}' ro-root)"
echo "initramfs_tools=$(dpkg-query -W -f='${{db:Status-Abbrev}}' initramfs-tools)"
echo "audit=$(dpkg --audit 2>&1 | tr '\\n' ' ')"
echo "diversions=$(dpkg-divert --list | grep -c ' by ro-root$') $(dpkg-divert --list '{DIVERTED}')"
echo "leftovers=$(ls /boot | grep -E '\\.new$|\\.dpkg-bak$' | tr '\\n' ' ')"
echo "payload=$(for i in /boot/initrd.img-*; do \
    case "$i" in (*.new | *.dpkg-bak) continue ;; esac; \
    lsinitramfs "$i" | grep -c '{images.PAYLOAD_IN_INITRD}$'; done | tr '\\n' ' ')"
"""
FINAL_SCRIPT = f"""
echo "verify=$(dpkg --verify ro-root 2>&1 | tr '\\n' ' ')"
echo "verify_rc=$(dpkg --verify ro-root >/dev/null 2>&1; echo $?)"
echo "link=$(readlink '{DIVERTED}')"
echo "orig_md5=$(md5sum <'{DIVERTED_TO}' | cut -d ' ' -f 1)"
echo "dpkg_md5=$(dpkg-query -W -f='${{Conffiles}}\\n' initscripts | \
    awk '$1 == "{DIVERTED}" {{ print $2 }}')"
"""


def parse(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def running_in(root: Path, needle: str, after: float = 0.0) -> Callable[[], bool]:
    """A condition for run_until(): a process chrooted into ROOT has NEEDLE in its command
    line, and has had for AFTER seconds."""
    root_path = str(root.resolve())
    seen: list[float] = []

    def check() -> bool:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if str((entry / "root").readlink()) != root_path:
                    continue
                if needle.encode() not in (entry / "cmdline").read_bytes():
                    continue
            except OSError:  # gone meanwhile, or not ours to read
                continue
            if not seen:
                seen.append(time.monotonic())
            return time.monotonic() - seen[0] >= after
        return False

    return check


class Upgrade:
    """The offline interrupted upgrade of image "upgrade", its observations, and its boot."""

    def __init__(self, image: images.Image, deb_b: Path) -> None:
        self.image = image
        self.deb_b = deb_b
        self.version_b = deb_b.name.split("_")[1]
        self.states: dict[str, dict[str, str]] = {}
        self.kills: dict[str, str] = {}
        self.final: dict[str, str] = {}
        self.repair_rc = -1
        self.initrd_has_b = False
        self.fsck: tuple[int, str] = (-1, "not run")
        self.boot: qemu.BootResult | None = None

    def _chroot(self, mnt: Path, script: str) -> dict[str, str]:
        proc = run(["chroot", mnt, "sh", "-c", script], capture=True, env=CHROOT_ENV)
        return parse(proc.stdout)

    def _killed(self, mnt: Path, name: str, argv: list[str], needle: str, after: float) -> None:
        proc = run_until(
            ["chroot", mnt, *argv],
            running_in(mnt, needle, after),
            check=False,
            capture=True,
            env=CHROOT_ENV,
            poll=0.05,
            timeout=900,
        )
        if not isinstance(proc, Stopped):
            die(
                f"{' '.join(argv)} ended (exit {proc.returncode}) before {needle} ran:\n"
                f"{proc.stdout}{proc.stderr}"
            )
        self.kills[name] = needle
        self.states[name] = self._chroot(mnt, STATE_SCRIPT)

    def run(self) -> None:
        with images.loop_mounted(self.image.disk, self.image.directory / "mnt") as mnt:
            shutil.copyfile(self.deb_b, mnt / "tmp" / self.deb_b.name)
            self.states["A"] = self._chroot(mnt, STATE_SCRIPT)
            # 1. dpkg -i of B, killed (with all it started) in B's postinst.
            self._killed(
                mnt,
                "postinst",
                ["dpkg", "-i", f"/tmp/{self.deb_b.name}"],
                "ro-root.postinst",
                0.0,
            )
            # 2. The repair, killed 3 s into the initrd rebuild (the update-initramfs
            # trigger), the longest step of an upgrade of ro-root.
            self._killed(mnt, "mkinitramfs", ["dpkg", "--configure", "-a"], "mkinitramfs", 3.0)
            # 3. The repair, to the end.
            proc = run(
                ["chroot", mnt, "dpkg", "--configure", "-a"],
                check=False,
                capture=True,
                env=CHROOT_ENV,
            )
            self.repair_rc = proc.returncode
            self.states["repaired"] = self._chroot(mnt, STATE_SCRIPT)
            self.final = self._chroot(mnt, FINAL_SCRIPT)
            (mnt / "tmp" / self.deb_b.name).unlink()
            unpacked = self.image.directory / "initrd-unpacked"
            run(
                [
                    "unmkinitramfs",
                    mnt / "boot" / f"initrd.img-{self.image.newest.version}",
                    unpacked,
                ]
            )
            functions = list(unpacked.rglob("usr/lib/ro-root/boot.sh"))
            self.initrd_has_b = bool(functions) and B_MARK in functions[0].read_text()
            shutil.rmtree(unpacked)
        self.fsck = e2fsck(self.image.disk)
        self.boot = qemu.boot(images.refresh_kernels(self.image), expect="active")


def interrupted_upgrade(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Upgrade:
    """Version A (the package under test) in an image, and the interrupted upgrade to B (A
    with a higher version and a marked payload). Run by the test itself, so that a failure
    is the test's own and docs/reliability.md shows it."""
    work = tmp_path_factory.mktemp("version-b")
    tree = copy_source(work / "src")
    version_a = ro_root_deb.name.split("_")[1]
    add_changelog_entry(tree, f"{version_a}+b1")
    functions = tree / "lib/boot.sh"
    functions.write_text(functions.read_text() + B_MARK + "\n")
    deb_b = build_deb(work / "dist", tree)
    try:
        # The generic initrd (no vmtest.SMALL_INITRD): the repair is killed 3 s into
        # mkinitramfs, which a MODULES=list build finishes sooner than that.
        image = images.prepare_image(
            UPGRADE_SPEC, [ro_root_deb], tmp_path_factory.mktemp("upgrade")
        )
        result = Upgrade(image, deb_b)
        result.run()
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)
    return result


@pytest.mark.fault(
    7,
    "Package upgrade interrupted, then `dpkg --configure -a`",
    expected="after `dpkg --configure -a`: dpkg --audit empty, the new version installed, the "
    "checkroot.sh diversion and wrapper in place with initscripts' original intact, "
    "`dpkg --verify ro-root` clean, the initrd carries the new payload; boots read-only",
)
def test_interrupted_upgrade_is_repaired_by_configure_and_boots_read_only(
    ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory, observed: Callable[[str], None]
) -> None:
    upgrade = interrupted_upgrade(ro_root_deb, tmp_path_factory)
    boot = upgrade.boot
    assert boot is not None
    states = upgrade.states
    final = upgrade.final
    diversion = f"1 diversion of {DIVERTED} to {DIVERTED_TO} by ro-root"
    problems = []
    if not states["postinst"]["ro_root"].startswith("iF "):
        problems.append(f"after the kill in postinst ro-root is {states['postinst']['ro_root']!r}")
    expected = {"ro_root": f"ii {upgrade.version_b}", "audit": "", "diversions": diversion}
    problems += [
        f"after dpkg --configure -a, {key} is {states['repaired'].get(key)!r}, not {value!r}"
        for key, value in expected.items()
        if " ".join(states["repaired"].get(key, "").split()) != value
    ]
    if states["mkinitramfs"].get("payload", "").split() != ["1"]:
        problems.append(
            f"after the kill in mkinitramfs the initrd lacks the payload: {states['mkinitramfs']}"
        )
    if upgrade.repair_rc != 0:
        problems.append(f"dpkg --configure -a exited {upgrade.repair_rc}")
    if final.get("verify_rc") != "0" or final.get("verify"):
        problems.append(f"dpkg --verify ro-root: {final.get('verify')!r}")
    if final.get("link") != WRAPPER:
        problems.append(f"{DIVERTED} -> {final.get('link')!r}")
    if not final.get("orig_md5") or final.get("orig_md5") != final.get("dpkg_md5"):
        problems.append(
            f"{DIVERTED_TO} md5 {final.get('orig_md5')!r}, "
            f"initscripts has {final.get('dpkg_md5')!r}"
        )
    if not upgrade.initrd_has_b:
        problems.append("the initrd does not carry version B's payload")
    if upgrade.fsck[0] != 0:
        problems.append(f"e2fsck -fn: {upgrade.fsck}")
    problems += vmtest.root_is_overlay(boot)
    problems += vmtest.real_root_read_only_on_ro(boot)
    problems += vmtest.facts_differ(
        boot, ro_root_version=upgrade.version_b, checkroot=f"symlink {WRAPPER}"
    )
    if DIVERTED_TO not in boot.facts.get("diversions", ""):
        problems.append(f"diversions at boot: {boot.facts.get('diversions')!r}")
    vmtest.expect(boot, problems, "an interrupted upgrade")
    killed_post, killed_mk = states["postinst"], states["mkinitramfs"]
    md5 = "matches" if final.get("orig_md5") == final.get("dpkg_md5") else "differs"
    observed(
        f"dpkg -i of {upgrade.version_b} killed in ro-root.postinst: ro-root "
        f"{killed_post['ro_root']!r}, diversion kept ({killed_post['diversions'].split(' ', 1)[0]}"
        f" of ro-root), dpkg --audit: {killed_post['audit'][:90]!r}; dpkg --configure -a "
        f"killed 3 s into mkinitramfs: ro-root {killed_mk['ro_root']!r}, initramfs-tools "
        f"{killed_mk['initramfs_tools']!r}, the initrd still with a payload "
        f"({killed_mk['payload'].strip()}), /boot also holds {killed_mk['leftovers']!r}; "
        f"dpkg --configure -a: exit {upgrade.repair_rc}, "
        f"audit {states['repaired']['audit']!r}, ro-root {states['repaired']['ro_root']!r}, "
        f"diversion {states['repaired']['diversions']!r}, dpkg --verify "
        f"{'clean' if not final.get('verify') else final['verify']}, checkroot.sh -> "
        f"{final.get('link')}, original's md5 {md5} initscripts', then /boot holds "
        f"{states['repaired']['leftovers'] or 'nothing else'!r}, initrd with B's payload: "
        f"{'yes' if upgrade.initrd_has_b else 'no'}; e2fsck -fn exit {upgrade.fsck[0]}; boot "
        f"{boot.facts['rorootstate']}, ro-root {boot.facts['ro_root_version']}"
    )
