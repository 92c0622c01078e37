"""vmtest.Steps without qemu: order, each step once, a failed step fails only who asks for it.

Not marked vm: it boots nothing, so the quick loop runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest
import vmtest

from ro_root.errors import UserError
from testbed import qemu


class Recorded(vmtest.Steps):
    def __init__(self, failing: str = "") -> None:
        super().__init__()
        self.ran: list[str] = []
        self.steps = [(name, self._step(name, failing)) for name in ("one", "two", "three")]

    def _step(self, name: str, failing: str) -> Callable[[], qemu.BootResult]:
        def step() -> qemu.BootResult:
            self.ran.append(name)
            if name == failing:
                raise UserError(f"boot {name} hung")
            return cast(qemu.BootResult, SimpleNamespace(name=name))

        return step


def name_of(result: qemu.BootResult) -> str:
    return str(cast(Any, result).name)


def test_a_later_step_runs_the_earlier_ones_first_and_each_only_once() -> None:
    steps = Recorded()
    assert name_of(steps("two")) == "two"
    assert steps.ran == ["one", "two"]
    assert name_of(steps("three")) == "three"
    assert name_of(steps("one")) == "one"
    assert steps.ran == ["one", "two", "three"]


def test_a_failed_step_fails_its_tests_but_not_the_later_steps() -> None:
    steps = Recorded(failing="two")
    with pytest.raises(pytest.fail.Exception, match="boot 'two' failed: boot two hung"):
        steps("two")
    assert name_of(steps("three")) == "three"
    with pytest.raises(pytest.fail.Exception, match="boot two hung"):
        steps("two")
    assert steps.ran == ["one", "two", "three"]


def test_an_unknown_step_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no step 'four'"):
        Recorded()("four")
