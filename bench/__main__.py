"""make bench: ro-root, overlayroot and a plain root, measured in one run on one base image.

python3 -m bench [--boots N] [--forky-boots N] [--reps N] [--hook-reps N] [--workdir DIR]
                 [--docs DIR]
python3 -m bench --render-only RESULTS.json

Needs root (images are unpacked with their owners, chroots, loop mounts), qemu, mmdebstrap,
debhelper, matplotlib and scipy: `make bench` installs them.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import logging
import os
import platform
import re
import shlex
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench import debhelper, qemu, report, timers
from bench.measure import (
    COMPRESSORS,
    VARIANTS,
    added_files,
    boot_seconds,
    exec_seconds,
    initrd_compressor,
    initrd_step_seconds,
    numbered_facts,
    own_files,
    parse_initrd_listing,
    slow_jobs,
)
from ro_root.changelog import read_changelog
from ro_root.errors import UserError, die
from ro_root.proc import require, run
from testbed.images import (
    DRACUT_PAYLOAD_IN_INITRD,
    PAYLOAD_IN_INITRD,
    Image,
    ImageSpec,
    check_host,
    file_sha256,
    loop_mounted,
    prepare_image,
)

log = logging.getLogger("ro-root")

REPO = Path(__file__).resolve().parent.parent
SPEC = ImageSpec(busybox=True)
# The same minbase without busybox: a klibc-only initrd. Prepared (initrd growth), not booted.
SPEC_KLIBC = ImageSpec(busybox=False)
# Debian 14 with dracut (tests/vm/test_boot_forky_dracut.py), generic initrds: dracut in the
# image's chroot would otherwise build for the build host's root.
SPEC_FORKY = ImageSpec(suite="forky", init="systemd", busybox=False, generator="dracut")
FORKY_GENERIC = {"/etc/dracut.conf.d/10-rorootest-generic.conf": b"hostonly=no\n"}
FORKY_VARIANTS = ("rd.overlay", "ro-root")
FORKY_APPEND = {"rd.overlay": ("rd.overlay=1",), "ro-root": ()}
EXEC_TASK = ("rorootest.task=bench-exec",)
# overlayroot's init-bottom script in its image's initrd: the bench's timer, and the real one.
OVERLAYROOT_SCRIPT = "scripts/init-bottom/overlayroot"
OVERLAYROOT_TIMED = "scripts/ro-root-bench/overlayroot"
# dracut's rd.overlay (70overlayfs) with the bench's timer hooks around it.
RD_OVERLAY_IN_INITRD = "var/lib/dracut/hooks/pre-pivot/10-mount-overlayfs.sh"
RD_OVERLAY_TIMER = "var/lib/dracut/hooks/pre-pivot/11-rrbench-t1.sh"
OVERLAYROOT_CONF = b'overlayroot="tmpfs"\n'
TASK = ("rorootest.task=bench-write",)
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "DEBIAN_FRONTEND": "noninteractive",
    "LC_ALL": "C",
}


def _timed(argv: Sequence[str | Path], cwd: Path | None = None) -> float:
    started = time.monotonic()
    run(argv, capture=True, cwd=cwd, env=CHROOT_ENV if argv[0] == "chroot" else None)
    return time.monotonic() - started


# --- 4. build time ---------------------------------------------------------------------------


def measure_builds(workdir: Path, reps: int, results: dict[str, Any]) -> Path:
    """Time `make deb`, `build.py deb --no-lintian` and dpkg-buildpackage; return the .deb."""
    require("dpkg-buildpackage", "dpkg-dev")
    require("dh", "debhelper")
    info = read_changelog(REPO / "debian/changelog")
    deb = REPO / "dist" / f"{info.package}_{info.version}_all.deb"
    make = ["make", "--no-print-directory", "-C", str(REPO), "deb"]
    nolintian = [sys.executable, str(REPO / "build.py"), "deb", "--no-lintian"]
    nolintian += ["--out", str(workdir / "dist-nolintian")]
    run(make, capture=True)  # untimed: the venv and the page cache are ready afterwards
    dh_dir = workdir / "debhelper"
    src = debhelper.source_package(REPO, deb, dh_dir)
    dpkg = ["dpkg-buildpackage", "-us", "-uc", "-b"]
    run(dpkg, capture=True, cwd=src)
    dh_deb = dh_dir / deb.name
    ours, theirs = debhelper.payload_paths(deb), debhelper.payload_paths(dh_deb)
    if ours != theirs:
        die(
            "the debhelper build does not install what make deb does: "
            f"only make deb: {sorted(ours - theirs)}, only debhelper: {sorted(theirs - ours)}"
        )
    times: dict[str, list[float]] = {
        "make deb": [],
        "build.py deb --no-lintian": [],
        "dpkg-buildpackage": [],
    }
    for number in range(reps):
        times["make deb"].append(_timed(make))
        times["build.py deb --no-lintian"].append(_timed(nolintian))
        times["dpkg-buildpackage"].append(_timed(dpkg, cwd=src))
        log.info("bench: builds, round %d of %d: %s", number + 1, reps, times)
    results["build_seconds"] = times
    return deb


# --- images, initrds -------------------------------------------------------------------------


def prepare_images(workdir: Path, deb: Path, results: dict[str, Any]) -> dict[str, Image]:
    debs_dir = workdir / "debs"
    debs_dir.mkdir(exist_ok=True)
    for old in debs_dir.glob("overlayroot_*.deb"):
        old.unlink()
    run(["apt-get", "download", "overlayroot"], cwd=debs_dir, capture=True)
    (overlayroot_deb,) = debs_dir.glob("overlayroot_*.deb")
    results["overlayroot_version"] = run(
        ["dpkg-deb", "-f", overlayroot_deb, "Version"], capture=True
    ).stdout.strip()
    results["ro_root_version"] = run(
        ["dpkg-deb", "-f", deb, "Version"], capture=True
    ).stdout.strip()
    timer_deb = timers.initrd_timer_deb(debs_dir)
    images = {
        "plain": prepare_image(SPEC, [], workdir / "plain"),
        "overlayroot": prepare_image(
            SPEC,
            [overlayroot_deb, timer_deb],
            workdir / "overlayroot",
            files={"etc/overlayroot.conf": OVERLAYROOT_CONF},
        ),
        "ro-root": prepare_image(SPEC, [deb], workdir / "ro-root"),
    }
    has = {
        v: {
            "ro-root": PAYLOAD_IN_INITRD in image.initrd_files,
            "overlayroot": OVERLAYROOT_SCRIPT in image.initrd_files,
            "timer": OVERLAYROOT_TIMED in image.initrd_files,
        }
        for v, image in images.items()
    }
    wanted = {
        "plain": {"ro-root": False, "overlayroot": False, "timer": False},
        "overlayroot": {"ro-root": False, "overlayroot": True, "timer": True},
        "ro-root": {"ro-root": True, "overlayroot": False, "timer": False},
    }
    if has != wanted:
        die(f"the initrds do not carry what their variant needs: {has}")
    klibc = {
        "plain": prepare_image(SPEC_KLIBC, [], workdir / "klibc-plain"),
        "ro-root": prepare_image(SPEC_KLIBC, [deb], workdir / "klibc-ro-root"),
    }
    if [PAYLOAD_IN_INITRD in i.initrd_files for i in klibc.values()] != [False, True]:
        die("the klibc-only images' initrds do not carry what their variant needs")
    results["growth"] = {
        "klibc": initrd_growth(klibc["plain"], klibc["ro-root"], workdir / "unpacked-klibc"),
        "busybox": initrd_growth(images["plain"], images["ro-root"], workdir / "unpacked-busybox"),
    }
    results["initrd_bytes"] = {v: image.initrd.stat().st_size for v, image in images.items()}
    listings = {
        v: parse_initrd_listing(run(["lsinitramfs", "-l", i.initrd], capture=True).stdout)
        for v, i in images.items()
    }
    results["initrd_added"] = {
        v: added_files(listings[v], listings["plain"]) for v in ("overlayroot", "ro-root")
    }
    results["own_files"] = results["growth"]["busybox"]["own_files"]
    return images


def _compressed_size(path: Path, compressor: str) -> int:
    """Bytes of the file PATH compressed on its own as its initrd is (COMPRESSORS)."""
    argv = [*COMPRESSORS[compressor], str(path)]
    size = int(run(["sh", "-c", '"$@" | wc -c', "sh", *argv], capture=True).stdout)
    if size <= 0:
        die(f"{shlex.join(argv)} gave nothing")
    return size


def initrd_growth(plain: Image, ro: Image, unpacked: Path) -> dict[str, Any]:
    """ro-root's initrd against plain's: compressed (file sizes), uncompressed (the files in
    the archive), and what the target allows: the overlay module and the blockdev that ro-root
    added, each compressed with the initrd's compressor (unpacked from the initrd into
    UNPACKED)."""
    listings = {
        v: parse_initrd_listing(run(["lsinitramfs", "-l", i.initrd], capture=True).stdout)
        for v, i in (("plain", plain), ("ro-root", ro))
    }
    compressor = initrd_compressor(ro.initrd.read_bytes())
    if compressor != initrd_compressor(plain.initrd.read_bytes()):
        die(f"{plain.initrd} and {ro.initrd} are compressed differently")
    if unpacked.exists():
        shutil.rmtree(unpacked)
    run(["unmkinitramfs", ro.initrd, unpacked], capture=True)
    # unmkinitramfs puts the main archive in main/ when there are early ones.
    top = unpacked / "main" if (unpacked / "main").is_dir() else unpacked
    added = added_files(listings["ro-root"], listings["plain"])
    modules = [p for p in added if re.search(r"/overlay\.ko(\.[a-z]+)?$", p)]
    blockdev = [p for p in added if p.rsplit("/", 1)[-1] == "blockdev"]
    if len(modules) != 1:
        die(f"{ro.initrd}: expected one overlay module among ro-root's additions: {modules}")
    growth: dict[str, Any] = {
        "compressor": compressor,
        "compressed": ro.initrd.stat().st_size - plain.initrd.stat().st_size,
        "uncompressed": sum(listings["ro-root"].values()) - sum(listings["plain"].values()),
        "module": _compressed_size(top / modules[0], compressor),
        "module_path": modules[0],
        "blockdev": sum(_compressed_size(top / p, compressor) for p in blockdev),
        "blockdev_paths": blockdev,
        "added": added,
        "own_files": own_files(listings["ro-root"]),
    }
    # ro-root's own files (the hook copies the core without its comments), compressed so.
    growth["own_files_compressed"] = sum(
        _compressed_size(top / p, compressor) for p in growth["own_files"]
    )
    shutil.rmtree(unpacked)
    return growth


# --- 1 and 3: boots --------------------------------------------------------------------------


def variant_problems(variant: str, facts: dict[str, str]) -> list[str]:
    """What is wrong with a boot of VARIANT: it must be what the variant claims."""
    wanted = {
        "plain": {"root_fstype": "ext4", "rorootstate": "none"},
        "overlayroot": {"root_fstype": "overlay", "rorootstate": "none"},
        "ro-root": {"root_fstype": "overlay", "rorootstate": "active", "ro_write": "denied"},
    }[variant]
    wanted |= {"task_rc": "0", "write_ok": "yes", "system_state": "running"}
    problems = [
        f"{key} is {facts.get(key)!r}, expected {value!r}"
        for key, value in wanted.items()
        if facts.get(key) != value
    ]
    options = facts.get("root_options", "").split(",")
    if variant == "plain" and "rw" not in options:
        problems.append(f"plain root not mounted rw: {options}")
    if variant == "overlayroot":
        mounts = [v for k, v in facts.items() if k.startswith("mount.")]
        lower = [m for m in mounts if m.split()[1:2] == ["/media/root-ro"]]
        if not lower or "ro" not in lower[0].split()[3].split(","):
            problems.append(f"no read-only /media/root-ro (overlayroot's lower layer): {lower}")
    return problems


def measure_boots(
    images: dict[str, Image], boots: int, timeout: float, results: dict[str, Any]
) -> None:
    results["sha256_before"] = {v: file_sha256(i.disk) for v, i in images.items()}
    written: dict[str, list[int]] = {v: [] for v in VARIANTS}
    seconds: dict[str, list[float]] = {v: [] for v in VARIANTS}
    observed: dict[str, set[str]] = {v: set() for v in VARIANTS}
    # Boots in which systemd checked the root file system (a cost only a real root has).
    fsck_root = dict.fromkeys(VARIANTS, 0)
    slow: dict[str, dict[str, int]] = {v: {} for v in VARIANTS}
    setup: dict[str, list[float]] = {"overlayroot": [], "ro-root": []}
    for number in range(1, boots + 1):
        for variant in VARIANTS:
            image = images[variant]
            done = qemu.boot(image, TASK, f"bench-{number:02d}-{variant}", timeout)
            problems = variant_problems(variant, done.facts)
            if problems:
                die(
                    f"boot {number} of {variant} is not what the variant claims: "
                    f"{'; '.join(problems)}; serial log: {done.log_path}"
                )
            written[variant].append(done.wr_bytes)
            if variant in setup:
                setup[variant].append(setup_seconds(variant, done))
            serial = done.log_path.read_text(errors="replace")
            fsck_root[variant] += "Starting systemd-fsck-root.service" in serial
            for unit in slow_jobs(serial):
                slow[variant][unit] = slow[variant].get(unit, 0) + 1
            seconds[variant].append(boot_seconds(done.facts["systemd_analyze"]))
            observed[variant].add(
                f"{done.facts['root_fstype']} "
                f"{'rw' if 'rw' in done.facts['root_options'].split(',') else 'ro'}"
                f", ro-root {done.facts['rorootstate']}"
            )
        log.info("bench: boots, round %d of %d: %s", number, boots, seconds)
    results["sha256_after"] = {v: file_sha256(i.disk) for v, i in images.items()}
    results["wr_bytes"] = written
    results["boot_seconds"] = seconds
    results["fsck_root_boots"] = fsck_root
    results["slow_jobs"] = slow
    results["root_observed"] = {v: "; ".join(sorted(o)) for v, o in observed.items()}
    results["setup_seconds"] = setup


def setup_seconds(variant: str, done: qemu.BenchBoot) -> float:
    """How long VARIANT's boot step took in the initrd of the boot DONE: ro-root's own
    setup_seconds (/run/ro-root/settings), or the bench's timer around overlayroot's
    init-bottom script or rd.overlay's hooks (bench/timers/)."""
    if variant == "ro-root":
        value = done.facts.get("setting.setup_seconds", "")
        if not re.fullmatch(r"\d+\.\d+", value):
            die(f"ro-root: no setup_seconds in /run/ro-root/settings; log: {done.log_path}")
        return float(value)
    name = "overlayroot" if variant == "overlayroot" else "rd.overlay"
    try:
        steps = initrd_step_seconds(numbered_facts(done.facts, "bench_times"))
    except ValueError as exc:
        die(f"{variant}: the initrd timer's record: {exc}; serial log: {done.log_path}")
    if name not in steps:
        die(f"{variant}: the initrd timer recorded no {name} step; serial log: {done.log_path}")
    return steps[name]


def measure_exec(image: Image, timeout: float, results: dict[str, Any]) -> None:
    """`ro-root exec true`, several times in one boot of the ro-root image (probe task
    bench-exec). After the boots whose disk writes are counted: a window writes the root."""
    done = qemu.boot(image, EXEC_TASK, "bench-exec", timeout)
    if done.facts.get("rorootstate") != "active":
        die(f"the bench-exec boot's ro-root is not active; serial log: {done.log_path}")
    try:
        results["exec_seconds"] = exec_seconds(numbered_facts(done.facts, "bench_exec"))
    except ValueError as exc:
        die(f"bench-exec: {exc}; serial log: {done.log_path}")
    log.info("bench: ro-root exec true: %s", results["exec_seconds"])


def forky_problems(variant: str, facts: dict[str, str]) -> list[str]:
    """What is wrong with a forky boot of VARIANT: the root must be the overlay of its kind."""
    wanted = {
        "rd.overlay": {"root_fstype": "overlay", "rorootstate": "none"},
        "ro-root": {"root_fstype": "overlay", "rorootstate": "active", "ro_write": "denied"},
    }[variant]
    wanted |= {"task_rc": "0", "write_ok": "yes"}
    return [
        f"{key} is {facts.get(key)!r}, expected {value!r}"
        for key, value in wanted.items()
        if facts.get(key) != value
    ]


def measure_forky(
    workdir: Path, deb: Path, boots: int, timeout: float, results: dict[str, Any]
) -> None:
    """Setup time on forky (dracut): ro-root's through its dracut module against dracut's own
    rd.overlay, BOOTS alternating boots of each."""
    timer_deb = timers.dracut_timer_deb(workdir / "debs")
    images = {
        "rd.overlay": prepare_image(
            SPEC_FORKY, [timer_deb], workdir / "forky-rd.overlay", files_before=FORKY_GENERIC
        ),
        "ro-root": prepare_image(
            SPEC_FORKY, [deb], workdir / "forky-ro-root", files_before=FORKY_GENERIC
        ),
    }
    rd_files = images["rd.overlay"].initrd_files
    if RD_OVERLAY_IN_INITRD not in rd_files or RD_OVERLAY_TIMER not in rd_files:
        die("the rd.overlay image's initrd lacks 70overlayfs or the bench's timer hooks")
    if DRACUT_PAYLOAD_IN_INITRD not in images["ro-root"].initrd_files:
        die("the forky ro-root image's initrd lacks ro-root's dracut module")
    # What the timer's brackets hold: every hook between them is counted.
    results["forky_rd_overlay_hooks"] = sorted(
        f for f in rd_files if re.fullmatch(r"var/lib/dracut/hooks/pre-(mount|pivot)/[^/]+", f)
    )
    results["forky_initrd_bytes"] = {v: i.initrd.stat().st_size for v, i in images.items()}
    setup: dict[str, list[float]] = {v: [] for v in FORKY_VARIANTS}
    seconds: dict[str, list[float]] = {v: [] for v in FORKY_VARIANTS}
    written: dict[str, list[int]] = {v: [] for v in FORKY_VARIANTS}
    observed: dict[str, set[str]] = {v: set() for v in FORKY_VARIANTS}
    for number in range(1, boots + 1):
        for variant in FORKY_VARIANTS:
            done = qemu.boot(
                images[variant],
                (*FORKY_APPEND[variant], *TASK),
                f"bench-forky-{number:02d}-{variant}",
                timeout,
            )
            problems = forky_problems(variant, done.facts)
            if problems:
                die(
                    f"forky boot {number} of {variant} is not what the variant claims: "
                    f"{'; '.join(problems)}; serial log: {done.log_path}"
                )
            setup[variant].append(setup_seconds(variant, done))
            seconds[variant].append(boot_seconds(done.facts["systemd_analyze"]))
            written[variant].append(done.wr_bytes)
            failed = done.facts.get("failed_units", "").strip()
            observed[variant].add(
                f"{done.facts.get('system_state')}" + (f" (failed: {failed})" if failed else "")
            )
        log.info("bench: forky boots, round %d of %d: %s", number, boots, setup)
    results["forky_setup_seconds"] = setup
    results["forky_boot_seconds"] = seconds
    results["forky_wr_bytes"] = written
    results["forky_observed"] = {v: "; ".join(sorted(o)) for v, o in observed.items()}


# --- 5. hook time ----------------------------------------------------------------------------


HOOK_TIMER = Path(__file__).resolve().parent / "hook-timer"
OWN_HOOKS = {"overlayroot": "overlayroot", "ro-root": "ro-root"}


@contextmanager
def hook_timed(root: Path, name: str) -> Iterator[Path]:
    """The initramfs hook NAME of the tree ROOT replaced by bench/hook-timer for the duration;
    yields the file where each run of the hook appends its start and end times."""
    hook = root / "usr/share/initramfs-tools/hooks" / name
    real = root / "usr/local/lib/ro-root-bench/hooks" / name
    times = root / f"var/tmp/ro-root-bench-hook.{name}"
    real.parent.mkdir(parents=True, exist_ok=True)
    hook.replace(real)
    try:
        shutil.copyfile(HOOK_TIMER, hook)
        hook.chmod(0o755)
        times.unlink(missing_ok=True)
        yield times
    finally:
        real.replace(hook)


def hook_runs(times: Path, since: int) -> list[float]:
    """Run times of the hook recorded in TIMES after its first SINCE lines."""
    lines = times.read_text().splitlines() if times.exists() else []
    return [float(end) - float(start) for start, end in (x.split() for x in lines[since:])]


def measure_hooks(images: dict[str, Image], reps: int, results: dict[str, Any]) -> None:
    """update-initramfs -u in a chroot of each image: the whole run (all variants), and the
    run time of the variant's own hook within it (overlayroot and ro-root)."""
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    own: dict[str, list[float]] = {v: [] for v in OWN_HOOKS}
    with ExitStack() as stack:
        roots = {
            v: stack.enter_context(loop_mounted(image.disk, image.directory / "mnt"))
            for v, image in images.items()
        }
        hooks = {
            v: sorted(p.name for p in (r / "usr/share/initramfs-tools/hooks").iterdir())
            for v, r in roots.items()
        }
        log.info("bench: initramfs hooks: %s", hooks)
        timers = {v: stack.enter_context(hook_timed(roots[v], h)) for v, h in OWN_HOOKS.items()}
        update = ["update-initramfs", "-u"]
        for root in roots.values():  # untimed: page cache
            run(["chroot", root, *update], capture=True, env=CHROOT_ENV)
        for number in range(reps):
            for variant, root in roots.items():
                before = len(hook_runs(timers[variant], 0)) if variant in timers else 0
                times[variant].append(_timed(["chroot", root, *update]))
                if variant in timers:
                    runs = hook_runs(timers[variant], before)
                    if len(runs) != 1:
                        die(f"{variant}'s hook ran {len(runs)} times in one update-initramfs")
                    own[variant] += runs
            log.info("bench: update-initramfs, round %d of %d: %s %s", number + 1, reps, times, own)
    results["hook_seconds"] = times
    results["hook_own_seconds"] = own
    results["hooks"] = hooks


# --- the run ---------------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "qemu": run(["qemu-system-x86_64", "--version"], capture=True).stdout.splitlines()[0],
        "load_before": _load(),
    }


def _load() -> str:
    return run(["uptime"], capture=True).stdout.strip()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    # The report needs them at the end of a long run: fail now, not then.
    for module in ("scipy", "matplotlib"):
        if importlib.util.find_spec(module) is None:
            die(f"{module} is not installed: run make bench, which installs requirements-bench.txt")
    problems = check_host()
    if problems:
        die("; ".join(problems))
    started = time.monotonic()
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": run(
            ["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture=True
        ).stdout.strip(),
        "boots": args.boots,
        "forky_boots": args.forky_boots,
        "hook_reps": args.hook_reps,
        "machine": _machine(),
        "commands": args.commands,
    }
    log.info("bench: workdir %s", workdir)
    saved = workdir / "results.json"

    def save() -> None:
        """Keep what was measured so far: a later failure does not lose it."""
        partial = saved.with_name(f".{saved.name}.partial")
        partial.write_text(json.dumps(results, indent=1, sort_keys=True))
        partial.replace(saved)

    deb = measure_builds(workdir, args.reps, results)
    save()
    images = prepare_images(workdir, deb, results)
    save()
    measure_boots(images, args.boots, args.timeout, results)
    save()
    measure_exec(images["ro-root"], args.timeout, results)
    save()
    if args.forky_boots:
        try:
            measure_forky(workdir, deb, args.forky_boots, args.timeout, results)
        except UserError as exc:
            # The rest of the run stands; the doc says what could not be measured, and why.
            log.error("bench: forky: %s", exc)
            results["forky_missing"] = f"the forky part of the run failed: {exc}"
    else:
        results["forky_missing"] = "not run (--forky-boots 0)"
    save()
    measure_hooks(images, args.hook_reps, results)
    results["machine"]["load_after"] = _load()
    results["wall_seconds"] = time.monotonic() - started
    save()
    log.info("bench: results in %s", saved)
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--boots", type=int, default=11, help="boots per variant (default 11)")
    parser.add_argument(
        "--forky-boots",
        type=int,
        default=5,
        help="boots per variant of the forky (dracut) images; 0: none (default 5)",
    )
    parser.add_argument("--reps", type=int, default=5, help="runs of each build (default 5)")
    parser.add_argument(
        "--hook-reps", type=int, default=5, help="runs of update-initramfs per variant (default 5)"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per boot")
    parser.add_argument(
        "--workdir", type=Path, default=Path("/var/tmp/ro-root-bench"), help="images and logs"
    )
    parser.add_argument("--docs", type=Path, default=REPO / "docs", help="where to write")
    parser.add_argument(
        "--command",
        dest="commands",
        action="append",
        default=[],
        help="a command line that reproduces this run, for the doc (repeatable)",
    )
    parser.add_argument("--render-only", type=Path, metavar="RESULTS.json")
    parser.add_argument(
        "--earlier",
        type=Path,
        action="append",
        default=[],
        metavar="RESULTS.json",
        help="an earlier run whose boot times the doc lists too (repeatable)",
    )
    parser.add_argument("--debug", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="bench: %(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    if not args.commands:
        given = list(argv if argv is not None else sys.argv[1:])
        args.commands = [
            "make bench" + (f" BENCH_ARGS={shlex.quote(shlex.join(given))}" if given else "")
        ]
    try:
        if args.render_only:
            results = json.loads(args.render_only.read_text())
            # This doc is the saved run redrawn: say how.
            given = list(argv if argv is not None else sys.argv[1:])
            results["commands"] = [
                *results.get("commands", []),
                "# then, with the run's results.json (and earlier runs' ones):",
                shlex.join([".venv/bin/python", "-m", "bench", *given]),
            ]
        else:
            if min(args.boots, args.reps, args.hook_reps) < 1 or args.forky_boots < 0:
                die("--boots, --reps and --hook-reps must be at least 1, --forky-boots 0 or more")
            results = measure(args)
        earlier = [json.loads(path.read_text()) for path in args.earlier]
        doc, png = report.write(results, args.docs, earlier)
    except UserError as exc:
        if args.debug:
            raise
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    for row in report.evaluate(results):
        print(f"{row.number}. {row.what}: {row.value} [{row.verdict}]")
    print(f"wrote {doc} and {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
