"""Settings on real boots (issue 4): a preseeded install, size limit, data mounts, a
persistent upper layer, failure policies, and a configuration file full of garbage.

Image "preseeded" (Debian 12, systemd): ro-root installed with DEBIAN_FRONTEND=noninteractive
after debconf-set-selections, as an unattended installation does. Two extra disks: "data"
(ext4, LABEL=data) and "upper" (ext4, LABEL=upper). Its boots, in order:

1. fill: tmpfs layer; the preseeded settings are in /etc/ro-root.conf and in effect; a
   writer fills the layer: it stops at the 64m limit with ENOSPC and the system stays up;
   journald is volatile; the data disk is mounted writable on /var/local/data;
2. reboot: the root forgot boot 1's writes, the data disk kept them; the root disk image is
   byte-identical from before boot 1 to after boot 2;
3. no-data: the data disk is missing: a warning, and a normal overlay boot;
4. upper-1, 5. upper-2: ro-root=device:LABEL=upper: the writable layer is the upper disk and
   what boot 4 wrote is still there in boot 5; the root disk image is unchanged;
6. upper-missing: ro-root=device:LABEL=upper without that disk: tmpfs, loudly;
7. policy-ro: modprobe.blacklist=overlay with the preseeded failure_policy=ro: the real root
   read-only without overlay, a failed unit, and the disk image unchanged;
8. policy-panic: the same with ro-root.policy=panic: the boot stops in the initramfs;
9. policy-rw: the same with ro-root.policy=rw: writable, loudly (a failed unit).

Image "garbage": /etc/ro-root.conf holds binary junk, $(...) and backticks, unknown keys:
the boot is a default overlay, every bad line is reported, nothing is executed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import vmtest
from vmtest import Boot, BootSequence

from ro_root.errors import UserError
from testbed import images, qemu

pytestmark = pytest.mark.vm

SPEC = images.ImageSpec(suite="bookworm", init="systemd")

# The answers of an unattended installation (see `python3 build.py preseed`).
PRESEED = {
    "enabled": ("boolean", "true"),
    "mode": ("select", "tmpfs"),
    "size": ("string", "64m"),
    "data_mounts": ("string", "LABEL=data:/var/local/data"),
    "failure_policy": ("select", "ro"),
}
SELECTIONS = "".join(
    f"ro-root ro-root/{key} {kind} {value}\n" for key, (kind, value) in PRESEED.items()
)
SIZE_LIMIT = 64 * 1024 * 1024
UPPER = "ro-root=device:LABEL=upper"
NO_OVERLAY = "modprobe.blacklist=overlay"

BOOTS = {
    "fill": Boot(("rorootest.task=fill",), expect="active", drives=("data",)),
    "reboot": Boot((), expect="active", drives=("data",)),
    "no-data": Boot((), expect="active"),
    "upper-1": Boot((UPPER,), expect="active", drives=("data", "upper")),
    "upper-2": Boot((UPPER,), expect="active", drives=("data", "upper")),
    "upper-missing": Boot((UPPER,), expect="active", drives=("data",)),
    "policy-ro": Boot((NO_OVERLAY,), expect="failed"),
    "policy-panic": Boot((NO_OVERLAY, "ro-root.policy=panic"), expect="panic"),
    "policy-rw": Boot((NO_OVERLAY, "ro-root.policy=rw"), expect="failed"),
}
# Every boot but the last (writable) one must leave the root disk image as it was.
UNCHANGED = [name for name in BOOTS if name != "policy-rw"]


@pytest.fixture(scope="module")
def image(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> images.Image:
    workdir = tmp_path_factory.mktemp("preseeded")
    try:
        return images.prepare_image(
            SPEC,
            [ro_root_deb],
            workdir,
            selections=SELECTIONS,
            files_before=vmtest.SMALL_INITRD,
        )
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def boots(image: images.Image) -> BootSequence:
    disks = {
        "data": images.make_disk(image.directory / "data.img", "data"),
        "upper": images.make_disk(image.directory / "upper.img", "upper"),
    }
    return BootSequence(image, BOOTS, hash_disk=UNCHANGED, disks=disks)


def logged(boot: qemu.BootResult, text: str) -> list[str]:
    """A problem unless TEXT is in one of the lines of /run/ro-root/log."""
    if any(text in line for line in boot.numbered("rorootlog")):
        return []
    return [f"/run/ro-root/log has no line with {text!r}"]


def disk_unchanged(boots: BootSequence, first: str, last: str) -> list[str]:
    names = list(BOOTS)[list(BOOTS).index(first) : list(BOOTS).index(last) + 1]
    digests = {boots.disk_before.get(first)} | {boots.disk_after.get(n) for n in names}
    if None in digests:
        return [f"the disk was not hashed around boots {names}"]
    if len(digests) != 1:
        return [f"boots {names} changed {boots.image.disk}"]
    return []


def test_preseeded_answers_are_the_configuration_in_effect(boots: BootSequence) -> None:
    boot = boots("fill")
    conf = boot.numbered("conf")
    problems = [
        f"/etc/ro-root.conf lacks {line!r} (it has {conf})"
        for line in (
            "enabled=yes",
            "mode=tmpfs",
            "size=64m",
            'data_mounts="LABEL=data:/var/local/data"',
            "failure_policy=ro",
        )
        if line not in conf and line.replace('"', "") not in conf
    ]
    problems += vmtest.facts_differ(
        boot,
        **{
            "setting.size": "64m",
            "setting.failure_policy": "ro",
            "setting.data_mounts": "LABEL=data:/var/local/data",
            "setting.warnings": "0",
        },
    )
    vmtest.expect(boot, problems, "the preseeded configuration is not the one in effect")


def test_tmpfs_size_limit_is_enforced_and_the_system_stays_up(boots: BootSequence) -> None:
    boot = boots("fill")
    problems = vmtest.overlay_problems(boot)
    size_kb = int(boot.facts.get("rw_size_kb") or 0)
    if size_kb != SIZE_LIMIT // 1024:
        problems.append(f"/rw is {size_kb} KiB, expected the 64m limit")
    filled = int(boot.facts.get("fill_bytes") or 0)
    if not SIZE_LIMIT // 2 < filled <= SIZE_LIMIT:
        problems.append(f"the writer stopped after {filled} bytes, not at the 64m limit")
    if not any("No space left on device" in line for line in boot.numbered("task_out")):
        problems.append("the writer did not end with 'No space left on device'")
    vmtest.expect(boot, problems, "the size limit")


def test_journal_is_volatile_and_capped(boots: BootSequence) -> None:
    boot = boots("fill")
    problems = vmtest.facts_differ(boot, journal_in_run="yes", journal_in_var="no")
    dropin = boot.facts.get("journald_dropin", "")
    if "Storage=volatile" not in dropin or "RuntimeMaxUse=16M" not in dropin:
        problems.append(f"the journald drop-in is {dropin!r}")
    vmtest.expect(boot, problems, "journald")


def test_data_mount_persists_while_the_rest_resets(boots: BootSequence) -> None:
    first, second = boots("fill"), boots("reboot")
    problems = vmtest.facts_differ(
        first,
        data_mp="/var/local/data",
        data_mounted="yes",
        data_source="/dev/vdb",
        data_written="yes",
    )
    problems += vmtest.facts_differ(
        second, data_mounted="yes", data_marker_before=first.facts.get("boot_id", "?")
    )
    problems += vmtest.overlay_problems(second)
    problems += disk_unchanged(boots, "fill", "reboot")
    vmtest.expect(second, problems, "the data mount")
    vmtest.expect_reboot_forgets(boots, "fill", "reboot")


def test_missing_data_device_warns_and_boots(boots: BootSequence) -> None:
    boot = boots("no-data")
    problems = vmtest.overlay_problems(boot)
    problems += vmtest.facts_differ(boot, data_mounted="no")
    problems += logged(boot, "data mount LABEL=data (for /var/local/data) not found within 10 s")
    if "ro-root: warning: data mount LABEL=data" not in boot.log:
        problems.append("the missing data disk was not reported on the console")
    vmtest.expect(boot, problems, "a missing data disk")


def test_persistent_upper_layer_survives_a_reboot(boots: BootSequence) -> None:
    first, second = boots("upper-1"), boots("upper-2")
    problems = []
    for boot in (first, second):
        problems += vmtest.root_is_overlay(boot)
        problems += vmtest.real_root_read_only_on_ro(boot)
        problems += vmtest.facts_differ(
            boot, rw_fstype="ext4", write_ok="yes", **{"setting.upper": "/dev/vdc"}
        )
        if "changes persist on /dev/vdc (LABEL=upper)" not in boot.facts.get("rorootreason", ""):
            problems.append(f"reason: {boot.facts.get('rorootreason')!r}")
    problems += vmtest.facts_differ(
        second, marker_before="present", marker_before_content=first.facts.get("boot_id", "?")
    )
    problems += disk_unchanged(boots, "upper-1", "upper-2")
    vmtest.expect(second, problems, "the persistent upper layer")


def test_missing_upper_device_falls_back_to_tmpfs_loudly(boots: BootSequence) -> None:
    boot = boots("upper-missing")
    problems = vmtest.overlay_problems(boot)
    problems += vmtest.facts_differ(boot, marker_before="absent", **{"setting.upper": "tmpfs"})
    problems += logged(boot, "persistent upper device LABEL=upper not found within 10 s")
    if "falling back to tmpfs, changes will NOT persist" not in boot.log:
        problems.append("the fallback was not reported on the console")
    vmtest.expect(boot, problems, "a missing upper disk")


def test_policy_ro_keeps_the_real_root_read_only(boots: BootSequence) -> None:
    boot = boots("policy-ro")
    problems = vmtest.facts_differ(boot, rorootstate="failed", root_fstype="ext4", write_ok="no")
    problems += vmtest.has_option(boot, "root_options", "ro")
    if "(failure_policy=ro)" not in boot.facts.get("rorootreason", ""):
        problems.append(f"reason: {boot.facts.get('rorootreason')!r}")
    if "ro-root-failed.service" not in boot.facts.get("failed_units", ""):
        problems.append("systemd does not list ro-root-failed.service as failed")
    problems += disk_unchanged(boots, "fill", "policy-ro")
    vmtest.expect(boot, problems, "failure_policy=ro")


def test_policy_panic_stops_the_boot_loudly(boots: BootSequence) -> None:
    boot = boots("policy-panic")
    problems = []
    for text in ("ro-root: FAILED: the kernel has no overlay", "failure_policy=panic"):
        if text not in boot.log:
            problems.append(f"the console does not show {text!r}")
    problems += disk_unchanged(boots, "fill", "policy-panic")
    assert not problems, f"{problems}\nserial log: {boot.log_path}"


def test_policy_rw_boots_writable_with_a_failed_unit(boots: BootSequence) -> None:
    boot = boots("policy-rw")
    problems = vmtest.facts_differ(boot, rorootstate="failed", root_fstype="ext4", write_ok="yes")
    problems += vmtest.has_option(boot, "root_options", "rw")
    if "(failure_policy=rw)" not in boot.facts.get("rorootreason", ""):
        problems.append(f"reason: {boot.facts.get('rorootreason')!r}")
    if "ro-root-failed.service" not in boot.facts.get("failed_units", ""):
        problems.append("systemd does not list ro-root-failed.service as failed")
    if "ro-root: FAILED:" not in boot.log:
        problems.append("no FAILED line on the console")
    vmtest.expect(boot, problems, "failure_policy=rw")


# --- a configuration file full of garbage ----------------------------------------------------

GARBAGE = (
    b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe\x1b[2J\n"
    b"size=$(mkdir /run/ro-root-pwned)\n"
    b"mode=`mkdir /run/ro-root-pwned`\n"
    b"failure_policy=panic; mkdir /root/ro-root-pwned\n"
    b"$(mkdir /root/ro-root-pwned)=1\n"
    b"`mkdir /run/ro-root-pwned`\n"
    b"no_such_key=1\n"
    b"data_mounts=LABEL=x:/$(mkdir /run/ro-root-pwned)\n"
    b"enabled=nope\n"
    b"\x00\x01\x02binary\x00junk\xff\n"
)


@pytest.fixture(scope="module")
def garbage(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> BootSequence:
    workdir = tmp_path_factory.mktemp("garbage")
    try:
        image = images.prepare_image(
            SPEC,
            [ro_root_deb],
            workdir,
            files={"/etc/ro-root.conf": GARBAGE},
            files_before=vmtest.SMALL_INITRD,
        )
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)
    return BootSequence(image, {"garbage": Boot((), expect="active")})


def test_garbage_config_boots_with_defaults_and_executes_nothing(garbage: BootSequence) -> None:
    boot = garbage("garbage")
    problems = vmtest.overlay_problems(boot)
    problems += vmtest.facts_differ(
        boot,
        pwned="",
        **{
            "setting.mode": "tmpfs",
            "setting.size": "50%",
            "setting.failure_policy": "rw",
            "setting.enabled": "yes",
            "setting.data_mounts": "",
        },
    )
    problems += logged(boot, "unknown setting 'no_such_key' ignored")
    problems += logged(boot, "/etc/ro-root.conf line 8: bad item 'LABEL=x:/$(mkdir'")
    problems += logged(boot, "bad value '$(mkdir /run/ro-root-pwned)' for size")
    if int(boot.facts.get("setting.warnings") or 0) < 8:
        problems.append(f"only {boot.facts.get('setting.warnings')} warnings for 9 bad lines")
    if "\x1b[2J" in boot.log:
        problems.append("the junk's escape sequence reached the console")
    vmtest.expect(boot, problems, "a garbage configuration")
