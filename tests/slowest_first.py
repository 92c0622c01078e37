"""A pytest plugin (setup.cfg: -p slowest_first): the slowest test modules run first.

`make check` runs the suite on two pytest-xdist workers, each taking whole modules
(`--dist loadfile`) in collection order. Longest first is what keeps both busy to the end:
a long VM module started last would leave one worker idle for its whole length. The order
comes from measured times (docs/testing-times.md); a module not listed runs after the
listed VM modules if it boots (it is likely slow), otherwise at the end. Within a module the
order of the tests is kept: the boots of a sequence depend on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# Slowest first, as measured (docs/testing-times.md).
SLOWEST_FIRST = (
    # arm64 under TCG, eight boots, two initrds rebuilt in the guest; on a cold cache the
    # base tarball is built through qemu-user first.
    "vm/test_boot_raspi_arm64.py",
    "vm/test_lifecycle.py",  # two images; apt-get remove rebuilds two initrds in the guest
    "vm/test_boot_forky_dracut.py",  # eight boots; two dracut rebuilds in the guest (issue 14)
    "vm/test_config.py",  # two images, ten boots
    "vm/test_on_device.py",  # two boots rebuild the initrd in the guest
    "vm/test_boot_uefi.py",  # GRUB installed offline, four UEFI boots, two in-guest rebuilds
    "vm/test_faults_power.py",  # two images, an offline upgrade
    "vm/test_faults_product.py",
    "vm/test_shared_core.py",  # an offline upgrade and three boots (issue 12)
    "vm/test_boot_bookworm.py",
    "vm/test_boot_bookworm_sysvinit.py",
    "vm/test_repo_image.py",
    "vm/test_boot_trixie.py",
    "vm/test_boot_busybox.py",
    "test_repo_chroot.py",
    "test_debconf_chroot.py",
    "test_lifecycle_chroot.py",
    "test_piuparts.py",
)
TESTS = Path(__file__).resolve().parent


def module_rank(path: Path) -> int:
    """Where the module at PATH runs: its place in SLOWEST_FIRST, unlisted VM modules after
    those, every other module last."""
    name = path.resolve().relative_to(TESTS).as_posix()
    if name in SLOWEST_FIRST:
        return SLOWEST_FIRST.index(name)
    return len(SLOWEST_FIRST) + (0 if name.startswith("vm/") else 1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # sort() is stable: each module's tests keep their order.
    items.sort(key=lambda item: module_rank(item.path))
