"""One Moodle emulator server per test module, with a fresh, empty site for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bamboohr_moodle_sync.local.moodle.emulator import RunningMoodle, running_moodle


@pytest.fixture(scope="module")
def served() -> Iterator[RunningMoodle]:
    with running_moodle() as running:
        yield running


@pytest.fixture
def moodle(served: RunningMoodle) -> RunningMoodle:
    return served.fresh()
