"""Where the next window starts: ``ChangeList.next_since`` (whole-second timestamps, a possibly inclusive since)."""

from __future__ import annotations

import pytest

from bamboohr_moodle_sync.models import SETTLE_S, Change, ChangeList

LATEST = "2026-01-05T09:00:00Z"


def change_list(read_at: str | None) -> ChangeList:
    return ChangeList(LATEST, [Change(LATEST, "7", "Updated")], read_at)


def test_a_list_read_long_after_its_latest_second_starts_the_next_window_one_second_later() -> None:
    assert SETTLE_S == 120
    assert change_list("2026-01-05T09:02:00Z").next_since() == "2026-01-05T09:00:01Z"


@pytest.mark.parametrize("read_at", ["2026-01-05T09:00:00Z", "2026-01-05T09:01:59Z", None])
def test_a_list_read_within_the_settle_time_or_undated_starts_the_next_window_at_latest(read_at: str | None) -> None:
    assert change_list(read_at).next_since() == LATEST


def test_an_empty_list_has_no_next_since() -> None:
    assert ChangeList(None, [], "2026-01-05T09:02:00Z").next_since() is None
