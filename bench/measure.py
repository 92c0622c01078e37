"""The pure part of the benchmark: parsing what was measured, statistics, targets, the table.

Nothing here runs a program or touches a file, so tests/test_bench.py can check it all.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

VARIANTS = ("plain", "overlayroot", "ro-root")

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


def numbered_facts(facts: Mapping[str, str], prefix: str) -> list[str]:
    """The values of PREFIX.1, PREFIX.2, ... of the probe's facts, checked against PREFIX.count
    (the probe's `facts` function writes both)."""
    values: list[str] = []
    while f"{prefix}.{len(values) + 1}" in facts:
        values.append(facts[f"{prefix}.{len(values) + 1}"])
    if facts.get(f"{prefix}.count") != str(len(values)):
        raise ValueError(f"{prefix}: {len(values)} lines, count {facts.get(prefix + '.count')!r}")
    return values


def initrd_step_seconds(lines: Sequence[str]) -> dict[str, float]:
    """Seconds per boot step from the bench's initrd timers (bench/timers/): lines
    "NAME START END" of /proc/uptime readings; a NAME timed in several parts (dracut's
    rd.overlay: its pre-mount and its pre-pivot hooks) gets the sum."""
    steps: dict[str, float] = {}
    for line in lines:
        fields = line.split()
        if len(fields) != 3:
            raise ValueError(f"not an initrd timer line (NAME START END): {line!r}")
        name, start, end = fields[0], float(fields[1]), float(fields[2])
        if end < start:
            raise ValueError(f"an initrd timer line that ends before it starts: {line!r}")
        steps[name] = steps.get(name, 0.0) + end - start
    return steps


def exec_seconds(lines: Sequence[str]) -> list[float]:
    """The run times of `ro-root exec true` from the probe's task bench-exec: lines
    "START END RC" (seconds since the epoch); a run that did not exit 0 is an error."""
    runs = []
    for line in lines:
        fields = line.split()
        if len(fields) != 3:
            raise ValueError(f"not a bench-exec line (START END RC): {line!r}")
        if fields[2] != "0":
            raise ValueError(f"ro-root exec true exited {fields[2]}: {line!r}")
        runs.append(float(fields[1]) - float(fields[0]))
    if not runs:
        raise ValueError("no run of ro-root exec true was reported")
    return runs


# What mkinitramfs (initramfs-tools 0.142) runs for each COMPRESS when initramfs.conf sets no
# COMPRESSLEVEL, without the threads option: the initrd's own compressor, to compress single
# files with. Keyed by what initrd_compressor() finds.
COMPRESSORS: dict[str, tuple[str, ...]] = {
    "zstd": ("zstd", "-q", "-9", "-c"),
    "gzip": ("gzip", "-n", "-c"),
    "xz": ("xz", "--check=crc32", "-c"),
    "lz4": ("lz4", "-9", "-l", "-c"),
    "bzip2": ("bzip2", "-c"),
    "lzma": ("lzma", "-c"),
}
_MAGIC = (
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x02\x21\x4c\x18", "lz4"),
    (b"BZh", "bzip2"),
    (b"\x5d\x00\x00", "lzma"),
)
_CPIO_NEWC = (b"070701", b"070702")


def initrd_compressor(data: bytes) -> str:
    """The compressor of the main archive of the initrd DATA (its first bytes suffice): after
    any uncompressed early archives (microcode), which are skipped, as the kernel does."""
    offset = 0
    while data[offset : offset + 6] in _CPIO_NEWC:
        # A newc header: magic, 13 fields of 8 hex digits, then the name and the data, each
        # padded to 4 bytes; the archive ends with the entry TRAILER!!!.
        header = data[offset : offset + 110]
        if len(header) < 110:
            raise ValueError("an initrd that ends inside a cpio header")
        size = int(header[54:62], 16)
        namesize = int(header[94:102], 16)
        entry = data[offset + 110 : offset + 110 + namesize - 1]
        offset += (110 + namesize + 3) // 4 * 4
        offset += (size + 3) // 4 * 4
        if entry == b"TRAILER!!!":
            while data[offset : offset + 1] == b"\x00":
                offset += 1
    for magic, name in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return name
    raise ValueError(f"unknown initrd compression (bytes {data[offset : offset + 6]!r})")


# The significance level of the rank tests.
ALPHA = 0.05


def rank_test_p(sample: Sequence[float], reference: Sequence[float], alternative: str) -> float:
    """The p-value of a Mann-Whitney U test of SAMPLE against REFERENCE: ALTERNATIVE "less"
    (SAMPLE's values tend to be smaller) or "greater". scipy chooses the exact distribution or
    the normal approximation with a tie correction."""
    from scipy.stats import mannwhitneyu  # make bench's requirement, not make test's

    return float(mannwhitneyu(sample, reference, alternative=alternative).pvalue)


def boot_rank_tests(boot: Mapping[str, Sequence[float]], limit: float) -> dict[str, float]:
    """The one-sided p-values that target 3 is judged by, from the boot times per variant:
    ro-root's against plain's scaled by 1 + LIMIT (the target's bound), both ways, and against
    overlayroot's, both ways."""
    bound = [value * (1 + limit) for value in boot["plain"]]
    ro, ol = boot["ro-root"], boot["overlayroot"]
    return {
        "below_bound": rank_test_p(ro, bound, "less"),
        "above_bound": rank_test_p(ro, bound, "greater"),
        "below_overlayroot": rank_test_p(ro, ol, "less"),
        "above_overlayroot": rank_test_p(ro, ol, "greater"),
    }


def judged(below: float, above: float) -> str:
    """'yes', 'no' or 'unclear' for a claim "below" from two one-sided p-values."""
    if below < ALPHA:
        return "yes"
    if above < ALPHA:
        return "no"
    return "unclear"


@dataclass(frozen=True)
class Growth:
    """What ro-root adds to an initrd over the plain image's, and what it may add."""

    compressed: int  # initrd file size, ro-root's minus plain's
    uncompressed: int  # sum of the sizes of the files in the archive, ro-root's minus plain's
    module: int  # the overlay module, compressed on its own with the initrd's compressor
    blockdev: int  # blockdev (with any library only it needs), compressed so; 0: not counted
    compressor: str

    def budget(self, with_blockdev: bool) -> int:
        """What the target allows: the module, blockdev if WITH_BLOCKDEV, and 8 KiB."""
        return self.module + (self.blockdev if with_blockdev else 0) + 8 * 1024


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
    # False: the run could not measure it (the note says why); never counted as met.
    measured: bool = True

    @property
    def verdict(self) -> str:
        if not self.measured:
            return "not measured"
        return "inconclusive" if self.inconclusive else "met" if self.met else "missed"


def ratio(value: float, reference: float) -> float:
    if reference <= 0:
        raise ValueError(f"cannot take a ratio to {reference}")
    return value / reference


def fmt_kib(size: float) -> str:
    return f"{size / 1024:,.1f} KiB"


BOOT_LIMIT = 0.02


def targets(
    *,
    written: Mapping[str, int],
    hashes_unchanged: Mapping[str, bool],
    boots: int,
    growth: Mapping[str, Growth],
    boot_time: Mapping[str, Spread],
    boot_tests: Mapping[str, float],
    build: Mapping[str, Spread],
    hook: Mapping[str, Spread],
    setup: Mapping[str, Spread],
    forky_setup: Mapping[str, Spread] | None,
    forky_missing: str,
    exec_true: Spread,
) -> list[Target]:
    """The targets of the benchmark, from its measurements.

    WRITTEN: bytes written to the root disk over BOOTS boots, per variant; HASHES_UNCHANGED:
    whether its sha256 stayed the same. GROWTH: ro-root's initrd growth on the "klibc" and the
    "busybox" image. BOOT_TIME: per variant; BOOT_TESTS: boot_rank_tests() of them. BUILD:
    'make deb' and 'dpkg-buildpackage'. HOOK: the run time of the hook of 'ro-root' and of
    'overlayroot' inside update-initramfs -u. SETUP: the initrd's setup time of 'ro-root'
    (setup_seconds) and of 'overlayroot' (its init-bottom script); FORKY_SETUP: the same on
    forky for 'ro-root' and 'rd.overlay', None if not measured, FORKY_MISSING saying why.
    EXEC_TRUE: the run time of `ro-root exec true` in a booted guest.
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
    for flavour, blockdev in (("klibc", True), ("busybox", False)):
        g = growth[flavour]
        parts = f"overlay module {fmt_kib(g.module)}" + (
            f" + blockdev {fmt_kib(g.blockdev)}" if blockdev else ""
        )
        rows.append(
            Target(
                2,
                f"initrd growth over plain, {flavour} image, compressed ({g.compressor})",
                f"{fmt_kib(g.compressed)} (uncompressed {fmt_kib(g.uncompressed)})",
                f"<= {parts} + 8 KiB = {fmt_kib(g.budget(blockdev))}",
                g.compressed <= g.budget(blockdev),
            )
        )
    plain = boot_time["plain"].median
    over_ro = ratio(boot_time["ro-root"].median, plain) - 1
    over_ol = ratio(boot_time["overlayroot"].median, plain) - 1
    bound = judged(boot_tests["below_bound"], boot_tests["above_bound"])
    below = judged(boot_tests["below_overlayroot"], boot_tests["above_overlayroot"])
    rows.append(
        Target(
            3,
            "boot time to multi-user, overhead over plain (medians; one-sided Mann-Whitney U "
            f"tests at {ALPHA:g})",
            f"{over_ro:+.1%} (overlayroot: {over_ol:+.1%}); below plain {1 + BOOT_LIMIT:g}x: "
            f"{bound} (p={boot_tests['below_bound']:.3f}, opposite "
            f"p={boot_tests['above_bound']:.3f}); below overlayroot: {below} "
            f"(p={boot_tests['below_overlayroot']:.3f}, opposite "
            f"p={boot_tests['above_overlayroot']:.3f})",
            f"<= +{BOOT_LIMIT:.0%} and below overlayroot's",
            bound == "yes" and below == "yes",
            inconclusive="no" not in (bound, below) and "unclear" in (bound, below),
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
    ro_s, ol_s = setup["ro-root"].median, setup["overlayroot"].median
    rows.append(
        Target(
            6,
            "setup time in the initrd, same run (medians): ro-root's setup_seconds vs "
            "overlayroot's init-bottom script",
            f"{ro_s:.2f} s vs {ol_s:.2f} s",
            "<= 1/2 of overlayroot's",
            ro_s * 2 <= ol_s,
        )
    )
    if forky_setup is None:
        rows.append(
            Target(
                6,
                "setup time in the initrd on forky (dracut): ro-root vs dracut's rd.overlay",
                "not measured",
                "<= rd.overlay's",
                False,
                forky_missing,
                measured=False,
            )
        )
    else:
        ro_f, rd_f = forky_setup["ro-root"].median, forky_setup["rd.overlay"].median
        rows.append(
            Target(
                6,
                "setup time in the initrd on forky (dracut, medians): ro-root's setup_seconds "
                "vs rd.overlay's hooks (70overlayfs)",
                f"{ro_f:.2f} s vs {rd_f:.2f} s",
                "<= rd.overlay's",
                ro_f <= rd_f,
            )
        )
    rows.append(
        Target(
            7,
            "a no-op maintenance window, `ro-root exec true`, in the booted guest under TCG",
            exec_true.show(digits=2),
            "< 2 s (median)",
            exec_true.median < 2.0,
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
                t.verdict if t.verdict in ("met", "inconclusive") else f"**{t.verdict}**",
                t.note,
            )
            for t in rows
        ],
    )
