"""The on-device `ro-root` command, the package guard and safe removal, on real boots.

One Debian 12 systemd image with ro-root; the probe runs the `cmd-*` tasks of
testbed/vmfiles/ro-root-probe. Boots, in order:

1. `first` (active): status and motd; the APT/dpkg guard warns; `apt-get remove ro-root` is
   refused; `ro-root exec` changes an initramfs input (a file in conf.d that keeps the
   image's MODULES=list, so in-guest rebuilds stay short) and installs a package; diff and
   commit; disable/enable; apt_guard=refuse refuses; a command killed inside `ro-root
   exec`. The disk image is then checked with `e2fsck -fn`.
2. `second` (active): what exec and commit wrote is there, nothing else; `disable --once`.
3. `once` (skipped): the one writable boot, which deletes the request.
   **Needs the boot code of issue 4** (the initramfs honouring /etc/ro-root.disable-once).
4. `again` (active): read-only again; `ro-root exec apt-get remove ro-root`.
5. `removed` (none): after the removal, a plain writable system.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import vmtest

from ro_root.errors import UserError
from ro_root.proc import run
from testbed import images, qemu

pytestmark = pytest.mark.vm

SPEC = images.ImageSpec(suite="bookworm", init="systemd")
# Boots that rebuild an initrd in the guest (TCG) or run apt several times.
LONG_TIMEOUT = 1800.0
GUARD_WARNING = "ro-root: WARNING: the root file system is a RAM overlay"


class Sequence(vmtest.Steps):
    """The boots above, each run once on first demand, in order; a failed boot is remembered
    and fails every test that needs it, without stopping the later boots."""

    def __init__(self, image: images.Image) -> None:
        super().__init__()
        self.image = image
        self.fsck: dict[str, str] = {}
        self.refreshed: images.Image | None = None
        self.steps = [
            ("first", lambda: self._boot("cmd-first", "active", LONG_TIMEOUT, fsck="first")),
            ("second", lambda: self._boot("cmd-second", "active")),
            ("once", lambda: self._boot("cmd-once", "skipped")),
            ("again", lambda: self._boot("cmd-remove", "active", LONG_TIMEOUT, fsck="again")),
            ("removed", self._removed),
        ]

    def _boot(
        self,
        task: str,
        expect: str,
        timeout: float = qemu.DEFAULT_BOOT_TIMEOUT,
        *,
        fsck: str | None = None,
        image: images.Image | None = None,
    ) -> qemu.BootResult:
        result = qemu.boot(
            image or self.image, (f"rorootest.task={task}",), expect=expect, timeout=timeout
        )
        if fsck is not None:
            proc = run(["e2fsck", "-fn", self.image.disk], check=False, capture=True)
            self.fsck[fsck] = f"exit status {proc.returncode}\n{proc.stdout}{proc.stderr}"
        return result

    def _removed(self) -> qemu.BootResult:
        self.refreshed = images.refresh_kernels(self.image)
        return qemu.boot(self.refreshed, (), expect="none")


@pytest.fixture(scope="module")
def boots(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Sequence:
    try:
        image = images.prepare_image(
            SPEC,
            [ro_root_deb],
            tmp_path_factory.mktemp("command"),
            files_before=vmtest.SMALL_INITRD,
        )
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)
    return Sequence(image)


def out(boot: qemu.BootResult, name: str) -> str:
    return "\n".join(boot.numbered(f"cmd_{name}_out"))


def rc(boot: qemu.BootResult, name: str) -> str:
    return boot.facts.get(f"cmd_{name}_rc", "missing")


def fact(boot: qemu.BootResult, name: str) -> str:
    return boot.facts.get(f"cmd_{name}", "missing")


def check(boot: qemu.BootResult, problems: list[str]) -> None:
    if problems:
        pytest.fail("\n  ".join(["problems:", *problems]) + "\n" + boot.describe(), pytrace=False)


# --- boot 1 ---------------------------------------------------------------------------------


def test_status_reports_active_with_exit_0_and_stable_json(boots: Sequence) -> None:
    boot = boots("first")
    assert rc(boot, "status") == "0", out(boot, "status")
    assert "state: active" in out(boot, "status")
    status = json.loads(fact(boot, "status_json"))
    assert status["format"] == 1
    assert status["state"] == "active" and status["active"] is True, status
    assert status["lower"] == "/dev/vda" and status["lower_read_only"] is True, status
    assert status["upper_total_kib"] > 0 and status["upper_used_kib"] >= 0, status
    assert status["next_boot"] == "read-only", status
    assert status["exit_status"] == 0, status


def test_motd_says_read_only_and_changes_vanish(boots: Sequence) -> None:
    boot = boots("first")
    assert rc(boot, "motd") == "0"
    text = out(boot, "motd")
    assert "READ-ONLY" in text and "vanishes at reboot" in text and "ro-root exec" in text, text


def test_guard_warns_naming_ro_root_exec_and_lets_the_change_happen(boots: Sequence) -> None:
    boot = boots("first")
    problems = []
    for name, installed in (("guard_apt", "ram_installed"), ("guard_dpkg", "ram2_installed")):
        text = out(boot, name)
        if rc(boot, name) != "0":
            problems.append(f"{name}: exit status {rc(boot, name)}")
        if GUARD_WARNING not in text:
            problems.append(f"{name}: no warning in {text!r}")
        if "ro-root exec " not in text:
            problems.append(f"{name}: the warning does not name 'ro-root exec': {text!r}")
        if fact(boot, installed) != "ii":
            problems.append(f"{installed} is {fact(boot, installed)!r}")
    # The warning names the very command that was run.
    if "ro-root exec apt-get install -y /run/rorootest/rorootest-ram.deb" not in out(
        boot, "guard_apt"
    ):
        problems.append("the apt warning does not name the apt-get command line")
    check(boot, problems)


def test_removal_while_active_is_refused_and_nothing_is_removed(boots: Sequence) -> None:
    boot = boots("first")
    text = out(boot, "remove_refused")
    assert rc(boot, "remove_refused") != "0", text
    assert "ro-root exec apt-get remove ro-root" in text, text
    assert "ro-root=disabled" in text, text
    assert fact(boot, "remove_refused_status") == "ii", boot.describe()
    assert fact(boot, "remove_refused_cmd") == "yes"
    assert fact(boot, "remove_refused_payload") == "yes"


def test_exec_rebuilds_the_initrd_when_initramfs_inputs_change(boots: Sequence) -> None:
    boot = boots("first")
    assert rc(boot, "initrd_input") == "0", out(boot, "initrd_input")
    assert "rebuilding the initrd" in out(boot, "initrd_input")
    assert fact(boot, "initrd_before") != fact(boot, "initrd_after"), boot.describe()


def test_exec_installs_a_package_without_the_guard_and_ends_read_only(
    boots: Sequence,
) -> None:
    boot = boots("first")
    text = out(boot, "install")
    assert rc(boot, "install") == "0", text
    assert "Setting up rorootest-persist" in text, text
    assert GUARD_WARNING not in text, text
    assert "rebuilding the initrd" not in text, text
    assert "ro" in fact(boot, "install_ro_options").split(","), boot.describe()


def test_diff_lists_added_and_deleted_files(boots: Sequence) -> None:
    boot = boots("first")
    assert rc(boot, "diff") == "0", out(boot, "diff")
    lines = out(boot, "diff").splitlines()
    for wanted in ("A /etc/rorootest-keep", "A /etc/rorootest-drop", "D /etc/issue.net"):
        assert wanted in lines, lines
    assert not [line for line in lines if line.endswith(" /etc/fstab")], lines


def test_commit_copies_exactly_the_named_paths(boots: Sequence) -> None:
    boot = boots("first")
    assert rc(boot, "commit") == "0", out(boot, "commit")
    assert fact(boot, "commit_keep_on_ro") == "yes"
    assert fact(boot, "commit_drop_on_ro") == "no"
    assert fact(boot, "commit_issue_on_ro") == "no"


def test_commit_misuse_is_one_clear_error(boots: Sequence) -> None:
    boot = boots("first")
    assert rc(boot, "commit_unchanged") == "1"
    assert "has not changed since boot" in out(boot, "commit_unchanged")
    assert rc(boot, "commit_fstab") == "1"
    assert "written by ro-root at every boot" in out(boot, "commit_fstab")
    assert rc(boot, "commit_usage") == "2"


def test_disable_and_enable_edit_the_real_configuration(boots: Sequence) -> None:
    boot = boots("first")
    assert rc(boot, "disable") == "0", out(boot, "disable")
    assert fact(boot, "disable_conf") == "enabled=no"
    assert rc(boot, "enable") == "0", out(boot, "enable")
    assert fact(boot, "enable_conf") == "enabled=yes"


def test_apt_guard_refuse_stops_apt_and_dpkg(boots: Sequence) -> None:
    boot = boots("first")
    assert rc(boot, "set_refuse") == "0", out(boot, "set_refuse")
    lines, guard = fact(boot, "refuse_conf").split(" ", 1)
    assert guard == "apt_guard=refuse" and int(lines) > 5, fact(boot, "refuse_conf")
    for name in ("refuse_apt", "refuse_dpkg"):
        assert rc(boot, name) != "0", out(boot, name)
        assert "refusing to change packages" in out(boot, name), out(boot, name)
    assert fact(boot, "refused_installed") in ("", "un"), boot.describe()


def test_killed_command_leaves_the_real_root_read_only_and_clean(boots: Sequence) -> None:
    boot = boots("first")
    problems = []
    if "rw" not in fact(boot, "kill_ro_during").split(","):
        problems.append(
            f"/ro was not writable while the command ran: {fact(boot, 'kill_ro_during')}"
        )
    if fact(boot, "kill_rc") != str(128 + 15):
        problems.append(f"ro-root exec exited {fact(boot, 'kill_rc')}, not 143 (SIGTERM)")
    if "ro" not in fact(boot, "kill_ro_after").split(","):
        problems.append(f"/ro is {fact(boot, 'kill_ro_after')} after the kill")
    if fact(boot, "mounts_below_ro"):
        problems.append(f"still mounted below /ro: {fact(boot, 'mounts_below_ro')}")
    problems += [
        f"{key} is {boot.facts.get(key)!r}"
        for key, value in (("ro_write", "denied"), ("rorootstate", "active"))
        if boot.facts.get(key) != value
    ]
    fsck = boots.fsck.get("first", "not run")
    if not fsck.startswith("exit status 0\n"):
        problems.append(f"e2fsck -fn of the disk after the boot: {fsck}")
    check(boot, problems)


# --- boot 2 ---------------------------------------------------------------------------------


def test_package_installed_through_exec_survives_reboot_other_writes_do_not(
    boots: Sequence,
) -> None:
    boot = boots("second")
    problems = [
        f"cmd_{key} is {fact(boot, key)!r}, expected {value!r}"
        for key, value in (
            ("persist_installed", "ii"),
            ("persist_file", "yes"),
            ("ram_installed", ""),
            ("ram2_installed", ""),
            ("ram_file", "no"),
        )
        if fact(boot, key) != value
    ]
    check(boot, problems)


def test_committed_paths_persist_and_nothing_else(boots: Sequence) -> None:
    boot = boots("second")
    assert fact(boot, "keep_file") == "yes" and fact(boot, "keep_content") == "keep"
    assert fact(boot, "drop_file") == "no"
    assert fact(boot, "issue_file") == "no"


def test_disable_once_writes_the_request_on_the_real_root(boots: Sequence) -> None:
    boot = boots("second")
    assert rc(boot, "disable_once") == "0", out(boot, "disable_once")
    assert fact(boot, "once_file") == "yes"
    assert json.loads(fact(boot, "status_json"))["next_boot"] == "writable-once"


# --- boots 3 and 4: needs the boot code of issue 4 ------------------------------------------


def test_disable_once_gives_one_writable_boot_then_read_only_again(boots: Sequence) -> None:
    once = boots("once")
    assert once.facts["root_fstype"] == "ext4", once.describe()
    assert "rw" in once.facts["root_options"].split(","), once.describe()
    assert fact(once, "once_file") == "no", "the writable boot did not delete the request"
    assert rc(once, "status") == "3", out(once, "status")
    assert out(once, "motd") == "", "motd banner on a writable boot"
    again = boots("again")
    assert again.facts["root_fstype"] == "overlay", again.describe()


# --- boots 4 and 5 --------------------------------------------------------------------------


def test_removal_through_exec_works_and_ends_read_only(boots: Sequence) -> None:
    boot = boots("again")
    text = out(boot, "remove")
    assert rc(boot, "remove") == "0", text
    assert fact(boot, "remove_status") == "rc", boot.describe()
    assert "ro" in fact(boot, "remove_ro_options").split(","), boot.describe()
    assert fact(boot, "remove_initrd_payload") == "0", boot.describe()
    fsck = boots.fsck.get("again", "not run")
    assert fsck.startswith("exit status 0\n"), fsck


def test_after_removal_through_exec_the_next_boot_is_plain_and_writable(
    boots: Sequence,
) -> None:
    boot = boots("removed")
    problems = [
        f"{key} is {boot.facts.get(key)!r}, expected {value!r}"
        for key, value in (
            ("rorootstate", "none"),
            ("root_fstype", "ext4"),
            ("ro_fstype", ""),
            ("write_ok", "yes"),
        )
        if boot.facts.get(key) != value
    ]
    if boot.facts.get("ro_root_status", "").strip() != "rc":
        problems.append(f"ro_root_status {boot.facts.get('ro_root_status')!r}, expected 'rc'")
    if "rw" not in boot.facts.get("root_options", "").split(","):
        problems.append(f"root_options {boot.facts.get('root_options')!r}")
    if [line for line in boot.log.splitlines() if line.startswith("ro-root:")]:
        problems.append("ro-root: lines on the console of a boot without ro-root")
    check(boot, problems)
