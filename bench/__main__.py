"""make bench: ro-root, overlayroot and a plain root, measured in one run on one base image.

python3 -m bench [--boots N] [--reps N] [--hook-reps N] [--workdir DIR] [--docs DIR]
python3 -m bench --render-only RESULTS.json

Needs root (images are unpacked with their owners, chroots, loop mounts), qemu, mmdebstrap,
debhelper and matplotlib: `make bench` installs them.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import logging
import os
import platform
import shlex
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench import debhelper, qemu, report
from bench.measure import (
    VARIANTS,
    added_files,
    boot_seconds,
    own_files,
    parse_initrd_listing,
    slow_jobs,
)
from ro_root.changelog import read_changelog
from ro_root.errors import UserError, die
from ro_root.proc import require, run
from testbed.images import (
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
    images = {
        "plain": prepare_image(SPEC, [], workdir / "plain"),
        "overlayroot": prepare_image(
            SPEC,
            [overlayroot_deb],
            workdir / "overlayroot",
            files={"etc/overlayroot.conf": OVERLAYROOT_CONF},
        ),
        "ro-root": prepare_image(SPEC, [deb], workdir / "ro-root"),
    }
    has = {
        v: {
            "ro-root": PAYLOAD_IN_INITRD in image.initrd_files,
            "overlayroot": "scripts/init-bottom/overlayroot" in image.initrd_files,
        }
        for v, image in images.items()
    }
    wanted = {
        "plain": {"ro-root": False, "overlayroot": False},
        "overlayroot": {"ro-root": False, "overlayroot": True},
        "ro-root": {"ro-root": True, "overlayroot": False},
    }
    if has != wanted:
        die(f"the initrds do not carry what their variant needs: {has}")
    results["initrd_bytes"] = {v: image.initrd.stat().st_size for v, image in images.items()}
    listings = {
        v: parse_initrd_listing(run(["lsinitramfs", "-l", i.initrd], capture=True).stdout)
        for v, i in images.items()
    }
    results["initrd_added"] = {
        v: added_files(listings[v], listings["plain"]) for v in ("overlayroot", "ro-root")
    }
    results["own_files"] = own = own_files(listings["ro-root"])
    # The tree mirrors /usr/share/initramfs-tools: each is a file of this tree, as it is.
    compressed = 0
    for path, size in own.items():
        source = REPO / path
        if not source.is_file() or source.stat().st_size != size:
            die(f"{path} in the initrd is not this tree's file ({size} bytes)")
        compressed += len(gzip.compress(source.read_bytes(), 9))
    results["own_files_gzip"] = compressed
    return images


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
    measure_hooks(images, args.hook_reps, results)
    results["machine"]["load_after"] = _load()
    results["wall_seconds"] = time.monotonic() - started
    save()
    log.info("bench: results in %s", saved)
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--boots", type=int, default=5, help="boots per variant (default 5)")
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
            if min(args.boots, args.reps, args.hook_reps) < 1:
                die("--boots, --reps and --hook-reps must be at least 1")
            results = measure(args)
        earlier = [json.loads(path.read_text()) for path in args.earlier]
        doc, png = report.write(results, args.docs, earlier)
    except UserError as exc:
        if args.debug:
            raise
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    for row in report.evaluate(results):
        verdict = "inconclusive" if row.inconclusive else "met" if row.met else "MISSED"
        print(f"{row.number}. {row.what}: {row.value} [{verdict}]")
    print(f"wrote {doc} and {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
