"""The suspension guard's limit grows with the company: max(MAX_SUSPENSIONS, MAX_SUSPENSIONS_PERCENT % of the
active accounts the sync manages)."""

from __future__ import annotations

from bamboohr_moodle_sync.guard import GuardVerdict, suspension_limit


def test_a_first_load_of_a_5000_employee_company_with_its_leavers_passes() -> None:
    limit = suspension_limit(50, 5, 4_500)  # the README's demo: 144 leavers among about 4,500 active employees
    assert not GuardVerdict([str(i) for i in range(144)], limit).would_stop


def test_a_feed_that_marks_a_tenth_of_the_company_inactive_stops() -> None:
    limit = suspension_limit(50, 5, 5_000)
    assert GuardVerdict([str(i) for i in range(500)], limit).would_stop


def test_a_small_company_keeps_the_fixed_limit() -> None:
    assert suspension_limit(50, 5, 200) == 50


def test_an_approved_window_does_not_stop() -> None:
    assert not GuardVerdict([str(i) for i in range(500)], 250, 5_000, approved=True).would_stop
