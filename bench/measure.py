"""The pure part of the benchmark: parsing what was measured, statistics, targets, the table.

Nothing here runs a program or touches a file, so tests/test_bench.py can check it all.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

VARIANTS = ("plain", "overlayroot", "ro-root")
OWN_FILES = "ro-root's own files in the initrd"

_SPAN = re.compile(r"(\d+(?:\.\d+)?)(min|ms|us|µs|h|s)(?![a-z])")
_SPAN_UNITS = {"h": 3600.0, "min": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}
# cpio -tv as lsinitramfs -l prints it: MODE LINKS OWNER GROUP SIZE MONTH DAY TIME|YEAR NAME
_CPIO_LINE = re.compile(r"(\S{10})\s+\d+\s+\S+\s+\S+\s+(\d+)\s+\S+\s+\d+\s+\S+\s+(.+)")


def parse_timespan(text: str) -> float:
    """Seconds in a systemd time span such as '1min 2.345s', '845ms' or '2.5s'."""
    matches = _SPAN.findall(text)
    if not matches or _SPAN.sub("", text).strip():
        raise ValueError(f"not a systemd time span: {text!r}")
    return sum(float(number) * _SPAN_UNITS[unit] for number, unit in matches)


def boot_seconds(analyze: str) -> float:
    """Seconds from power-on of the kernel to multi-user.target, from `systemd-analyze time`.

    'Startup finished in K (kernel) [+ I (initrd)] + U (userspace) = T' followed by
    'multi-user.target reached after M in userspace': K + I + M. Without an initramfs that
    systemd knows of (initramfs-tools has no systemd in it), K covers the initramfs too.
    """
    text = " ".join(analyze.split())
    parts = re.search(r"Startup finished in (.*?) = ", text)
    reached = re.search(r"(?:multi-user|graphical)\.target reached after (.*?) in userspace", text)
    if parts is None or reached is None:
        raise ValueError(f"not the output of systemd-analyze time of a finished boot: {text!r}")
    phases: dict[str, float] = {}
    for phase in parts.group(1).split(" + "):
        match = re.fullmatch(r"(.+) \((\w+)\)", phase)
        if match is None:
            raise ValueError(f"not a boot phase: {phase!r} in {text!r}")
        phases[match.group(2)] = parse_timespan(match.group(1))
    if "kernel" not in phases:
        raise ValueError(f"no kernel time in: {text!r}")
    return phases["kernel"] + phases.get("initrd", 0.0) + parse_timespan(reached.group(1))


def parse_initrd_listing(text: str) -> dict[str, int]:
    """Regular files and their sizes in bytes, from `lsinitramfs -l` (names without './')."""
    files: dict[str, int] = {}
    for line in text.splitlines():
        match = _CPIO_LINE.fullmatch(line.strip())
        if match is not None and match.group(1).startswith("-"):
            files[match.group(3).removeprefix("./")] = int(match.group(2))
    return files


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SLOW_JOB = re.compile(r"Job (\S+)/start running \(")


def slow_jobs(console: str) -> set[str]:
    """Units whose start job systemd reported on the console as still running after seconds
    ("Job UNIT/start running (8s / no limit)")."""
    return set(_SLOW_JOB.findall(_ANSI.sub("", console)))


def added_files(files: Mapping[str, int], reference: Mapping[str, int]) -> dict[str, int]:
    """Files of FILES that REFERENCE lacks or has smaller: path -> bytes added."""
    return {
        path: size - reference.get(path, 0)
        for path, size in files.items()
        if size > reference.get(path, 0)
    }


def own_files(files: Mapping[str, int], name: str = "ro-root") -> dict[str, int]:
    """The files of FILES (path: size) that a package named NAME put there under its name: in
    their own name, or in a directory of that name (ro-root's core, usr/lib/ro-root/*.sh)."""
    return {
        path: size
        for path, size in files.items()
        if name in path.rsplit("/", 1)[-1] or name in path.split("/")[:-1]
    }


def root_wr_bytes(reply: Mapping[str, object], device: str) -> int:
    """wr_bytes of DEVICE in the reply of QMP query-blockstats."""
    entries = reply.get("return")
    if not isinstance(entries, list):
        raise ValueError(f"not a query-blockstats reply: {reply!r}")
    for entry in entries:
        if isinstance(entry, dict) and entry.get("device") == device:
            stats = entry.get("stats")
            if isinstance(stats, dict) and isinstance(stats.get("wr_bytes"), int):
                return int(stats["wr_bytes"])
    raise ValueError(f"no block device {device!r} with wr_bytes in {reply!r}")


@dataclass(frozen=True)
class Spread:
    """The median of some measurements, with their minimum, maximum and count."""

    median: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("no measurements")
        return cls(statistics.median(values), min(values), max(values), len(values))

    def show(self, unit: str = "s", digits: int = 1) -> str:
        return (
            f"{self.median:.{digits}f} {unit} "
            f"({self.low:.{digits}f} to {self.high:.{digits}f}, n={self.count})"
        )


@dataclass(frozen=True)
class Target:
    """One line of the results: what was measured against what it should be."""

    number: int
    what: str
    value: str
    target: str
    met: bool
    note: str = ""
    # Met or not by the numbers, but the measurement cannot tell (noise larger than the target).
    inconclusive: bool = False


def ratio(value: float, reference: float) -> float:
    if reference <= 0:
        raise ValueError(f"cannot take a ratio to {reference}")
    return value / reference


def fmt_kib(size: float) -> str:
    return f"{size / 1024:,.1f} KiB"


def targets(
    *,
    written: Mapping[str, int],
    hashes_unchanged: Mapping[str, bool],
    boots: int,
    initrd: Mapping[str, int],
    own: int,
    boot_time: Mapping[str, Spread],
    build: Mapping[str, Spread],
    hook: Mapping[str, Spread],
) -> list[Target]:
    """The five targets of the benchmark, from its measurements.

    WRITTEN: bytes written to the root disk over BOOTS boots, per variant; HASHES_UNCHANGED:
    whether its sha256 stayed the same. INITRD: initrd size per variant; OWN: size of
    ro-root's own files in its initrd. BOOT_TIME: per variant. BUILD: 'make deb' and
    'dpkg-buildpackage'. HOOK: the run time of the hook of 'ro-root' and of 'overlayroot'
    inside update-initramfs -u.
    """
    rows: list[Target] = []
    unchanged = "unchanged" if hashes_unchanged["ro-root"] else "CHANGED"
    rows.append(
        Target(
            1,
            f"bytes written to the root disk over {boots} boots",
            f"{written['ro-root']:,} B (image sha256 {unchanged})",
            "0 B",
            written["ro-root"] == 0 and hashes_unchanged["ro-root"],
        )
    )
    growth_ro = initrd["ro-root"] - initrd["plain"]
    growth_ol = initrd["overlayroot"] - initrd["plain"]
    rows.append(
        Target(
            2,
            "initrd growth over plain",
            f"{fmt_kib(growth_ro)} (overlayroot: {fmt_kib(growth_ol)}, "
            f"{growth_ro / growth_ol:.3f}x)"
            if growth_ol > 0
            else fmt_kib(growth_ro),
            "<= 1/8 of overlayroot's",
            growth_ol > 0 and growth_ro * 8 <= growth_ol,
        )
    )
    rows.append(
        Target(
            2,
            OWN_FILES,
            fmt_kib(own),
            "<= 8 KiB",
            own <= 8 * 1024,
        )
    )
    plain = boot_time["plain"].median
    over_ro = ratio(boot_time["ro-root"].median, plain) - 1
    over_ol = ratio(boot_time["overlayroot"].median, plain) - 1
    rows.append(
        Target(
            3,
            "boot time to multi-user, overhead over plain (medians)",
            f"{over_ro:+.1%} (overlayroot: {over_ol:+.1%})",
            "<= +2 % and below overlayroot's",
            over_ro <= 0.02 and over_ro < over_ol,
        )
    )
    deb, dh = build["make deb"].median, build["dpkg-buildpackage"].median
    rows.append(
        Target(
            4,
            "`make deb` wall time vs dpkg-buildpackage + debhelper (medians)",
            f"{deb:.2f} s vs {dh:.2f} s ({ratio(deb, dh):.2f}x)",
            "<= 1/3",
            deb * 3 <= dh,
        )
    )
    own_ro, own_ol = hook["ro-root"].median, hook["overlayroot"].median
    rows.append(
        Target(
            5,
            "time its hook adds to `update-initramfs -u` (the hook's own run time, medians)",
            f"{own_ro:.3f} s (overlayroot's: {own_ol:.3f} s)",
            "<= 1/4 of overlayroot's",
            own_ol > 0 and own_ro * 4 <= own_ol,
        )
    )
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(_cell(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def targets_table(rows: Sequence[Target]) -> str:
    return markdown_table(
        ("#", "measure", "ro-root", "target", "result", "note"),
        [
            (
                str(t.number),
                t.what,
                t.value,
                t.target,
                "inconclusive" if t.inconclusive else "met" if t.met else "**missed**",
                t.note,
            )
            for t in rows
        ],
    )
