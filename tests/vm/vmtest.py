"""Helpers shared by the VM test modules: an ordered boot sequence, fstab parsing."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import pytest

from ro_root import vm
from ro_root.errors import UserError


class BootSequence:
    """Boots an image once per entry of BOOTS (name: extra kernel parameters), in order.

    Boots run on first demand: asking for a later boot runs the earlier ones first, so
    tests may rely on what earlier boots did to the disk (markers written, or not).

    A boot that fails is recorded and fails only the tests that ask for it, so a broken
    overlay boot does not hide whether the fallback boots work.
    """

    def __init__(
        self,
        image: vm.Image,
        boots: Mapping[str, Sequence[str]],
        hash_disk: Collection[str] = ("overlay",),
    ) -> None:
        self.image = image
        self.boots = boots
        # Hashing the 3 GB sparse disk takes about 5 s: only around the boots that need it.
        self.hash_disk = hash_disk
        self.outcomes: dict[str, vm.BootResult | str] = {}
        # sha256 of the disk image before and after each boot named in hash_disk
        self.disk_before: dict[str, str] = {}
        self.disk_after: dict[str, str] = {}

    def __call__(self, name: str) -> vm.BootResult:
        for step, append in self.boots.items():
            if step not in self.outcomes:
                if step in self.hash_disk:
                    self.disk_before[step] = vm.file_sha256(self.image.disk)
                try:
                    self.outcomes[step] = vm.boot(self.image, append)
                except UserError as exc:  # its message has the serial log's path and tail
                    self.outcomes[step] = str(exc)
                if step in self.hash_disk:
                    self.disk_after[step] = vm.file_sha256(self.image.disk)
            if step == name:
                break
        outcome = self.outcomes[name]
        if isinstance(outcome, str):
            pytest.fail(f"boot '{name}' failed: {outcome}", pytrace=False)
        return outcome


def fstab_entries(boot: vm.BootResult) -> list[list[str]]:
    """The guest's /etc/fstab lines that are in effect (not comments), split in fields."""
    return [
        line.split()
        for line in boot.numbered("fstab")
        if line.strip() and not line.lstrip().startswith("#")
    ]
