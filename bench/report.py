"""docs/benchmarks.md and docs/benchmarks.png from the results of one run (results.json)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.measure import (
    ALPHA,
    BOOT_LIMIT,
    VARIANTS,
    Growth,
    Spread,
    Target,
    boot_rank_tests,
    fmt_kib,
    markdown_table,
    rank_test_p,
    targets,
    targets_table,
)

FLAVOURS = ("klibc", "busybox")


def spreads(values: Mapping[str, list[float]]) -> dict[str, Spread]:
    return {name: Spread.of(v) for name, v in values.items()}


def growths(results: Mapping[str, Any]) -> dict[str, Growth]:
    return {
        flavour: Growth(
            compressed=g["compressed"],
            uncompressed=g["uncompressed"],
            module=g["module"],
            blockdev=g["blockdev"],
            compressor=g["compressor"],
        )
        for flavour, g in results["growth"].items()
    }


def evaluate(results: Mapping[str, Any]) -> list[Target]:
    """The targets, with a one-line explanation added where one is known."""
    boot_time = spreads(results["boot_seconds"])
    build = spreads(results["build_seconds"])
    hook = spreads(results["hook_seconds"])
    own_hook = spreads(results["hook_own_seconds"])
    setup = spreads(results["setup_seconds"])
    forky = results.get("forky_setup_seconds")
    written = {v: sum(results["wr_bytes"][v]) for v in VARIANTS}
    rows = targets(
        written=written,
        hashes_unchanged={
            v: results["sha256_before"][v] == results["sha256_after"][v] for v in VARIANTS
        },
        boots=results["boots"],
        growth=growths(results),
        boot_time=boot_time,
        boot_tests=boot_rank_tests(results["boot_seconds"], BOOT_LIMIT),
        build=build,
        hook=own_hook,
        setup=setup,
        forky_setup=spreads(forky) if forky else None,
        forky_missing=results.get("forky_missing", "not measured"),
        exec_true=Spread.of(results["exec_seconds"]),
    )
    notes: dict[str, str] = {}
    slow = results.get("slow_jobs", {})
    boots = results["boots"]
    causes = [
        f"{v}: " + ", ".join(f"{u} in {n} of {boots} boots" for u, n in jobs.items())
        for v, jobs in sorted(slow.items())
        if jobs
    ]
    if causes:
        notes["boot"] = "start jobs the console showed running for seconds: " + "; ".join(causes)
    for flavour in FLAVOURS:
        g = results["growth"][flavour]
        biggest = sorted(g["added"].items(), key=lambda item: -item[1])[:3]
        notes[flavour] = (
            "largest additions, uncompressed: "
            + ", ".join(f"{path.rsplit('/', 1)[-1]} {fmt_kib(size)}" for path, size in biggest)
            + f"; ro-root's own files {fmt_kib(sum(g['own_files'].values()))}, "
            f"{fmt_kib(g['own_files_compressed'])} compressed"
        )
    if "build.py deb --no-lintian" in build and not any(t.met for t in rows if t.number == 4):
        notes["build"] = (
            f"`make deb` runs lintian; the build alone (`build.py deb --no-lintian`) took "
            f"{build['build.py deb --no-lintian'].median:.2f} s; dpkg-buildpackage runs no lintian"
        )
    plain_hook = hook["plain"]
    diff = hook["ro-root"].median - plain_hook.median
    notes["hook"] = (
        f"whole update-initramfs -u, medians minus plain's: ro-root {diff:+.2f} s, overlayroot "
        f"{hook['overlayroot'].median - plain_hook.median:+.2f} s, spread of plain's own runs "
        f"{plain_hook.high - plain_hook.low:.2f} s"
    )
    ro_setup, ol_setup = (
        results["setup_seconds"]["ro-root"],
        results["setup_seconds"]["overlayroot"],
    )
    notes["setup"] = (
        f"ro-root {setup['ro-root'].show(digits=2)}, overlayroot "
        f"{setup['overlayroot'].show(digits=2)}; one-sided Mann-Whitney U p="
        f"{rank_test_p(ro_setup, [v / 2 for v in ol_setup], 'less'):.3f} that ro-root's is "
        "below half of overlayroot's; /proc/uptime counts hundredths"
    )
    if forky:
        fs = spreads(forky)
        notes["forky"] = (
            f"ro-root {fs['ro-root'].show(digits=2)}, rd.overlay {fs['rd.overlay'].show(digits=2)}"
        )
    runs = results["exec_seconds"]
    notes["exec"] = f"{len(runs)} runs in one boot: " + ", ".join(f"{r:.2f}" for r in runs) + " s"
    keys = {3: "boot", 4: "build", 5: "hook", 7: "exec"}
    noted = []
    for row in rows:
        if row.number == 2:
            key = "klibc" if "klibc" in row.what else "busybox"
        elif row.number == 6:
            key = "forky" if "forky" in row.what else "setup"
        else:
            key = keys.get(row.number, "")
        if row.note or key not in notes:
            noted.append(row)
        else:
            noted.append(dataclasses.replace(row, note=notes[key]))
    return noted


def _variant_rows(results: Mapping[str, Any]) -> str:
    boot_time = spreads(results["boot_seconds"])
    hook = spreads(results["hook_seconds"])
    own_hook = spreads(results["hook_own_seconds"])
    setup = spreads(results["setup_seconds"])
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
                setup[v].show(digits=2) if v in setup else "",
            )
        )
    return markdown_table(
        (
            "variant",
            "root seen by the guest (every boot)",
            "bytes written to the root disk, total (per boot)",
            "image sha256",
            "initrd, compressed (growth)",
            "boot to multi-user: median (min to max, n)",
            "ratio to plain",
            "boots with systemd-fsck-root",
            "start jobs running for seconds (boots)",
            "`update-initramfs -u`: median (min to max, n)",
            "added",
            "its own hook's run time in it",
            "setup time in the initrd: median (min to max, n)",
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


def _growth(results: Mapping[str, Any]) -> list[str]:
    """Initrd growth on the klibc-only and the busybox image, and what the targets allow."""
    rows = []
    for flavour in FLAVOURS:
        g = results["growth"][flavour]
        rows.append(
            (
                flavour,
                g["compressor"],
                fmt_kib(g["compressed"]),
                fmt_kib(g["uncompressed"]),
                f"{fmt_kib(g['module'])} (`{g['module_path'].rsplit('/', 1)[-1]}`)",
                (
                    f"{fmt_kib(g['blockdev'])} ("
                    + ", ".join(f"`{p}`" for p in g["blockdev_paths"])
                    + ")"
                )
                if g["blockdev_paths"]
                else "none added",
                fmt_kib(g["own_files_compressed"]),
            )
        )
    return [
        "## Initrd growth",
        "",
        "ro-root's initrd against plain's, each made from the same base image: the klibc-only "
        "one (bookworm minbase without busybox; prepared, not booted) and the busybox one of "
        "the boots.",
        "",
        markdown_table(
            (
                "image",
                "compressor",
                "growth, compressed",
                "growth, uncompressed",
                "overlay module, compressed",
                "blockdev added, compressed",
                "ro-root's own files, compressed",
            ),
            rows,
        ),
        "How these are counted. *Compressed* growth is the size of ro-root's initrd file "
        "minus plain's: the whole archive compressed as mkinitramfs compresses it. "
        "*Uncompressed* growth is the sum of the sizes of the files in ro-root's archive minus "
        "plain's (`lsinitramfs -l`). The target's parts are compressed the same way, each file "
        "on its own: the overlay module and the `blockdev` that ro-root's hook added (taken out "
        "of ro-root's initrd with `unmkinitramfs`) and ro-root's own files, each run through "
        "the initrd's own compressor (read from the initrd's first bytes) as mkinitramfs runs "
        "it without a COMPRESSLEVEL (gzip: `gzip -n`, zstd: `zstd -q -9`). These minbase "
        "images have no `zstd` program, so mkinitramfs falls back from their COMPRESS=zstd to "
        "gzip. A file compressed alone is a little larger than its share of the "
        "compressed archive, so the budget is generous by a few hundred bytes per file; the "
        "8 KiB is for everything else, ro-root's own files included. The klibc-only target "
        "counts blockdev (klibc has none); with busybox present, busybox's serves.",
        "",
    ]


def _setup(results: Mapping[str, Any]) -> list[str]:
    """Setup time in the initrd: ro-root against overlayroot, and on forky against rd.overlay."""
    setup = spreads(results["setup_seconds"])
    lines = [
        "## Setup time in the initrd",
        "",
        "ro-root's is the `setup_seconds` its boot step records in `/run/ro-root/settings` "
        "(`ro-root status` shows it): from the start of the step to the record, read from "
        "`/proc/uptime` with shell builtins. overlayroot's is measured the same way by "
        "`bench/timers/init-bottom-timer`, which the bench's timer package puts in place of "
        "overlayroot's init-bottom script in that image's initrd: it reads `/proc/uptime` "
        "before and after running the real script and leaves the times in `/run`, where the "
        "probe finds them (the timer, about 1 KiB, is in overlayroot's initrd growth "
        "above). Both come from the alternating boots above "
        f"(`/proc/uptime` counts hundredths of a second): ro-root {setup['ro-root'].show(digits=2)}"
        f", overlayroot {setup['overlayroot'].show(digits=2)}.",
        "",
    ]
    forky = results.get("forky_setup_seconds")
    if forky:
        fs = spreads(forky)
        boot = spreads(results["forky_boot_seconds"])
        hooks = ", ".join(
            f"`{h.rsplit('/', 2)[-2]}/{h.rsplit('/', 1)[-1]}`"
            for h in results.get("forky_rd_overlay_hooks", [])
        )
        lines += [
            "On Debian 14 (forky) with dracut (a minbase with systemd, no busybox, generic "
            "initrds), two images of the same base: **rd.overlay**, dracut's own module "
            '70overlayfs (`add_dracutmodules+=" overlayfs "`, booted with `rd.overlay=1`: '
            "a tmpfs upper layer), and **ro-root** with its dracut module. "
            f"{results['forky_boots']} alternating boots of each. rd.overlay's time is the "
            "span between the bench's dracut hooks `0rrbench-t0.sh` and `rrbench-t1.sh` "
            "(`bench/timers/dracut/`), summed over the two hook points where 70overlayfs acts "
            f"(pre-mount and pre-pivot). The initrd's hooks there: {hooks}.",
            "",
            markdown_table(
                (
                    "variant",
                    "setup time: median (min to max, n)",
                    "boot to multi-user",
                    "system state (every boot)",
                    "bytes written to the root disk, total",
                ),
                [
                    (
                        v,
                        fs[v].show(digits=2),
                        boot[v].show(),
                        results.get("forky_observed", {}).get(v, "?"),
                        f"{sum(results.get('forky_wr_bytes', {}).get(v, [])):,}",
                    )
                    for v in fs
                ],
            ),
        ]
    else:
        lines += [
            "On forky (dracut), ro-root against dracut's rd.overlay: **not measured**. "
            f"{results.get('forky_missing', '')}",
            "",
        ]
    return lines


def _exec(results: Mapping[str, Any]) -> list[str]:
    runs = results["exec_seconds"]
    return [
        "## A no-op maintenance window",
        "",
        f"`ro-root exec true`, {len(runs)} times in one boot of the ro-root image (the probe's "
        "task `bench-exec`, once the system has settled; each timed with `date +%s.%N` "
        "around it), after the boots whose disk writes are counted (a window writes to the "
        f"real root): {Spread.of(runs).show(digits=2)}; per run: "
        + ", ".join(f"{r:.2f} s" for r in runs)
        + ".",
        "",
    ]


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
    met = sum(t.verdict == "met" for t in rows)
    unclear = sum(t.verdict == "inconclusive" for t in rows)
    unmeasured = sum(t.verdict == "not measured" for t in rows)
    own = results["own_files"]
    boot_tests = boot_rank_tests(results["boot_seconds"], BOOT_LIMIT)
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
        "Besides those, for initrd growth, a plain and a ro-root image of the same minbase "
        "without busybox (a klibc-only initrd), and for setup time on Debian 14, a forky image "
        "with dracut's own rd.overlay and one with ro-root (sections below).",
        "",
        f"**{met} of {len(rows)} targets met"
        + (f", {unclear} inconclusive" if unclear else "")
        + (f", {unmeasured} not measured" if unmeasured else "")
        + ".** A target missed is a finding, kept here as measured. Each is judged as the "
        "table's target says; where the target compares medians, the note gives the spread.",
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
        "Target 3 is judged by rank tests rather than by overlapping ranges: one-sided "
        f"Mann-Whitney U tests (scipy) at {ALPHA:g}, of ro-root's boot times against plain's "
        f"multiplied by {1 + BOOT_LIMIT:g} (is ro-root's boot within +{BOOT_LIMIT:.0%}?) and "
        "against overlayroot's. Each claim is 'yes' when the test in its favour is "
        "significant, 'no' when the opposite one is, and 'unclear' otherwise; the target is "
        "met when both are 'yes', missed when one is 'no', inconclusive otherwise. This run: "
        + ", ".join(f"{k.replace('_', ' ')} p={v:.3f}" for k, v in boot_tests.items())
        + ".",
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
        *_growth(results),
        *_setup(results),
        *_exec(results),
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
        "The run is meant to hold the machine's VM lock throughout (`flock "
        "/tmp/ro-root-vm.lock make bench`), so that no other VM of this machine's tests runs "
        "at the same time; the run itself checks nothing of the kind: the load averages above "
        "are the evidence. Under TCG boot times vary by several percent from boot to boot: "
        "read the ranges and the rank tests, not only the medians.",
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

    colors = {
        "plain": "#999999",
        "overlayroot": "#d95f02",
        "ro-root": "#1b9e77",
        "rd.overlay": "#7570b3",
    }
    fig, grid = plt.subplots(2, 4, figsize=(16, 7), dpi=80)
    axes = grid.flatten()
    axes[7].axis("off")
    axes[7].text(
        0,
        0.5,
        f"{results['date']}\n{results['machine']['cpu']}\nqemu TCG, {results['boots']} boots "
        f"per variant\ncommit {results['commit']}",
        fontsize=10,
        va="center",
    )
    names = list(VARIANTS)

    def boxes(ax: Any, data: Mapping[str, list[float]], title: str) -> None:
        labels = list(data)
        ax.boxplot([data[k] for k in labels])
        ax.set_xticks(range(1, len(labels) + 1), labels)
        for i, label in enumerate(labels, start=1):
            values = data[label]
            ax.scatter([i] * len(values), values, s=10, color=colors[label], zorder=3)
        ax.set_title(title)

    boxes(axes[0], {v: results["boot_seconds"][v] for v in names}, "boot to multi-user (s)")
    ax = axes[1]
    written = [sum(results["wr_bytes"][v]) / 1024**2 for v in names]
    ax.bar(names, written, color=[colors[v] for v in names])
    ax.set_title(f"MiB written to root, {results['boots']} boots")
    for i, value in enumerate(written):
        ax.annotate(f"{value:.2f}", (i, value), ha="center", va="bottom")
    ax = axes[2]
    labels, grown, budget = [], [], []
    for flavour in FLAVOURS:
        g = growths(results)[flavour]
        labels.append(flavour)
        grown.append(g.compressed / 1024)
        budget.append(g.budget(flavour == "klibc") / 1024)
    ax.bar(labels, grown, color=colors["ro-root"], label="growth")
    ax.scatter(labels, budget, marker="_", s=600, color="black", zorder=3, label="target")
    ax.set_title("ro-root's initrd growth, compressed (KiB)")
    ax.legend(fontsize=8)
    for i, value in enumerate(grown):
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
    blabels = list(build)
    ax.barh(blabels, [build[k].median for k in blabels], color="#7570b3")
    ax.set_title("package build, median (s)")
    ax.tick_params(axis="y", labelsize=8)
    boxes(axes[5], dict(results["setup_seconds"]), "setup time in the initrd (s)")
    forky = results.get("forky_setup_seconds")
    if forky:
        boxes(axes[6], dict(forky), "forky (dracut): setup time in the initrd (s)")
    else:
        axes[6].axis("off")
        axes[6].text(0, 0.5, "forky (dracut): not measured", fontsize=10, va="center")
    # ro-root exec true: on the text panel's side, as a small inset would crowd it.
    runs = results["exec_seconds"]
    axes[7].text(0, 0.15, f"ro-root exec true: {Spread.of(runs).show(digits=2)}", fontsize=10)
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
