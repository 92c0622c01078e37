"""tests/report_faults.py: docs/reliability.md from JUnit XML, and every fault has a test."""

from __future__ import annotations

import ast
from pathlib import Path

import report_faults
from support import REPO

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.vm.test_x" name="test_cut">
 <properties><property name="fault_number" value="3"/><property name="fault" value="Cut"/>
 <property name="expected" value="identical"/><property name="observed" value="sha a|b"/>
 </properties></testcase>
<testcase classname="tests.vm.test_x" name="test_fill">
 <properties><property name="fault_number" value="1"/><property name="fault" value="Fill"/>
 <property name="expected" value="stays up"/></properties>
 <failure message="AssertionError: status said ok">trace</failure></testcase>
<testcase classname="tests.vm.test_x" name="test_plain"/>
</testsuite></testsuites>
"""


def test_rows_say_what_was_observed_and_failures_stay_failures(tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    junit.write_text(JUNIT)
    out = tmp_path / "r.md"
    assert report_faults.main([str(junit), str(out)]) == 0
    rows = [line for line in out.read_text().splitlines() if line.startswith("| ")][1:]
    assert rows[0].startswith("| 1 | Fill | stays up | FAILED: AssertionError: status said ok |")
    assert "| 2 | " in rows[1] and "| MISSING |" in rows[1]
    test = "`tests/vm/test_x.py::test_cut`"
    assert rows[2] == f"| 3 | Cut | identical | sha a\\|b | passed | {test} |"
    assert len(rows) == len(report_faults.FAULTS)
    assert "1 of 2 fault tests passed" in out.read_text()


def test_an_unreadable_report_is_one_error_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    assert report_faults.main([str(tmp_path / "missing.xml"), str(out)]) == 1
    assert not out.exists()


def _marked_faults() -> set[str]:
    """The numbers of every @pytest.mark.fault(N, ...) in tests/vm, read from the source."""
    numbers: set[str] = set()
    for path in (REPO / "tests" / "vm").glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "fault"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                numbers.add(str(node.args[0].value))
    return numbers


def test_every_fault_of_the_list_has_a_marked_test_and_no_other() -> None:
    assert _marked_faults() == set(report_faults.FAULTS)
