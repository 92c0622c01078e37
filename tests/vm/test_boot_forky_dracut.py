"""Debian 14 (forky) with dracut, its default initramfs generator, and no initramfs-tools.

One minbase image (systemd, no busybox) with ro-root installed offline; installing it keeps
dracut. Boots, in order, each with the outcome it must end in:

1. `overlay`: `rw fsck.mode=force fsck.repair=yes` on the command line, the harshest case for
   the medium: the dracut module's generator still has the root mounted read-only and not
   checked, the overlay is active, and the disk image is byte-identical afterwards;
2. `disabled` (ro-root=disabled): skipped, the normal writable root, and boot 1's write is
   gone: the second boot found the disk as it was;
3. `single`: a rescue boot, skipped and writable;
4-6. the overlay module blacklisted, under each failure policy: rw (writable, loudly), ro (the
   real root read-only, loudly), panic (the boot stops in the initrd, loudly);
7. `exec` (active, default command line): an initrd input changes through `ro-root exec`
   (`hostonly=yes`, which keeps the in-guest builds short), so exec rebuilds the initrd in
   the guest with dracut (payload kept); a file written through
   exec reaches the real root; `ro-root exec apt-get remove ro-root`;
8. `removed`: the initrd the removal rebuilt boots a plain writable system, with the file
   of boot 7 there and dracut still installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import vmtest

from testbed import images, qemu

pytestmark = pytest.mark.vm

SPEC = images.ImageSpec(suite="forky", init="systemd", busybox=False, generator="dracut")
NO_OVERLAY = "modprobe.blacklist=overlay"
# dracut builds host-only initrds by default: one built in the chroot of the image would
# hold what the build host's root needs, not the guest's (no ext4 on this host). The image's
# offline initrds are not host-only, as the base tarball's (built without /proc) is not.
# dracut's `drivers` names only the guest's disk and root file system drivers (what
# MODULES=list is to initramfs-tools: vmtest.SMALL_INITRD; dracut's qemu module still adds
# its 80 or so), and the initrds are not compressed: under TCG gzip -9 is a quarter of an
# in-guest dracut build (149 s against 114 s; docs/testing-times.md), and boot 7 builds
# twice.
GENERIC = {
    "/etc/dracut.conf.d/10-rorootest-generic.conf": (
        b'hostonly=no\ndrivers="virtio_blk ext4"\ncompress="cat"\n'
    )
}
# Boot 7 rebuilds the initrd twice in the guest, under TCG.
LONG_TIMEOUT = 2400.0
# What dracut puts into the initrd from ro-root's module (lsinitrd names, no leading /).
DRACUT_PAYLOAD = (
    images.DRACUT_PAYLOAD_IN_INITRD,
    "usr/lib/systemd/system-generators/ro-root-generator",
    "usr/lib/ro-root/common.sh",
    "usr/lib/ro-root/settings.sh",
    "usr/lib/ro-root/record.sh",
    "usr/lib/ro-root/boot.sh",
    "usr/bin/dd",
)


class Forky(vmtest.Steps):
    def __init__(self, image: images.Image) -> None:
        super().__init__()
        self.image = image
        self.digests: dict[str, str] = {}
        self.steps = [
            ("overlay", self._overlay),
            ("disabled", lambda: self._boot(("ro-root=disabled",), "skipped")),
            ("single", lambda: self._boot(("single",), "skipped")),
            ("policy-rw", lambda: self._boot((NO_OVERLAY, "ro-root.policy=rw"), "failed")),
            ("policy-ro", lambda: self._boot((NO_OVERLAY, "ro-root.policy=ro"), "failed")),
            ("policy-panic", self._panic),
            ("exec", self._exec),
            ("removed", self._removed),
        ]

    def _boot(
        self, append: tuple[str, ...], expect: str, timeout: float = qemu.DEFAULT_BOOT_TIMEOUT
    ) -> qemu.BootResult:
        return qemu.boot(self.image, append, expect=expect, timeout=timeout)

    def _overlay(self) -> qemu.BootResult:
        self.digests["before"] = images.disk_digest(self.image.disk)
        try:
            return self._boot(("rw", "fsck.mode=force", "fsck.repair=yes"), "active")
        finally:
            self.digests["after"] = images.disk_digest(self.image.disk)

    def _panic(self) -> qemu.BootResult:
        before = images.disk_digest(self.image.disk)
        try:
            return qemu.boot(self.image, (NO_OVERLAY, "ro-root.policy=panic"), probe=False)
        finally:
            self.digests["panic-before"] = before
            self.digests["panic-after"] = images.disk_digest(self.image.disk)

    def _exec(self) -> qemu.BootResult:
        return self._boot(("rorootest.task=cmd-dracut",), "active", LONG_TIMEOUT)

    def _removed(self) -> qemu.BootResult:
        # The removal rebuilt the initrd on the disk: boot that one.
        self.image = images.refresh_kernels(self.image)
        return self._boot(("rorootest.task=cmd-dracut-after",), "none")


@pytest.fixture(scope="module")
def forky(ro_root_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Forky:
    workdir = tmp_path_factory.mktemp("forky-dracut")
    return Forky(vmtest.prepare(SPEC, ro_root_deb, workdir, files_before=GENERIC))


def test_forky_install_keeps_dracut_and_its_initrd_carries_the_module(forky: Forky) -> None:
    image = forky.image
    problems = []
    if not image.initrd_rebuilt:
        problems.append(f"installing ro-root did not rebuild the initrd ({image.initrd})")
    problems += [
        f"{path} not in the initrd {image.initrd}"
        for path in DRACUT_PAYLOAD
        if path not in image.initrd_files
    ]
    if "usr/share/initramfs-tools/scripts/init-bottom/ro-root" in image.initrd_files:
        problems.append("the dracut initrd holds initramfs-tools' script")
    # ro-root's boot needs overlay.ko, which GENERIC's drivers do not name.
    if not any("/kernel/fs/overlayfs/overlay.ko" in name for name in image.initrd_files):
        problems.append(f"no overlay module in the initrd {image.initrd}")
    assert not problems, problems


def test_forky_rw_on_the_command_line_still_boots_a_read_only_overlay(forky: Forky) -> None:
    boot = forky("overlay")
    problems = vmtest.overlay_problems(boot)
    settings = dict(line.split("=", 1) for line in boot.numbered("rorootsettings") if "=" in line)
    if settings.get("medium") != "untouched":
        problems.append(f"medium is {settings.get('medium')!r}, expected 'untouched'")
    if settings.get("overridden") != "rw fsck":
        problems.append(f"overridden is {settings.get('overridden')!r}, expected 'rw fsck'")
    problems += vmtest.facts_differ(boot, dracut_status="ii")
    if boot.facts.get("initramfs_tools_status") not in ("", "un"):
        problems.append(f"initramfs-tools is {boot.facts.get('initramfs_tools_status')!r}")
    # /etc/ro-root.conf was read (in a klibc initramfs by klibc's dd; dracut's needs one).
    if "could not read /etc/ro-root.conf" in " ".join(boot.numbered("rorootlog")):
        problems.append("the boot could not read /etc/ro-root.conf")
    if not boot.facts.get("kernel", "").startswith("7."):
        problems.append(f"kernel {boot.facts.get('kernel')!r}, not forky's 7.x")
    if "ro-root: active:" not in boot.log:
        problems.append("the console does not show 'ro-root: active:'")
    vmtest.expect(boot, problems, "forky overlay boot with rw")


def test_forky_the_read_only_boot_left_the_disk_image_unchanged(forky: Forky) -> None:
    forky("overlay")
    assert forky.digests.get("before") == forky.digests.get("after"), forky.digests


def test_forky_disabled_boot_is_writable_and_finds_the_disk_as_it_was(forky: Forky) -> None:
    boot = forky("disabled")
    vmtest.expect_plain_writable(boot, "disabled")
    vmtest.expect(boot, vmtest.facts_differ(boot, failed_units_count="0", marker_before="absent"))


def test_forky_rescue_boot_is_skipped_and_writable(forky: Forky) -> None:
    vmtest.expect_plain_writable(forky("single"), "single")


def failed_boot_problems(boot: qemu.BootResult, policy: str, write_ok: str) -> list[str]:
    """No overlay module under failure_policy POLICY: failed, the real ext4 root mounted as
    the policy says, and loudly (reason, failed unit, console)."""
    problems = vmtest.facts_differ(
        boot, rorootstate="failed", root_fstype="ext4", write_ok=write_ok
    )
    problems += vmtest.has_option(boot, "root_options", "rw" if write_ok == "yes" else "ro")
    if f"(failure_policy={policy})" not in boot.facts.get("rorootreason", ""):
        problems.append(f"reason: {boot.facts.get('rorootreason')!r}")
    if "ro-root-failed.service" not in boot.facts.get("failed_units", ""):
        problems.append("systemd does not list ro-root-failed.service as failed")
    if "ro-root: FAILED: the kernel has no overlay" not in boot.log:
        problems.append("the console does not show the failure")
    return problems


def test_forky_no_overlay_with_policy_rw_boots_writable_loudly(forky: Forky) -> None:
    boot = forky("policy-rw")
    vmtest.expect(boot, failed_boot_problems(boot, "rw", "yes"), "failure_policy=rw")


def test_forky_no_overlay_with_policy_ro_keeps_the_root_read_only_loudly(forky: Forky) -> None:
    boot = forky("policy-ro")
    vmtest.expect(boot, failed_boot_problems(boot, "ro", "no"), "failure_policy=ro")


def test_forky_no_overlay_with_policy_panic_stops_the_boot_loudly(forky: Forky) -> None:
    boot = forky("policy-panic")
    problems = [
        f"the console does not show {text!r}"
        for text in ("ro-root: FAILED: the kernel has no overlay", "failure_policy=panic")
        if text not in boot.log
    ]
    if forky.digests.get("panic-before") != forky.digests.get("panic-after"):
        problems.append(f"the stopped boot changed the disk image: {forky.digests}")
    assert not problems, f"{problems}\nserial log: {boot.log_path}"


def test_forky_exec_rebuilds_the_initrd_with_dracut_and_persists_a_change(forky: Forky) -> None:
    boot = forky("exec")
    problems = vmtest.facts_differ(
        boot, cmd_conf_rc="0", cmd_persist_rc="0", cmd_persist_on_ro=boot.facts.get("boot_id", "")
    )
    if boot.facts.get("cmd_initrd_before") == boot.facts.get("cmd_initrd_after"):
        problems.append("the initrd did not change when an input of it did")
    if boot.facts.get("cmd_initrd_payload") != "2":
        problems.append(f"rebuilt initrd: payload count {boot.facts.get('cmd_initrd_payload')!r}")
    out = " ".join(boot.numbered("cmd_conf_out"))
    if "rebuilding the initrd" not in out:
        problems.append(f"exec did not say that it rebuilds the initrd: {out!r}")
    vmtest.expect(boot, problems, "ro-root exec on dracut")


def test_forky_removal_through_exec_keeps_dracut_and_drops_the_payload(forky: Forky) -> None:
    boot = forky("exec")
    problems = vmtest.facts_differ(
        boot,
        cmd_remove_rc="0",
        cmd_remove_status="rc",
        cmd_dracut_status="ii",
        cmd_remove_initrd_payload="0",
    )
    if "ro" not in boot.facts.get("cmd_remove_ro_options", "").split(","):
        problems.append(f"/ro after the removal: {boot.facts.get('cmd_remove_ro_options')!r}")
    vmtest.expect(boot, problems, "removal through exec")


def test_forky_after_removal_a_plain_writable_boot_with_the_exec_change(forky: Forky) -> None:
    exec_boot, boot = forky("exec"), forky("removed")
    problems = vmtest.facts_differ(
        boot,
        rorootstate="none",
        root_fstype="ext4",
        write_ok="yes",
        failed_units_count="0",
        dracut_status="ii",
    )
    # dpkg-query's db:Status-Abbrev, as the probe reports it: removed, its config kept.
    if boot.facts.get("ro_root_status", "").strip() != "rc":
        problems.append(f"ro-root is {boot.facts.get('ro_root_status')!r}, not removed ('rc')")
    problems += vmtest.has_option(boot, "root_options", "rw")
    if boot.image.newest.has_payload:
        problems.append("the initrd after the removal still has ro-root's payload")
    if boot.facts.get("cmd_exec_content") != exec_boot.facts.get("boot_id"):
        problems.append(
            f"/etc/rorootest-exec holds {boot.facts.get('cmd_exec_content')!r}, not boot 7's "
            f"boot id {exec_boot.facts.get('boot_id')!r}"
        )
    vmtest.expect(boot, problems, "plain boot after the removal")
