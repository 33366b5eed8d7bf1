"""The demo's world end to end: the demo mapping's cohorts and profile fields after one offline execution."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

from bamboohr_moodle_sync.local.pipeline.offline import HAND_MADE_COHORT, RENAMED_DEPARTMENT, Pipeline
from bamboohr_moodle_sync.local.pipeline.runner import cohorts_summary


def test_the_demo_reconciles_owned_cohorts_and_leaves_the_hand_made_one_alone(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    pipeline = make_pipeline(employees=200, batch_size=50)
    assert pipeline.moodle is not None and pipeline.bamboohr is not None
    site = pipeline.moodle.emulator
    mentors = next(c for c in site.cohorts() if c["idnumber"] == HAND_MADE_COHORT[1])
    mentors_before = site.cohort_members(mentors["id"])
    (chain,) = pipeline.follow_chain(pipeline.start(), timeout_s=240)
    assert chain["status"] == "SUCCEEDED"
    counters = json.loads(chain["output"])["counters"]
    assert counters["cohort_removed"] > 0 and counters["cohort_added"] > 0

    employees = {e["id"]: e for e in pipeline.bamboohr.emulator.employees()}
    users = {u["id"]: u for u in site.users()}
    owned = {
        c["idnumber"]: site.cohort_members(c["id"]) for c in site.cohorts() if c["idnumber"].startswith("bamboohr:")
    }
    for user in users.values():
        employee = employees.get(user["idnumber"])
        if employee is None:
            continue
        expected = set()
        if employee["status"] == "Active" and not user["suspended"]:
            expected = {f"bamboohr:{rule}:{employee[rule]}" for rule in ("department", "location") if employee[rule]}
        assert {i for i, members in owned.items() if user["id"] in members} == expected, user["idnumber"]
    assert owned[f"bamboohr:department:{RENAMED_DEPARTMENT[0]}"] == set(), "the renamed department's cohort is kept"
    assert site.cohort_members(mentors["id"]) == mentors_before
    shown = io.StringIO()
    shown.write(cohorts_summary(site))
    assert (
        f"Department: {RENAMED_DEPARTMENT[1]}" in shown.getvalue()
        and "not owned, left alone: Mentors 3" in shown.getvalue()
    )
