"""The pure parts of make bench (bench/measure.py, bench/report.py): parsing, statistics,
targets and the table. The measuring itself is make bench's own run, not a test."""

from __future__ import annotations

from typing import Any

import pytest

from bench import report
from bench.measure import (
    Spread,
    Target,
    added_files,
    boot_seconds,
    markdown_table,
    own_files,
    parse_initrd_listing,
    parse_timespan,
    root_wr_bytes,
    slow_jobs,
    targets,
    targets_table,
)


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


def measured(**changes: Any) -> list[Target]:
    """Measurements where every target is met, with CHANGES applied."""
    values: dict[str, Any] = {
        "written": {"plain": 5_000_000, "overlayroot": 0, "ro-root": 0},
        "hashes_unchanged": {"plain": False, "overlayroot": True, "ro-root": True},
        "boots": 5,
        "initrd": {"plain": 30_000_000, "overlayroot": 31_000_000, "ro-root": 30_100_000},
        "own": 7000,
        "boot_time": {
            "plain": Spread.of([40.0]),
            "overlayroot": Spread.of([42.0]),
            "ro-root": Spread.of([40.5]),
        },
        "build": {"make deb": Spread.of([1.0]), "dpkg-buildpackage": Spread.of([3.0])},
        "hook": {"overlayroot": Spread.of([0.4]), "ro-root": Spread.of([0.1])},
    }
    values.update(changes)
    return targets(**values)


def test_all_targets_met_at_their_limits() -> None:
    rows = measured()
    assert [t.number for t in rows] == [1, 2, 2, 3, 4, 5]
    assert all(t.met for t in rows), rows


@pytest.mark.parametrize(
    ("changes", "number"),
    [
        ({"written": {"plain": 1, "overlayroot": 0, "ro-root": 512}}, 1),
        ({"hashes_unchanged": {"plain": True, "overlayroot": True, "ro-root": False}}, 1),
        ({"initrd": {"plain": 100, "overlayroot": 900, "ro-root": 201}}, 2),
        ({"own": 8 * 1024 + 1}, 2),
        (
            {
                "boot_time": {
                    "plain": Spread.of([40.0]),
                    "overlayroot": Spread.of([50.0]),
                    "ro-root": Spread.of([40.9]),
                }
            },
            3,
        ),
        (
            {
                "boot_time": {
                    "plain": Spread.of([40.0]),
                    "overlayroot": Spread.of([40.2]),
                    "ro-root": Spread.of([40.4]),
                }
            },
            3,
        ),
        ({"build": {"make deb": Spread.of([1.1]), "dpkg-buildpackage": Spread.of([3.0])}}, 4),
        ({"hook": {"overlayroot": Spread.of([0.4]), "ro-root": Spread.of([0.11])}}, 5),
    ],
)
def test_a_target_just_beyond_its_limit_is_missed(changes: dict[str, Any], number: int) -> None:
    missed = [t for t in measured(**changes) if not t.met]
    assert [t.number for t in missed] == [number]


def test_table_escapes_pipes_and_marks_misses() -> None:
    table = markdown_table(("a", "b"), [("x|y", "z")])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | z |"]
    rows = measured(own=9000)
    text = targets_table(rows)
    assert text.count("**missed**") == 1
    assert "| 2 | ro-root's own files in the initrd | 8.8 KiB | <= 8 KiB | **missed** |" in text


def test_report_explains_a_missed_build_target_by_lintian() -> None:
    results: dict[str, Any] = {
        "boots": 1,
        "wr_bytes": {"plain": [10], "overlayroot": [0], "ro-root": [0]},
        "sha256_before": {"plain": "a", "overlayroot": "b", "ro-root": "c"},
        "sha256_after": {"plain": "x", "overlayroot": "b", "ro-root": "c"},
        "initrd_bytes": {"plain": 1000, "overlayroot": 9000, "ro-root": 1100},
        "own_files": {"scripts/init-bottom/ro-root": 100},
        "boot_seconds": {"plain": [40.0], "overlayroot": [44.0], "ro-root": [40.1]},
        "build_seconds": {
            "make deb": [6.0],
            "build.py deb --no-lintian": [0.5],
            "dpkg-buildpackage": [2.0],
        },
        "hook_seconds": {"plain": [20.0], "overlayroot": [24.0], "ro-root": [20.1]},
        "hook_own_seconds": {"overlayroot": [0.4], "ro-root": [0.05]},
    }
    rows = report.evaluate(results)
    missed = [t for t in rows if not t.met]
    assert [t.number for t in missed] == [4]
    assert "build.py deb --no-lintian" in missed[0].note
    assert "build.py deb --no-lintian" not in " ".join(t.note for t in rows if t.met)


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


def test_a_boot_time_difference_within_the_ranges_is_inconclusive() -> None:
    results = {
        "boots": 3,
        "wr_bytes": {"plain": [10], "overlayroot": [0], "ro-root": [0]},
        "sha256_before": {"plain": "a", "overlayroot": "b", "ro-root": "c"},
        "sha256_after": {"plain": "x", "overlayroot": "b", "ro-root": "c"},
        "initrd_bytes": {"plain": 1000, "overlayroot": 9000, "ro-root": 1100},
        "own_files": {"scripts/init-bottom/ro-root": 100},
        "boot_seconds": {
            "plain": [20.0, 26.0, 31.0],
            "overlayroot": [22.0, 30.0, 39.0],
            "ro-root": [17.5, 21.0, 29.0],
        },
        "build_seconds": {"make deb": [0.5], "dpkg-buildpackage": [2.0]},
        "hook_seconds": {"plain": [20.0], "overlayroot": [24.0], "ro-root": [20.1]},
        "hook_own_seconds": {"overlayroot": [0.4], "ro-root": [0.05]},
    }
    (boot,) = [t for t in report.evaluate(results) if t.number == 3]
    assert boot.met and boot.inconclusive
    assert "inconclusive" in targets_table([boot])
