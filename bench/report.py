"""docs/benchmarks.md and docs/benchmarks.png from the results of one run (results.json)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.measure import (
    OWN_FILES,
    VARIANTS,
    Spread,
    Target,
    fmt_kib,
    markdown_table,
    targets,
    targets_table,
)


def spreads(values: Mapping[str, list[float]]) -> dict[str, Spread]:
    return {name: Spread.of(v) for name, v in values.items()}


def evaluate(results: Mapping[str, Any]) -> list[Target]:
    """The targets, with a one-line explanation added to those missed where one is known."""
    boot_time = spreads(results["boot_seconds"])
    build = spreads(results["build_seconds"])
    hook = spreads(results["hook_seconds"])
    own_hook = spreads(results["hook_own_seconds"])
    written = {v: sum(results["wr_bytes"][v]) for v in VARIANTS}
    rows = targets(
        written=written,
        hashes_unchanged={
            v: results["sha256_before"][v] == results["sha256_after"][v] for v in VARIANTS
        },
        boots=results["boots"],
        initrd=results["initrd_bytes"],
        own=sum(results["own_files"].values()),
        boot_time=boot_time,
        build=build,
        hook=own_hook,
    )
    notes: dict[int, str] = {}
    plain, ro = boot_time["plain"], boot_time["ro-root"]
    if plain.low <= ro.median <= plain.high and ro.low <= plain.median <= ro.high:
        notes[3] = (
            "inconclusive: each median lies within the other's range, so under TCG the "
            "difference is noise (see the earlier runs below, where given)"
        )
    else:
        slow = results.get("slow_jobs", {})
        boots = results["boots"]
        causes = [
            f"{v}: " + ", ".join(f"{u} in {n} of {boots} boots" for u, n in jobs.items())
            for v, jobs in sorted(slow.items())
            if jobs
        ]
        if causes:
            notes[3] = "start jobs the console showed running for seconds: " + "; ".join(causes)
    added = results.get("initrd_added", {}).get("ro-root", {})
    if added:
        biggest = sorted(added.items(), key=lambda item: -item[1])[:3]
        notes[2] = "ro-root's largest additions, uncompressed: " + ", ".join(
            f"{path.rsplit('/', 1)[-1]} {fmt_kib(size)}" for path, size in biggest
        )
    if "build.py deb --no-lintian" in build and not any(t.met for t in rows if t.number == 4):
        notes[4] = (
            f"`make deb` runs lintian; the build alone (`build.py deb --no-lintian`) took "
            f"{build['build.py deb --no-lintian'].median:.2f} s; dpkg-buildpackage runs no lintian"
        )
    plain_hook = hook["plain"]
    diff = hook["ro-root"].median - plain_hook.median
    notes[5] = (
        f"whole update-initramfs -u, medians minus plain's: ro-root {diff:+.2f} s, overlayroot "
        f"{hook['overlayroot'].median - plain_hook.median:+.2f} s, within the spread of "
        f"plain's own runs ({plain_hook.high - plain_hook.low:.2f} s)"
    )
    own_note = ""
    if "own_files_gzip" in results:
        own_note = (
            f"sizes as stored, uncompressed; gzip -9 makes them "
            f"{fmt_kib(results['own_files_gzip'])}"
        )
    return [
        Target(t.number, t.what, t.value, t.target, t.met, own_note)
        if t.what == OWN_FILES
        else Target(
            t.number,
            t.what,
            t.value,
            t.target,
            t.met,
            notes[t.number],
            inconclusive=notes[t.number].startswith("inconclusive"),
        )
        if t.number in notes
        else t
        for t in rows
    ]


def _variant_rows(results: Mapping[str, Any]) -> str:
    boot_time = spreads(results["boot_seconds"])
    hook = spreads(results["hook_seconds"])
    own_hook = spreads(results["hook_own_seconds"])
    initrd = results["initrd_bytes"]
    rows = []
    for v in VARIANTS:
        written = results["wr_bytes"][v]
        same = results["sha256_before"][v] == results["sha256_after"][v]
        rows.append(
            (
                v,
                results["root_observed"][v],
                f"{sum(written):,} ({', '.join(f'{w:,}' for w in written)})",
                "unchanged" if same else "changed",
                f"{fmt_kib(initrd[v])} ({fmt_kib(initrd[v] - initrd['plain'])})",
                boot_time[v].show(),
                f"{boot_time[v].median / boot_time['plain'].median:.3f}",
                f"{results.get('fsck_root_boots', {}).get(v, '?')} of {len(written)}",
                ", ".join(
                    f"{unit} ({n} of {len(written)})"
                    for unit, n in sorted(results.get("slow_jobs", {}).get(v, {}).items())
                )
                or "none",
                hook[v].show(digits=2),
                f"{hook[v].median - hook['plain'].median:+.2f} s",
                own_hook[v].show(digits=3) if v in own_hook else "",
            )
        )
    return markdown_table(
        (
            "variant",
            "root seen by the guest (every boot)",
            "bytes written to the root disk, total (per boot)",
            "image sha256",
            "initrd (growth)",
            "boot to multi-user: median (min to max, n)",
            "ratio to plain",
            "boots with systemd-fsck-root",
            "start jobs running for seconds (boots)",
            "`update-initramfs -u`: median (min to max, n)",
            "added",
            "its own hook's run time in it",
        ),
        rows,
    )


def _added(results: Mapping[str, Any], top: int = 6) -> list[str]:
    """What each variant's initrd holds beyond plain's: the largest files, and the total."""
    lines = []
    for v, files in sorted(results.get("initrd_added", {}).items()):
        biggest = sorted(files.items(), key=lambda item: -item[1])[:top]
        lines += [
            f"Files in {v}'s initrd beyond plain's: {len(files)}, "
            f"{fmt_kib(sum(files.values()))} uncompressed; the largest: "
            + ", ".join(f"`{path}` {fmt_kib(size)}" for path, size in biggest)
            + ".",
            "",
        ]
    return lines


def _earlier(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Boot times of earlier full runs: how far the medians move from run to run."""
    if not runs:
        return []
    rows = []
    for run in runs:
        boot_time = spreads(run["boot_seconds"])
        plain = boot_time["plain"].median
        rows.append(
            (
                run["date"],
                f"`{run['commit']}`",
                *(
                    f"{boot_time[v].show()}, {boot_time[v].median / plain - 1:+.1%}"
                    for v in VARIANTS
                ),
            )
        )
    return [
        "## Boot time in earlier runs",
        "",
        "The same measurement in earlier full runs of `make bench` on this machine (same "
        "base image and workload; median, range, and overhead over plain). Where the "
        "medians move this much from run to run, a 2 % target cannot be judged from 5 boots "
        "under TCG.",
        "",
        markdown_table(("run", "commit", *VARIANTS), rows),
    ]


def markdown(
    results: Mapping[str, Any], chart: str, earlier: Sequence[Mapping[str, Any]] = ()
) -> str:
    machine = results["machine"]
    build = spreads(results["build_seconds"])
    rows = evaluate(results)
    met = sum(t.met and not t.inconclusive for t in rows)
    unclear = sum(t.inconclusive for t in rows)
    own = results["own_files"]
    lines = [
        "# Benchmarks: ro-root, overlayroot and a plain root",
        "",
        "<!-- Generated by `make bench` (bench/report.py) from one run; do not edit by hand. -->",
        "",
        f"Measured on {results['date']} in one run of `make bench` "
        f"({results['wall_seconds'] / 60:.0f} min), all three variants made from the same "
        "base image: Debian 12 (bookworm) minbase with systemd and busybox "
        "(busybox so that overlayroot works), the probe of `testbed/vmfiles/`, and then",
        "",
        "- **plain**: nothing more; the root is the ext4 disk, mounted read-write;",
        f"- **overlayroot**: Debian's `overlayroot` {results['overlayroot_version']} "
        "(cloud-initramfs-tools, installed with `--no-install-recommends`) in tmpfs mode, "
        '`overlayroot="tmpfs"` in `/etc/overlayroot.conf`;',
        f"- **ro-root**: this tree's package ({results['ro_root_version']}, commit "
        f"`{results['commit']}`), default configuration.",
        "",
        f"**{met} of {len(rows)} targets met"
        + (f", {unclear} inconclusive" if unclear else "")
        + ".** A target missed is a finding, kept here as measured.",
        "",
        targets_table(rows),
        f"![Benchmark chart]({chart})",
        "",
        "## Per variant",
        "",
        _variant_rows(results),
        f"Each boot ran the same small workload (the probe's `rorootest.task=bench-write`: "
        f"1 MiB of data, 64 small files and a log line, then `sync`) and was checked to be "
        f"what its variant claims; a boot that was not stops the run. Boots alternated "
        f"between the variants ({results['boots']} rounds of plain, overlayroot, ro-root). "
        "Bytes written are qemu's `wr_bytes` of the root disk (QMP `query-blockstats`, read "
        "after the guest powered off, qemu started with `-no-shutdown`); the image sha256 is "
        "taken before the first and after the last boot. Boot time is `systemd-analyze time`: "
        "kernel (which, without systemd in the initramfs, includes the initramfs) plus the time "
        "at which multi-user.target was reached in userspace (graphical.target where systemd "
        "reports that one; it follows multi-user.target in these images). Overhead can be "
        "negative: with a real root, systemd checks it (systemd-fsck-root) and remounts it "
        "read-write, work that a boot onto an overlay skips (column 'boots with "
        "systemd-fsck-root', counted from the serial logs).",
        "",
        "ro-root's own files in its initrd: "
        + ", ".join(f"`{p}` {size:,} B" for p, size in sorted(own.items()))
        + f" (total {fmt_kib(sum(own.values()))}).",
        "",
        *_added(results),
        "`update-initramfs -u` was timed in a chroot of each variant's disk image "
        f"(loop-mounted after the boots), {results['hook_reps']} runs each, alternating, after "
        "one untimed run per variant. In those runs overlayroot's and ro-root's hook were "
        "stood in for by `bench/hook-timer`, which runs the real hook and records its start "
        "and end: that run time is what target 5 compares. The difference of whole runs "
        "(variant median minus plain median, column 'added') also counts compressing the "
        "larger initrd, but is smaller than the run-to-run spread.",
        "",
        *_earlier(earlier),
        "## Build time",
        "",
        markdown_table(
            ("command", "wall time: median (min to max, n)"),
            [(f"`{name}`", spread.show(digits=2)) for name, spread in build.items()],
        ),
        "`dpkg-buildpackage -us -uc -b` builds a debhelper (compat 13) source package made "
        "by the benchmark in a temporary directory: the files of `debian/install` and "
        "`debian/links`, with the maintainer scripts, templates and triggers of the .deb "
        "`make deb` built. The two .deb files were checked to install the same paths. "
        "`make deb` includes a lintian run; dpkg-buildpackage runs none.",
        "",
        "## Machine",
        "",
        markdown_table(
            ("", ""),
            [
                ("CPU", machine["cpu"]),
                ("cores (nproc)", str(machine["nproc"])),
                ("host kernel", machine["kernel"]),
                ("qemu", f"{machine['qemu']}, TCG (no KVM), `-smp 2 -m 1024`"),
                ("load before the run", machine["load_before"]),
                ("load after the run", machine["load_after"]),
            ],
        ),
        "The VM work of the run held `/var/lock/ro-root-vm.lock` throughout, so no other "
        "VM test of this machine ran at the same time. Under TCG boot times vary by several "
        "percent from boot to boot: read the ranges, not only the medians.",
        "",
        "## Reproduce",
        "",
        "```sh",
        *results["commands"],
        "```",
        "",
        "`make bench` installs what it needs (debhelper, build-essential, matplotlib in "
        "`.venv`), builds the images under `--workdir` (default `/var/tmp/ro-root-bench`; "
        "serial logs and `results.json` stay there), and rewrites this file and the chart. "
        "`python3 -m bench --render-only RESULTS.json [--earlier OLD.json ...]` redraws them "
        "from a saved run.",
        "",
    ]
    return "\n".join(lines)


def chart(results: Mapping[str, Any], path: Path) -> None:
    """A PNG with one panel per measure, variants side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"plain": "#999999", "overlayroot": "#d95f02", "ro-root": "#1b9e77"}
    fig, grid = plt.subplots(2, 3, figsize=(12, 7), dpi=80)
    axes = grid.flatten()
    axes[5].axis("off")
    axes[5].text(
        0,
        0.5,
        f"{results['date']}\n{results['machine']['cpu']}\nqemu TCG, {results['boots']} boots "
        f"per variant\ncommit {results['commit']}",
        fontsize=10,
        va="center",
    )
    names = list(VARIANTS)
    ax = axes[0]
    data = [results["boot_seconds"][v] for v in names]
    ax.boxplot(data)
    ax.set_xticks(range(1, len(names) + 1), names)
    for i, values in enumerate(data, start=1):
        ax.scatter([i] * len(values), values, s=10, color=colors[names[i - 1]], zorder=3)
    ax.set_title("boot to multi-user (s)")
    ax = axes[1]
    written = [sum(results["wr_bytes"][v]) / 1024**2 for v in names]
    ax.bar(names, written, color=[colors[v] for v in names])
    ax.set_title(f"MiB written to root, {results['boots']} boots")
    for i, value in enumerate(written):
        ax.annotate(f"{value:.2f}", (i, value), ha="center", va="bottom")
    ax = axes[2]
    growth = [(results["initrd_bytes"][v] - results["initrd_bytes"]["plain"]) / 1024 for v in names]
    ax.bar(names[1:], growth[1:], color=[colors[v] for v in names[1:]])
    ax.set_title("initrd growth over plain (KiB)")
    for i, value in enumerate(growth[1:]):
        ax.annotate(f"{value:,.0f}", (i, value), ha="center", va="bottom")
    ax = axes[3]
    own_hook = spreads(results["hook_own_seconds"])
    added = [own_hook[v].median for v in names[1:]]
    ax.bar(names[1:], added, color=[colors[v] for v in names[1:]])
    ax.set_title("hook run time in update-initramfs -u (s)")
    for i, value in enumerate(added):
        ax.annotate(f"{value:.3f}", (i, value), ha="center", va="bottom")
    ax = axes[4]
    build = spreads(results["build_seconds"])
    labels = list(build)
    ax.barh(labels, [build[k].median for k in labels], color="#7570b3")
    ax.set_title("package build, median (s)")
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    partial = path.with_name(f".{path.name}.partial")
    fig.savefig(partial, format="png")
    plt.close(fig)
    partial.replace(path)


def write(
    results: Mapping[str, Any], docs: Path, earlier: Sequence[Mapping[str, Any]] = ()
) -> tuple[Path, Path]:
    """Write docs/benchmarks.md and docs/benchmarks.png atomically."""
    docs.mkdir(parents=True, exist_ok=True)
    png = docs / "benchmarks.png"
    chart(results, png)
    doc = docs / "benchmarks.md"
    partial = doc.with_name(f".{doc.name}.partial")
    partial.write_text(markdown(results, png.name, earlier))
    partial.replace(doc)
    return doc, png
