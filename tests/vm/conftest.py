"""Fixtures of the VM boot tests (pytest -m vm tests/vm): the host check and the .deb."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ro_root.proc import run
from testbed import images

RecordProperty = Callable[[str, Any], None]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def vm_host() -> None:
    """A host that cannot boot the images fails the VM tests loudly: never a skip."""
    problems = images.check_host()
    if problems:
        pytest.fail("VM tests cannot run on this host:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def drop_disk_images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """At the end of the run, the disk images in this process's basetemp are deleted; the
    serial logs stay. A full run's images take about 18 GB and pytest keeps the basetemps of
    the last 3 runs: with their images, a 4th run filled this machine's disk (ENOSPC).
    RO_ROOT_KEEP_IMAGES=1 keeps them, to look into a failure."""
    yield
    if os.environ.get("RO_ROOT_KEEP_IMAGES") == "1":
        return
    for image in tmp_path_factory.getbasetemp().rglob("*.img"):
        image.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def ro_root_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package under test: $RO_ROOT_DEB, or what `python3 build.py deb` builds now.

    Built into a directory of this test process: pytest-xdist workers build it each, and one
    must not replace the file another is reading.
    """
    given = os.environ.get("RO_ROOT_DEB")
    if given:
        path = Path(given).resolve()
        if not path.is_file():
            pytest.fail(f"RO_ROOT_DEB={given}: no such file", pytrace=False)
        return path
    out = tmp_path_factory.mktemp("dist")
    proc = run(
        [sys.executable, "build.py", "deb", "--out", out], check=False, capture=True, cwd=REPO
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        pytest.fail(
            f"python3 build.py failed (exit status {proc.returncode}):\n{proc.stderr.strip()}",
            pytrace=False,
        )
    path = Path(lines[-1])
    if not path.is_absolute():
        path = REPO / path
    if not path.is_file() or path.suffix != ".deb" or path.parent != out:
        pytest.fail(
            f"python3 build.py printed {lines[-1]!r}, not a .deb file in {out}", pytrace=False
        )
    return path


# --- fault-injection tests (docs/reliability.md is generated from their results) ---------


def pytest_itemcollected(item: pytest.Item) -> None:
    """Copy a test's @pytest.mark.fault(number, fault, expected=...) into the JUnit XML.

    At collection, not in a fixture: a test whose image fixture fails still has its row (as an
    error) in docs/reliability.md.
    """
    marker = item.get_closest_marker("fault")
    if marker is None:
        return
    number, fault = marker.args
    item.user_properties += [
        ("fault_number", str(number)),
        ("fault", fault),
        ("expected", marker.kwargs["expected"]),
    ]


@pytest.fixture
def observed(record_property: RecordProperty) -> Callable[[str], None]:
    """observed(TEXT): what this fault test saw, built from the guest's facts, for the table.

    Call it with measured values ("booted active; image sha256 unchanged; e2fsck clean"),
    never with a fixed sentence: the table must say what happened.
    """

    def record(text: str) -> None:
        record_property("observed", text)

    return record
