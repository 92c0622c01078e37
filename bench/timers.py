"""The bench's timer packages: small .debs that make an image's initrd time someone else's boot
step, as ro-root's own boot times itself (setup_seconds).

- `initrd_timer_deb`: for an initramfs-tools image with overlayroot. Its hook
  (bench/timers/initrd-hook) puts bench/timers/init-bottom-timer in place of overlayroot's
  init-bottom script in the initrd, which then runs the real one between two reads of
  /proc/uptime.
- `dracut_timer_deb`: for a forky image with dracut's own rd.overlay. A dracut module
  (bench/timers/dracut/) that adds 70overlayfs to the initrd and brackets its hooks with two
  of its own.

Both record "NAME START END" lines in /run/ro-root-bench/times, which the probe reports as
the facts bench_times.N. The packages trigger update-initramfs, so that installing one
(testbed.images.prepare_image) builds the initrd with it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ro_root.proc import run

TIMERS = Path(__file__).resolve().parent / "timers"
VERSION = "1.0"


def _build(workdir: Path, name: str, files: dict[str, tuple[Path | bytes, int]]) -> Path:
    """The package NAME holding FILES (path: (source file or content, mode)), in WORKDIR."""
    root = workdir / name
    if root.exists():
        shutil.rmtree(root)
    for path, (source, mode) in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes() if isinstance(source, Path) else source)
        target.chmod(mode)
    control = root / "DEBIAN"
    control.mkdir()
    (control / "control").write_text(
        f"Package: {name}\nVersion: {VERSION}\nArchitecture: all\n"
        "Maintainer: ro-root bench <bench@example.org>\nSection: misc\nPriority: optional\n"
        "Description: ro-root make bench: times another boot step in the initrd\n"
    )
    (control / "triggers").write_text("activate-noawait update-initramfs\n")
    deb = workdir / f"{name}_{VERSION}_all.deb"
    run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, deb], capture=True)
    shutil.rmtree(root)
    return deb


def initrd_timer_deb(workdir: Path) -> Path:
    return _build(
        workdir,
        "ro-root-bench-initrd-timer",
        {
            "usr/lib/ro-root-bench/init-bottom-timer": (TIMERS / "init-bottom-timer", 0o755),
            "etc/initramfs-tools/hooks/ro-root-bench-timer": (TIMERS / "initrd-hook", 0o755),
        },
    )


def dracut_timer_deb(workdir: Path) -> Path:
    module = "usr/lib/dracut/modules.d/99ro-root-bench"
    return _build(
        workdir,
        "ro-root-bench-dracut-timer",
        {
            **{
                f"{module}/{p.name}": (p, 0o755)
                for p in sorted((TIMERS / "dracut").iterdir())
                if p.is_file()
            },
            "etc/dracut.conf.d/90-ro-root-bench.conf": (
                b'add_dracutmodules+=" overlayfs ro-root-bench "\n',
                0o644,
            ),
        },
    )
