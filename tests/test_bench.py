"""The pure parts of make bench (bench/measure.py, bench/report.py): parsing, statistics,
targets and the table. The measuring itself is make bench's own run, not a test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.measure import (
    Growth,
    Spread,
    Target,
    added_files,
    boot_rank_tests,
    boot_seconds,
    exec_seconds,
    initrd_compressor,
    initrd_step_seconds,
    judged,
    markdown_table,
    numbered_facts,
    own_files,
    parse_initrd_listing,
    parse_timespan,
    rank_test_p,
    root_wr_bytes,
    slow_jobs,
    targets,
    targets_table,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2.5s", 2.5), ("845ms", 0.845), ("1min 2.345s", 62.345), ("1h 2min", 3720.0)],
)
def test_timespan_is_read_in_seconds(text: str, seconds: float) -> None:
    assert parse_timespan(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "2.5 s", "3x"])
def test_a_timespan_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timespan(text)


def test_boot_time_is_kernel_plus_time_to_multi_user() -> None:
    # The probe's fact: systemd-analyze time with its line break turned into a space.
    text = (
        "Startup finished in 3.512s (kernel) + 1min 2.201s (userspace) = 1min 5.713s "
        "multi-user.target reached after 1min 1.900s in userspace."
    )
    assert boot_seconds(text) == pytest.approx(3.512 + 61.9)


def test_boot_time_counts_an_initrd_phase_when_systemd_reports_one() -> None:
    text = (
        "Startup finished in 1s (kernel) + 2s (initrd) + 20s (userspace) = 23s\n"
        "graphical.target reached after 19s in userspace"
    )
    assert boot_seconds(text) == pytest.approx(22.0)


def test_a_boot_that_has_not_finished_is_refused() -> None:
    with pytest.raises(ValueError):
        boot_seconds(
            "Bootup is not yet finished (org.freedesktop.systemd1.Manager.FinishTimestamp=0)."
        )


def test_initrd_listing_gives_regular_files_and_sizes() -> None:
    listing = "\n".join(
        [
            "drwxr-xr-x   2 root     root            0 Nov 24 11:00 scripts/init-bottom",
            "-rwxr-xr-x   1 root     root         1234 Nov 24 11:00 scripts/init-bottom/ro-root",
            "-rw-r--r--   1 root     root         4321 Nov 24  2025 scripts/ro-root-functions",
            "lrwxrwxrwx   1 root     root            7 Nov 24 11:00 bin -> usr/bin",
            "-rw-r--r--   1 root     root          99 Nov 24 11:00 ./conf/conf.d/zz-ro-root-x",
            "-rwxr-xr-x   1 root     root        50000 Nov 24 11:00 usr/bin/chmod",
        ]
    )
    files = parse_initrd_listing(listing)
    assert files == {
        "scripts/init-bottom/ro-root": 1234,
        "scripts/ro-root-functions": 4321,
        "conf/conf.d/zz-ro-root-x": 99,
        "usr/bin/chmod": 50000,
    }
    assert set(own_files(files)) == {
        "scripts/init-bottom/ro-root",
        "scripts/ro-root-functions",
        "conf/conf.d/zz-ro-root-x",
    }


def test_written_bytes_are_those_of_the_root_disk() -> None:
    reply = {
        "return": [
            {"device": "virtio1", "stats": {"wr_bytes": 7}},
            {"device": "virtio0", "stats": {"wr_bytes": 4096, "rd_bytes": 1}},
        ]
    }
    assert root_wr_bytes(reply, "virtio0") == 4096
    with pytest.raises(ValueError):
        root_wr_bytes(reply, "virtio2")
    with pytest.raises(ValueError):
        root_wr_bytes({"error": {"class": "GenericError"}}, "virtio0")


def test_spread_is_median_min_max() -> None:
    spread = Spread.of([3.0, 1.0, 2.0, 10.0])
    assert (spread.median, spread.low, spread.high, spread.count) == (2.5, 1.0, 10.0, 4)
    assert spread.show() == "2.5 s (1.0 to 10.0, n=4)"
    with pytest.raises(ValueError):
        Spread.of([])


def growth(compressed: int, blockdev: int = 0) -> Growth:
    return Growth(
        compressed=compressed,
        uncompressed=compressed * 3,
        module=100_000,
        blockdev=blockdev,
        compressor="zstd",
    )


def measured(**changes: Any) -> list[Target]:
    """Measurements where every target is met, with CHANGES applied."""
    values: dict[str, Any] = {
        "written": {"plain": 5_000_000, "overlayroot": 0, "ro-root": 0},
        "hashes_unchanged": {"plain": False, "overlayroot": True, "ro-root": True},
        "boots": 11,
        # At their budgets: the module, blockdev where counted, and 8 KiB.
        "growth": {
            "klibc": growth(100_000 + 20_000 + 8192, blockdev=20_000),
            "busybox": growth(100_000 + 8192),
        },
        "boot_time": {
            "plain": Spread.of([40.0]),
            "overlayroot": Spread.of([42.0]),
            "ro-root": Spread.of([40.5]),
        },
        "boot_tests": {
            "below_bound": 0.01,
            "above_bound": 0.99,
            "below_overlayroot": 0.001,
            "above_overlayroot": 0.999,
        },
        "build": {"make deb": Spread.of([1.0]), "dpkg-buildpackage": Spread.of([3.0])},
        "hook": {"overlayroot": Spread.of([0.4]), "ro-root": Spread.of([0.1])},
        "setup": {"overlayroot": Spread.of([0.4]), "ro-root": Spread.of([0.2])},
        "forky_setup": {"rd.overlay": Spread.of([0.3]), "ro-root": Spread.of([0.3])},
        "forky_missing": "",
        "exec_true": Spread.of([1.99]),
    }
    values.update(changes)
    return targets(**values)


def test_all_targets_met_at_their_limits() -> None:
    rows = measured()
    assert [t.number for t in rows] == [1, 2, 2, 3, 4, 5, 6, 6, 7]
    assert all(t.met and t.verdict == "met" for t in rows), rows


@pytest.mark.parametrize(
    ("changes", "what"),
    [
        ({"written": {"plain": 1, "overlayroot": 0, "ro-root": 512}}, "bytes written"),
        (
            {"hashes_unchanged": {"plain": True, "overlayroot": True, "ro-root": False}},
            "bytes written",
        ),
        (
            {
                "growth": {
                    "klibc": growth(128_193, blockdev=20_000),
                    "busybox": growth(108_192),
                }
            },
            "klibc image",
        ),
        (
            # busybox present: blockdev is not counted, even if measured.
            {
                "growth": {
                    "klibc": growth(128_192, blockdev=20_000),
                    "busybox": growth(108_193, blockdev=20_000),
                }
            },
            "busybox image",
        ),
        (
            {"build": {"make deb": Spread.of([1.1]), "dpkg-buildpackage": Spread.of([3.0])}},
            "make deb",
        ),
        ({"hook": {"overlayroot": Spread.of([0.4]), "ro-root": Spread.of([0.11])}}, "its hook"),
        (
            {"setup": {"overlayroot": Spread.of([0.4]), "ro-root": Spread.of([0.21])}},
            "same run",
        ),
        (
            {"forky_setup": {"rd.overlay": Spread.of([0.3]), "ro-root": Spread.of([0.31])}},
            "forky",
        ),
        ({"exec_true": Spread.of([2.0])}, "ro-root exec true"),
    ],
)
def test_a_target_just_beyond_its_limit_is_missed(changes: dict[str, Any], what: str) -> None:
    missed = [t for t in measured(**changes) if not t.met]
    assert len(missed) == 1 and what in missed[0].what, missed
    assert missed[0].verdict == "missed"


@pytest.mark.parametrize(
    ("tests", "verdict"),
    [
        # Significantly slower than plain + 2 %: missed, whatever overlayroot does.
        ({"below_bound": 0.9, "above_bound": 0.01}, "missed"),
        # Significantly slower than overlayroot.
        ({"below_overlayroot": 0.9, "above_overlayroot": 0.04}, "missed"),
        # Neither test significant either way: the noise decides nothing.
        ({"below_bound": 0.2, "above_bound": 0.8}, "inconclusive"),
        ({"below_overlayroot": 0.06, "above_overlayroot": 0.94}, "inconclusive"),
    ],
)
def test_boot_time_target_follows_the_rank_tests(tests: dict[str, float], verdict: str) -> None:
    boot_tests = {
        "below_bound": 0.01,
        "above_bound": 0.99,
        "below_overlayroot": 0.001,
        "above_overlayroot": 0.999,
    } | tests
    (boot,) = [t for t in measured(boot_tests=boot_tests) if t.number == 3]
    assert boot.verdict == verdict
    assert not boot.met


def test_forky_not_measured_is_said_and_never_met() -> None:
    rows = measured(forky_setup=None, forky_missing="rd.overlay did not mount the overlay")
    (forky,) = [t for t in rows if "forky" in t.what]
    assert (forky.met, forky.verdict) == (False, "not measured")
    assert forky.note == "rd.overlay did not mount the overlay"
    assert "**not measured**" in targets_table([forky])


def test_table_escapes_pipes_and_marks_misses() -> None:
    table = markdown_table(("a", "b"), [("x|y", "z")])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | z |"]
    rows = measured(exec_true=Spread.of([2.5]))
    text = targets_table(rows)
    assert text.count("**missed**") == 1
    assert "| 7 | a no-op maintenance window" in text


def test_rank_test_p_values() -> None:
    # Five values all below five others: exact one-sided p = 1 / C(10, 5).
    low, high = [1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0]
    assert rank_test_p(low, high, "less") == pytest.approx(1 / 252)
    assert rank_test_p(low, high, "greater") == pytest.approx(1.0)
    assert judged(rank_test_p(low, high, "less"), rank_test_p(low, high, "greater")) == "yes"
    assert judged(0.5, 0.5) == "unclear"
    assert judged(0.9, 0.01) == "no"


def test_boot_rank_tests_scale_plain_by_the_limit() -> None:
    plain = [40.0 + 0.01 * n for n in range(11)]
    # 1.5 % above plain throughout: within +2 %, but not within +1 %.
    ro = [v * 1.015 for v in plain]
    overlayroot = [v * 1.2 for v in plain]
    boot = {"plain": plain, "ro-root": ro, "overlayroot": overlayroot}
    within = boot_rank_tests(boot, 0.02)
    assert within["below_bound"] < 0.05 and within["below_overlayroot"] < 0.05
    beyond = boot_rank_tests(boot, 0.01)
    assert beyond["above_bound"] < 0.05


def results_of_a_run() -> dict[str, Any]:
    """A results.json of a short run, as bench/__main__.py writes it."""
    g = {
        "compressor": "zstd",
        "compressed": 120_000,
        "uncompressed": 400_000,
        "module": 110_000,
        "module_path": "usr/lib/modules/6.1.0-1-amd64/kernel/fs/overlayfs/overlay.ko",
        "blockdev": 20_000,
        "blockdev_paths": ["usr/sbin/blockdev"],
        "added": {"usr/lib/modules/6.1.0-1-amd64/kernel/fs/overlayfs/overlay.ko": 350_000},
        "own_files": {"scripts/init-bottom/ro-root": 100},
        "own_files_compressed": 90,
    }
    return {
        "date": "2026-12-03 13:00 UTC",
        "commit": "abc1234",
        "boots": 3,
        "forky_boots": 2,
        "hook_reps": 1,
        "wall_seconds": 600.0,
        "machine": {
            "cpu": "cpu",
            "nproc": 2,
            "kernel": "6",
            "qemu": "qemu",
            "load_before": "x",
            "load_after": "y",
        },
        "commands": ["make bench"],
        "overlayroot_version": "0.18",
        "ro_root_version": "0.1.0",
        "wr_bytes": {"plain": [10, 10, 10], "overlayroot": [0, 0, 0], "ro-root": [0, 0, 0]},
        "sha256_before": {"plain": "a", "overlayroot": "b", "ro-root": "c"},
        "sha256_after": {"plain": "x", "overlayroot": "b", "ro-root": "c"},
        "initrd_bytes": {"plain": 1000, "overlayroot": 9000, "ro-root": 1100},
        "initrd_added": {"ro-root": g["added"], "overlayroot": {"usr/sbin/cryptsetup": 9}},
        "own_files": g["own_files"],
        "growth": {"klibc": g, "busybox": g | {"blockdev": 0, "blockdev_paths": []}},
        "root_observed": {v: "overlay rw" for v in ("plain", "overlayroot", "ro-root")},
        "boot_seconds": {
            "plain": [20.0, 26.0, 31.0],
            "overlayroot": [22.0, 30.0, 39.0],
            "ro-root": [17.5, 21.0, 29.0],
        },
        "setup_seconds": {"overlayroot": [0.5, 0.6, 0.4], "ro-root": [0.1, 0.12, 0.11]},
        "forky_setup_seconds": {"rd.overlay": [0.2, 0.3], "ro-root": [0.1, 0.1]},
        "forky_boot_seconds": {"rd.overlay": [30.0, 31.0], "ro-root": [30.0, 29.0]},
        "forky_rd_overlay_hooks": ["var/lib/dracut/hooks/pre-pivot/10-mount-overlayfs.sh"],
        "exec_seconds": [1.2, 1.1, 1.0, 1.1, 1.3],
        "build_seconds": {
            "make deb": [6.0],
            "build.py deb --no-lintian": [0.5],
            "dpkg-buildpackage": [2.0],
        },
        "hook_seconds": {"plain": [20.0], "overlayroot": [24.0], "ro-root": [20.1]},
        "hook_own_seconds": {"overlayroot": [0.4], "ro-root": [0.05]},
    }


def test_report_explains_a_missed_build_target_by_lintian() -> None:
    rows = report.evaluate(results_of_a_run())
    missed = [t for t in rows if t.verdict == "missed"]
    assert [t.number for t in missed] == [2, 4]  # klibc's growth is over its budget
    assert "build.py deb --no-lintian" in missed[1].note
    assert "build.py deb --no-lintian" not in " ".join(t.note for t in rows if t.met)
    # Each row of a number has its own note.
    klibc, busybox = [t for t in rows if t.number == 2]
    assert "8 KiB" in klibc.target and "blockdev" in klibc.target
    assert "blockdev" not in busybox.target


def test_a_boot_time_difference_within_the_noise_is_inconclusive() -> None:
    (boot,) = [t for t in report.evaluate(results_of_a_run()) if t.number == 3]
    assert not boot.met and boot.verdict == "inconclusive"
    assert "inconclusive" in targets_table([boot])


def test_the_doc_says_what_forky_could_not_measure() -> None:
    results = results_of_a_run()
    del results["forky_setup_seconds"], results["forky_boot_seconds"]
    results["forky_missing"] = "the forky part of the run failed: rd.overlay: root is ext4"
    doc = report.markdown(results, "benchmarks.png")
    assert "1 not measured" in doc
    assert "rd.overlay: root is ext4" in doc
    assert "## Initrd growth" in doc and "## A no-op maintenance window" in doc


def test_initrd_steps_are_read_from_the_timer_lines() -> None:
    lines = ["rd.overlay 3.10 3.25", "overlayroot 4.00 4.50", "rd.overlay 7.00 7.05"]
    assert initrd_step_seconds(lines) == pytest.approx({"rd.overlay": 0.2, "overlayroot": 0.5})
    for bad in (["overlayroot 4.00"], ["overlayroot 4.50 4.00"], ["rd.overlay  3.25"]):
        with pytest.raises(ValueError):
            initrd_step_seconds(bad)


def test_exec_runs_are_read_and_a_failed_one_refused() -> None:
    assert exec_seconds(["100.5 101.75 0", "200.0 200.5 0"]) == pytest.approx([1.25, 0.5])
    with pytest.raises(ValueError, match="exited 125"):
        exec_seconds(["100.5 101.75 125"])
    with pytest.raises(ValueError):
        exec_seconds([])


def test_numbered_facts_must_match_their_count() -> None:
    facts = {"x.1": "a", "x.2": "b", "x.count": "2"}
    assert numbered_facts(facts, "x") == ["a", "b"]
    assert numbered_facts({"x.count": "0"}, "x") == []
    with pytest.raises(ValueError):
        numbered_facts({"x.1": "a", "x.count": "2"}, "x")
    with pytest.raises(ValueError):
        numbered_facts({}, "x")


def newc(name: bytes, data: bytes) -> bytes:
    """One entry of a cpio newc archive."""
    fields = [0, 0o100644, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
    header = b"070701" + b"".join(b"%08X" % f for f in fields) + name + b"\0"
    header += b"\0" * (-len(header) % 4)
    return header + data + b"\0" * (-len(data) % 4)


def test_initrd_compressor_is_read_after_early_archives() -> None:
    zstd = b"\x28\xb5\x2f\xfd" + b"rest"
    assert initrd_compressor(zstd) == "zstd"
    assert initrd_compressor(b"\x1f\x8b\x08\x00") == "gzip"
    early = newc(b"kernel/x86/microcode/AuthenticAMD.bin", b"12345") + newc(b"TRAILER!!!", b"")
    assert initrd_compressor(early + b"\0" * 512 + zstd) == "zstd"
    assert initrd_compressor(early + b"\xfd7zXZ\x00") == "xz"
    with pytest.raises(ValueError):
        initrd_compressor(early + b"plain text")


def test_slow_start_jobs_are_read_from_the_console() -> None:
    console = (
        "[\x1b[0;32m  OK  \x1b[0m] Started foo.service\n"
        "[   ***] Job e2scrub_reap.service/start running (8s / no limit)\r\n"
        "[  *** ] Job e2scrub_reap.service/start running (9s / no limit)\n"
        "[ ***  ] \x1b[0;1;39mJob systemd-udev-settle.service/start running (5s / 3min)\n"
    )
    assert slow_jobs(console) == {"e2scrub_reap.service", "systemd-udev-settle.service"}
    assert slow_jobs("Starting e2scrub_reap.service") == set()


def test_added_files_are_new_or_grown() -> None:
    plain = {"a": 10, "b": 20}
    assert added_files({"a": 10, "b": 25, "c": 5}, plain) == {"b": 5, "c": 5}


def test_init_bottom_timer_answers_prereqs_as_the_script_it_stands_in_for(tmp_path: Path) -> None:
    # mkinitramfs asks each boot script for its prereqs in the initrd's staging tree, after
    # bench/timers/initrd-hook has put the timer in the script's place.
    scripts = tmp_path / "scripts"
    (scripts / "init-bottom").mkdir(parents=True)
    (scripts / "ro-root-bench").mkdir()
    timer = scripts / "init-bottom" / "overlayroot"
    shutil.copyfile(REPO / "bench/timers/init-bottom-timer", timer)
    real = scripts / "ro-root-bench" / "overlayroot"
    real.write_text('#!/bin/sh\n[ "$1" = prereqs ] && echo "udev busybox" && exit 0\nexit 3\n')
    for script in (timer, real):
        script.chmod(0o755)
    proc = subprocess.run(
        ["dash", str(timer), "prereqs"], capture_output=True, text=True, check=False
    )
    assert (proc.returncode, proc.stdout) == (0, "udev busybox\n"), proc.stderr
