"""Booting test images in qemu (TCG) and reading what the probe printed on the serial console.

`boot(image, append=...)` boots an image of `testbed.images` with the serial console written
to a log file, and returns the facts the probe (`vmfiles/ro-root-probe`) printed between its
markers before it powered the guest off. An arm64 image with raspi-firmware boots on qemu's
virt machine from the files its FAT firmware partition names (testbed.raspi). `demo(debs)` is
the interactive variant: an image without the probe, a root password, and the serial console
on the terminal.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ro_root.errors import UserError, die
from ro_root.proc import require, run
from testbed import images
from testbed.images import (
    DEMO_SPEC,
    Image,
    ImageSpec,
    Kernel,
    cache_dir,
    firmware_boot,
    prepare_image,
)
from testbed.proc import Stopped, run_until

log = logging.getLogger("ro-root")

PROBE_BEGIN = "RO-ROOT-PROBE-BEGIN"
PROBE_END = "RO-ROOT-PROBE-END"
DEFAULT_BOOT_TIMEOUT = 300.0
BASE_CMDLINE = ("root=/dev/vda", "ro", "console=ttyS0", "panic=-1")
LOG_TAIL_LINES = 40
# The kernel's last line before it runs the initramfs. Under TCG a guest kernel has been seen
# (1 boot in several hundred) to hang for good earlier than that, right after
# "clocksource: Switched to clocksource hpet": boot() retries such a stall.
KERNEL_HANDOFF = "Run /init as init process"
KERNEL_STALL_ATTEMPTS = 2
# What the kernel prints when it panics.
KERNEL_PANIC = "Kernel panic - not syncing"
# A stall is recognised by the silence: before /init the kernel prints a line at least every
# few seconds (the longest gap seen here, unpacking a 35 MB initrd, is about 3 s), so a guest
# that printed nothing for this long before the handoff is killed and booted again instead
# of waiting out the boot's whole timeout.
STALL_SILENCE = 60.0
_FACT = re.compile(r"([a-z0-9_.]+)=(.*)")


@dataclass(frozen=True)
class BootResult:
    """One boot: the full serial log and the probe's key=value facts."""

    image: Image
    cmdline: str
    log_path: Path
    log: str
    facts: dict[str, str]
    seconds: float
    stray: tuple[str, ...] = field(default=())
    # boot(cut_at=...): qemu was killed (a power cut) when the marker appeared; no facts.
    power_cut: bool = False

    def numbered(self, prefix: str) -> list[str]:
        """Values of PREFIX.1, PREFIX.2, ... (a repeated fact, e.g. "fstab" or "rorootlog")."""
        values: list[str] = []
        while f"{prefix}.{len(values) + 1}" in self.facts:
            values.append(self.facts[f"{prefix}.{len(values) + 1}"])
        return values

    def describe(self) -> str:
        """Where to look when an assertion about this boot fails."""
        return (
            f"serial log: {self.log_path}\n"
            f"kernel command line: {self.cmdline}\n"
            f"probe facts: {json.dumps(self.facts, indent=1, sort_keys=True)}"
        )


# --- boot ----------------------------------------------------------------------------------


def guest_cpus() -> int:
    """vCPUs for one guest: the host's CPUs shared among the guests that boot at once.

    Under pytest-xdist (make check) each worker boots one guest at a time; two guests of one
    vCPU each on two cores boot more per minute than one guest of two (docs/testing-times.md).
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def qemu_argv(
    image: Image,
    cmdline: str,
    serial: Path | None,
    kernel: Kernel | None = None,
    drives: Sequence[Path] = (),
) -> list[str]:
    """The qemu command line; SERIAL None means the console on this terminal (-nographic).

    DRIVES are extra raw disks after the root: /dev/vdb, /dev/vdc, ...
    """
    kernel = kernel or image.newest
    if image.spec.raspi:
        # qemu's arm virt machine with a Pi 4's CPU core; its console is ttyAMA0.
        machine = ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72"]
    else:
        # qemu64, not max: under TCG the same boot with an initrd rebuild took 15 to 19 % less
        # time than with max's CPU, whose AVX2 and XSAVE are emulated (docs/testing-times.md).
        # Every Debian amd64 release here needs only the x86-64 baseline that qemu64 offers.
        machine = ["qemu-system-x86_64", "-cpu", "qemu64"]
    argv = [
        *machine,
        "-accel", "tcg,thread=multi",
        "-m", "1024",
        "-smp", str(guest_cpus()),
        "-no-reboot",
        "-nic", "none",
        "-drive", f"file={image.disk},format=raw,if=virtio",
    ]  # fmt: skip
    if image.uefi_vars is not None:
        # OVMF from Debian's ovmf package, this image's own variable store; the firmware
        # finds GRUB on the disk's EFI system partition, GRUB the kernel on /boot.
        argv += [
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={images.OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,unit=1,file={image.uefi_vars}",
        ]  # fmt: skip
    else:
        argv += ["-kernel", str(kernel.vmlinuz), "-initrd", str(kernel.initrd), "-append", cmdline]
    for drive in drives:
        argv += ["-drive", f"file={drive},format=raw,if=virtio"]
    if serial is None:
        argv.append("-nographic")
    else:
        argv += ["-display", "none", "-monitor", "none", "-serial", f"file:{serial}"]
    return argv


def parse_probe(text: str) -> tuple[dict[str, str], tuple[str, ...]] | None:
    """The facts between the probe's markers, and any line that is not key=value.

    None if the log has no complete probe section.
    """
    lines = [line.rstrip("\r") for line in text.splitlines()]
    # The marker may follow a prompt that another program left on the console.
    begins = [n for n, line in enumerate(lines) if line.endswith(PROBE_BEGIN)]
    if not begins:
        return None
    begin = begins[-1]
    try:
        end = lines.index(PROBE_END, begin)
    except ValueError:
        return None
    facts: dict[str, str] = {}
    stray: list[str] = []
    for line in lines[begin + 1 : end]:
        match = _FACT.fullmatch(line)
        if match is None:
            stray.append(line)
        else:
            facts[match.group(1)] = match.group(2)
    return facts, tuple(stray)


def kernel_stalled(text: str) -> bool:
    """True if the serial log ends before the kernel handed over to the initramfs.

    Until that line nothing of the image has run (the kernel has not even mounted the root),
    so a hang or a panic there is the emulator's or the kernel's, never the product's: boot()
    retries it.
    """
    return KERNEL_HANDOFF not in text


class _Watch:
    """run_until()'s condition for one qemu run: true once the serial log LOG_PATH holds
    CUT_AT (the guest's cue for a power cut), or once the log has not grown for SILENCE
    seconds before the kernel handed over to the initramfs (a stall)."""

    def __init__(self, log_path: Path, cut_at: str | None, silence: float) -> None:
        self.log_path = log_path
        self.cut_at = None if cut_at is None else cut_at.encode()
        self.silence = silence
        self.cut = False
        self.stalled = False
        self._handed_over = False
        self._size = -1
        self._since = time.monotonic()

    def __call__(self) -> bool:
        if self._handed_over and self.cut_at is None:
            return False
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:  # qemu has not created it yet
            data = b""
        if self.cut_at is not None and self.cut_at in data:
            self.cut = True
            return True
        if not self._handed_over:
            self._handed_over = KERNEL_HANDOFF.encode() in data
            if len(data) != self._size:
                self._size, self._since = len(data), time.monotonic()
            elif not self._handed_over and time.monotonic() - self._since >= self.silence:
                self.stalled = True
                return True
        return False


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.replace("\r", "").splitlines()[-lines:])


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-")[:40] or "default"


def boot(
    image: Image,
    append: Sequence[str] = (),
    *,
    expect: str | None = None,
    kernel: str | None = None,
    timeout: float = DEFAULT_BOOT_TIMEOUT,
    drives: Sequence[Path] = (),
    probe: bool = True,
    cut_at: str | None = None,
) -> BootResult:
    """Boot IMAGE once; the probe reports and powers off. Fails with the log's tail if not.

    EXPECT is the outcome the boot must have, as /run/ro-root/state says it (active, skipped,
    failed, or none when ro-root is not installed): another outcome fails with the facts.
    KERNEL is a kernel version of the image (default: the newest). DRIVES are extra disks.
    PROBE False is a boot that must stop before the system runs (a panic in the initramfs):
    it fails if the probe reports, and its result has no facts.
    CUT_AT is a power cut: as soon as the serial log holds that text (printed by a probe task
    at the chosen moment) qemu is killed with SIGKILL, so the disk image keeps exactly what
    the guest had written to it by then. The result has power_cut set and no facts; a boot
    that ends, or times out, before the text appears fails.
    """
    if not image.spec.probe:
        die("boot() needs an image with the probe; use demo() for an interactive boot")
    if cut_at is not None and (expect is not None or not probe):
        die("boot(): a power cut (cut_at) leaves no facts to check EXPECT or PROBE against")
    number = len(list(image.directory.glob("boot-*.log"))) + 1
    if image.spec.raspi:
        # What the firmware partition says now: a guest may have rebuilt the initrd there.
        require("qemu-system-aarch64", "qemu-system-arm")
        if kernel:
            die("boot(): a raspi image boots the kernel its config.txt names, not a chosen one")
        chosen, base = firmware_boot(image.disk, image.directory / f"firmware-{number:02d}")
    else:
        require("qemu-system-x86_64", "qemu-system-x86")
        chosen = image.find_kernel(kernel) if kernel else image.newest
        base = BASE_CMDLINE
    cmdline = " ".join((*base, *append))
    if image.uefi_vars is not None:
        if append or kernel:
            die("boot(): a UEFI image boots what GRUB's menu on its disk says: no APPEND, KERNEL")
        cmdline = "(GRUB's menu)"
    label = " ".join((f"expect-{expect}" if expect else "", *append))
    log_path = image.directory / f"boot-{number:02d}-{_slug(label)}.log"
    for attempt in range(1, KERNEL_STALL_ATTEMPTS + 1):
        log_path.unlink(missing_ok=True)
        started = time.monotonic()
        watch = _Watch(log_path, cut_at, STALL_SILENCE)
        clean = False
        timed_out = False
        try:
            proc = run_until(
                qemu_argv(image, cmdline, log_path, chosen, drives),
                watch,
                check=False,
                capture=True,
                input="",
                timeout=timeout,
            )
            clean = proc.returncode == 0 and not isinstance(proc, Stopped)
            exited = f"qemu exited with status {proc.returncode}"
            if watch.stalled:
                exited = f"qemu killed: no console output for {STALL_SILENCE:.0f} s before /init"
            if proc.stderr.strip():
                exited += f": {_tail(proc.stderr, 5)}"
        except UserError as exc:  # run_until() turns a timeout into a UserError; qemu was killed
            exited = f"qemu did not finish: {exc}"
            timed_out = True
        seconds = time.monotonic() - started
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        stall = (timed_out or watch.stalled) and kernel_stalled(text)
        # A panic before /init: under TCG on a loaded host the kernel's timer check can fail
        # ("IO-APIC + timer doesn't work!", seen once in a run of two guests on two cores
        # beside other VM runs); panic=-1 and -no-reboot make qemu exit 0 right away.
        panic = not stall and kernel_stalled(text) and KERNEL_PANIC in text
        if not (stall or panic) or attempt == KERNEL_STALL_ATTEMPTS:
            break
        stalled = log_path.with_name(f"stalled-{attempt}-{log_path.name}")
        log_path.replace(stalled)
        log.warning(
            "boot: the guest kernel %s before it started /init, so before any ro-root code "
            "ran (the emulator's or the kernel's trouble under TCG); booting again (attempt "
            "%d of %d); its log: %s",
            "panicked" if panic else "stalled",
            attempt + 1,
            KERNEL_STALL_ATTEMPTS,
            stalled,
        )
    cut = watch.cut
    parsed = parse_probe(text)
    where = f"boot of kernel {chosen.version} with '{cmdline}' of {image.disk}"
    if cut_at is not None:
        if not cut:
            die(
                f"{where}: expected a power cut when the console showed {cut_at!r}, but it "
                f"never did; {exited}\nserial log: {log_path}\n"
                f"--- last {LOG_TAIL_LINES} lines ---\n{_tail(text)}"
            )
        log.info("boot: '%s' power cut after %.0f s (%s)", cmdline, seconds, log_path)
        return BootResult(
            image=image,
            cmdline=cmdline,
            log_path=log_path,
            log=text,
            facts={},
            seconds=seconds,
            power_cut=True,
        )
    if not probe:
        if parsed is not None or not exited.startswith("qemu exited"):
            die(
                f"{where}: expected the boot to stop in the initramfs, but "
                f"{'the system came up and the probe reported' if parsed else exited}\n"
                f"serial log: {log_path}\n--- last {LOG_TAIL_LINES} lines ---\n{_tail(text)}"
            )
        return BootResult(
            image=image, cmdline=cmdline, log_path=log_path, log=text, facts={}, seconds=seconds
        )
    if parsed is None:
        die(
            f"{where}: no complete probe report on the serial console after {seconds:.0f} s; "
            f"{exited}\nserial log: {log_path}\n--- last {LOG_TAIL_LINES} lines ---\n"
            f"{_tail(text)}"
        )
    if not clean:
        die(
            f"{where}: the probe reported but the guest did not power off cleanly; {exited}\n"
            f"serial log: {log_path}\n--- last {LOG_TAIL_LINES} lines ---\n{_tail(text)}"
        )
    facts, stray = parsed
    log.info("boot: '%s' took %.0f s (%s)", cmdline, seconds, log_path)
    result = BootResult(
        image=image,
        cmdline=cmdline,
        log_path=log_path,
        log=text,
        facts=facts,
        seconds=seconds,
        stray=stray,
    )
    if expect is not None and facts.get("rorootstate") != expect:
        die(
            f"{where}: expected ro-root to be {expect}, it is {facts.get('rorootstate')} "
            f"({facts.get('rorootreason', '')})\n{result.describe()}"
        )
    return result


# --- demo ----------------------------------------------------------------------------------


def demo(
    debs: Sequence[Path],
    spec: ImageSpec = DEMO_SPEC,
    *,
    workdir: Path | None = None,
    append: Sequence[str] = (),
) -> int:
    """Build a demo image with DEBS and boot it with the serial console on this terminal.

    Log in as root/root; quit qemu with Ctrl-A X. Returns qemu's exit status.
    """
    if spec.probe:
        die("demo() needs an ImageSpec with probe=False (no probe, a getty and a password)")
    require("qemu-system-x86_64", "qemu-system-x86")
    image = prepare_image(spec, debs, workdir or cache_dir() / "demo")
    print(
        f"Booting {image.disk} (changes to it persist between demo runs until it is rebuilt).\n"
        "Log in as root, password root. Quit qemu with Ctrl-A X.",
        flush=True,
    )
    cmdline = " ".join((*BASE_CMDLINE, *append))
    return run(qemu_argv(image, cmdline, None), check=False).returncode
