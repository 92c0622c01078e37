"""Issue 12 on real boots: one shell core, so the boot, the package scripts and the command read
/etc/ro-root.conf alike, and the writable window closes whatever happens to its caller.

Debian 12, systemd, one image, three steps in order:

1. "huge": /etc/ro-root.conf is a megabyte of 0xff (erased flash): the boot is active with
   the defaults, warns, and its step takes the time of a normal boot step (recorded by the
   boot itself in setup_seconds), not the minute a quadratic parser took;
2. "upgrade": offline, the admin writes the config in every form the boot accepts (blanks
   around '=', a trailing blank, quotes, CRLF), then a newer ro-root is installed over it:
   postinst leaves the admin's lines (no enabled=yes appended), the next boot follows them
   (enabled = no: a plain boot) and `ro-root status` says the same next boot;
3. "window" (ro-root=tmpfs for this boot): two `ro-root exec` started together take turns;
   Ctrl-C on `ro-root exec ... 2>&1 | tee LOG` leaves /ro read-only, the device protected and
   the lock free.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import vmtest
from support import add_changelog_entry, build_deb, copy_source

from ro_root.errors import UserError
from ro_root.proc import run
from testbed import images, qemu

pytestmark = pytest.mark.vm

SPEC = images.ImageSpec(suite="bookworm", init="systemd", busybox=False)
HUGE = b"\xff" * (1024 * 1024)
# Every form the boot accepts, each on a managed key (postinst rewrites those) or not.
ADMIN_CONF = (
    "# the admin's own file\n"
    "enabled = no\n"
    'data_mounts = "LABEL=data:/var/lib/app"\n'
    "apt_guard=refuse \n"
    "size = '64m'\r\n"
    "\tfailure_policy\t=\tro\n"
)
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"}


class CoreImage(vmtest.Steps):
    def __init__(self, image: images.Image, deb_b: Path) -> None:
        super().__init__()
        self.image = image
        self.deb_b = deb_b
        self.conf_after_upgrade = ""
        self.upgrade_log = ""
        self.steps = [
            ("huge", self._huge),
            ("upgrade", self._upgrade),
            ("window", self._window),
        ]

    def _huge(self) -> qemu.BootResult:
        return qemu.boot(self.image, expect="active")

    def _upgrade(self) -> qemu.BootResult:
        with images.loop_mounted(self.image.disk, self.image.directory / "mnt") as mnt:
            (mnt / "etc/ro-root.conf").write_text(ADMIN_CONF)
            staged = mnt / "tmp" / self.deb_b.name
            staged.write_bytes(self.deb_b.read_bytes())
            proc = run(
                ["chroot", mnt, "dpkg", "-i", f"/tmp/{self.deb_b.name}"],
                check=False,
                capture=True,
                env=CHROOT_ENV,
            )
            staged.unlink()
            self.upgrade_log = proc.stdout + proc.stderr
            if proc.returncode != 0:
                pytest.fail(f"dpkg -i of the newer version failed:\n{self.upgrade_log}")
            self.conf_after_upgrade = (mnt / "etc/ro-root.conf").read_text()
        # The upgrade rebuilt the initrd: boot it from now on.
        self.image = images.refresh_kernels(self.image)
        return qemu.boot(self.image, ("rorootest.task=cmd-status",), expect="skipped")

    def _window(self) -> qemu.BootResult:
        return qemu.boot(
            self.image, ("ro-root=tmpfs", "rorootest.task=cmd-window"), expect="active"
        )


@pytest.fixture(scope="module")
def core(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> CoreImage:
    work = tmp_path_factory.mktemp("newer")
    tree = copy_source(work / "src")
    version = ro_root_deb.name.split("_")[1]
    add_changelog_entry(tree, f"{version}+core1")
    deb_b = build_deb(work / "dist", tree)
    try:
        image = images.prepare_image(
            SPEC,
            [ro_root_deb],
            tmp_path_factory.mktemp("core"),
            files={"/etc/ro-root.conf": HUGE},
        )
    except UserError as exc:
        pytest.fail(str(exc), pytrace=False)
    return CoreImage(image, deb_b)


def settings(boot: qemu.BootResult) -> dict[str, str]:
    return dict(line.split("=", 1) for line in boot.numbered("rorootsettings") if "=" in line)


# --- 1. a megabyte of 0xff ------------------------------------------------------------------


def test_a_megabyte_of_one_byte_as_config_boots_the_defaults_in_normal_time(
    core: CoreImage,
) -> None:
    boot = core("huge")
    problems = vmtest.overlay_problems(boot)
    log = " ".join(boot.numbered("rorootlog"))
    for wanted in ("has 65536 bytes or more", "longer than 1024 characters"):
        if wanted not in log:
            problems.append(f"/run/ro-root/log does not warn {wanted!r}")
    got = settings(boot)
    if (got.get("size"), got.get("mode")) != ("50%", "tmpfs"):
        problems.append(f"not the defaults: {got}")
    try:
        seconds = float(got.get("setup_seconds", ""))
    except ValueError:
        problems.append(f"no setup_seconds recorded: {got.get('setup_seconds')!r}")
    else:
        # A bound, not a benchmark: the quadratic parser took about a minute here.
        if seconds > 15:
            problems.append(f"ro-root's boot step took {seconds} s")
    vmtest.expect(boot, problems, "megabyte config")


# --- 2. an admin's config in every accepted form, across an upgrade --------------------------


def test_an_upgrade_keeps_the_admins_config_in_every_accepted_form(core: CoreImage) -> None:
    core("upgrade")
    lines = core.conf_after_upgrade.splitlines()
    # postinst rewrote the managed keys where they were, to the same values; it appends only
    # the managed key the file lacks (mode), never a second enabled= or data_mounts=.
    assert lines == [
        "# the admin's own file",
        "enabled=no",
        'data_mounts="LABEL=data:/var/lib/app"',
        "apt_guard=refuse ",
        "size=64m",
        "failure_policy=ro",
        "mode=tmpfs",
    ], core.conf_after_upgrade


def test_the_boot_after_the_upgrade_follows_the_admins_config(core: CoreImage) -> None:
    boot = core("upgrade")
    problems = vmtest.facts_differ(boot, rorootstate="skipped", root_fstype="ext4")
    got = settings(boot)
    wanted = {
        "enabled": "no",
        "data_mounts": "LABEL=data:/var/lib/app",
        "apt_guard": "refuse",
        "size": "64m",
        "failure_policy": "ro",
    }
    problems += [
        f"{k} is {got.get(k)!r}, expected {v!r}" for k, v in wanted.items() if got.get(k) != v
    ]
    if "enabled=no" not in boot.facts.get("rorootreason", ""):
        problems.append(f"reason: {boot.facts.get('rorootreason')!r}")
    vmtest.expect(boot, problems, "boot after the upgrade")


def test_status_agrees_with_the_boot_after_the_upgrade(core: CoreImage) -> None:
    boot = core("upgrade")
    status = json.loads(boot.facts.get("cmd_status_json", "{}") or "{}")
    assert (status.get("state"), status.get("next_boot"), status.get("apt_guard")) == (
        "skipped",
        "writable",
        "refuse",
    ), boot.describe()


# --- 3. the writable window -------------------------------------------------------------------


def test_two_execs_started_together_take_turns(core: CoreImage) -> None:
    boot = core("window")
    problems = vmtest.facts_differ(boot, cmd_turns="start end start end ")
    if "ro" not in boot.facts.get("cmd_turns_ro_after", "").split(","):
        problems.append(f"/ro after the two: {boot.facts.get('cmd_turns_ro_after')!r}")
    if "waiting for it to finish" not in "\n".join(boot.numbered("cmd_turn_out")):
        problems.append("neither exec said that it waits for the other")
    vmtest.expect(boot, problems, "two exec windows")


def test_ctrl_c_on_a_piped_exec_closes_the_window(core: CoreImage) -> None:
    boot = core("window")
    problems = vmtest.facts_differ(
        boot,
        cmd_pipe_dev_during="0",
        cmd_pipe_dev_after="1",
        cmd_pipe_lock="free",
        cmd_pipe_left="",
    )
    if "rw" not in boot.facts.get("cmd_pipe_ro_during", "").split(","):
        problems.append(f"the window was not open: {boot.facts.get('cmd_pipe_ro_during')!r}")
    if "ro" not in boot.facts.get("cmd_pipe_ro_after", "").split(","):
        problems.append(f"/ro stayed writable: {boot.facts.get('cmd_pipe_ro_after')!r}")
    if "interrupted" not in boot.facts.get("cmd_pipe_journal", ""):
        problems.append("the interruption is not in the journal")
    vmtest.expect(boot, problems, "Ctrl-C on a piped exec")
