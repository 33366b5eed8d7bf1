"""Owned cohorts end to end: the batch task's memberships in the emulated Moodle after loads, movers, leavers,
a department rename that trips the guard, and a hand-made cohort that is never touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bamboohr_moodle_sync import cli
from bamboohr_moodle_sync.cohorts import REQUIRED_FUNCTIONS
from bamboohr_moodle_sync.local.moodle.functions import CALLS
from tests.world import World

MAPPING = """
[cohorts]
department = "Department: {value}"
location = "Location: {value}"

[cohort_settings]
leavers = "LEAVERS"
"""
WRITES = ("core_cohort_create_cohorts", "core_cohort_add_cohort_members", "core_cohort_delete_cohort_members")


def configure(world: World, tmp_path: Path, leavers: str = "keep") -> None:
    path = tmp_path / "mapping.toml"
    path.write_text(MAPPING.replace("LEAVERS", leavers), encoding="utf-8")
    world.monkeypatch.setenv("MAPPING_FILE", str(path))


@pytest.fixture
def mapped(world: World, tmp_path: Path) -> World:
    configure(world, tmp_path)
    return world


def hire(world: World, name: str, department: str = "Sales", location: str = "London") -> str:
    return world.bamboohr.emulator.hire(
        firstName=name, lastName="Lee", workEmail=f"{name.lower()}@acme.test", department=department, location=location
    )


def memberships(world: World) -> dict[str, set[str]]:
    """Cohort name -> the idnumbers of its members (an account without one by its username)."""
    moodle = world.moodle.emulator
    users = {u["id"]: u["idnumber"] or u["username"] for u in moodle.users()}
    return {c["name"]: {users[i] for i in moodle.cohort_members(c["id"])} for c in moodle.cohorts()}


def hand_made_cohort(world: World) -> int:
    """A cohort made by hand (no bamboohr: prefix) with a hand-added member."""
    moodle = world.moodle.emulator
    cohort = moodle.add_cohort("Mentors", "mentors")
    bob = moodle.add_user("bob.mentor")
    moodle.add_cohort_member(cohort, bob)
    return cohort


def test_a_first_load_puts_everyone_in_their_department_and_location_cohorts(mapped: World) -> None:
    ann, ben, cat = hire(mapped, "Ann"), hire(mapped, "Ben", "Ops"), hire(mapped, "Cat", "Ops", "Dublin")
    hire(mapped, "Dee", department="")  # an empty value: in none of that rule's cohorts
    dee = mapped.bamboohr.emulator.employees()[-1]["id"]
    hand_made_cohort(mapped)
    mapped.drain()
    assert memberships(mapped) == {
        "Mentors": {"bob.mentor"},
        "Department: Sales": {ann},
        "Department: Ops": {ben, cat},
        "Location: London": {ann, ben, dee},
        "Location: Dublin": {cat},
    }
    idnumbers = {c["name"]: c["idnumber"] for c in mapped.moodle.emulator.cohorts()}
    assert idnumbers["Department: Ops"] == "bamboohr:department:Ops"


def test_a_first_load_reads_the_cohort_list_once_a_window_not_once_a_batch(mapped: World) -> None:
    team = [hire(mapped, name) for name in ("Ann", "Ben", "Cat", "Dan", "Eve", "Fay")]
    mapped.drain(BATCH_SIZE="2")
    assert mapped.moodle.emulator.call_count("core_cohort_get_cohorts") == 1  # the guard's, in the first batch
    assert memberships(mapped) == {"Department: Sales": set(team), "Location: London": set(team)}


def test_a_cohort_first_needed_by_a_later_batch_of_a_first_load_is_created_and_filled(mapped: World) -> None:
    ann, ben = hire(mapped, "Ann"), hire(mapped, "Ben")
    cat, dan = hire(mapped, "Cat", "Ops"), hire(mapped, "Dan", "Ops", "Dublin")
    mapped.drain(BATCH_SIZE="2")
    assert memberships(mapped) == {
        "Department: Sales": {ann, ben},
        "Department: Ops": {cat, dan},
        "Location: London": {ann, ben, cat},
        "Location: Dublin": {dan},
    }
    counters = mapped.store.read_counters("1970-01-01T00:00:00Z")  # the first window's
    assert (counters["cohort_added"], counters["failed"]) == (8, 0)


def test_a_second_pass_makes_no_cohort_write(mapped: World) -> None:
    ann = hire(mapped, "Ann")
    mapped.drain()
    before = {name: mapped.moodle.emulator.call_count(name) for name in WRITES}
    mapped.bamboohr.emulator.advance(60)
    mapped.bamboohr.emulator.update(ann, homeEmail="ann@home.example")
    mapped.drain()
    assert {name: mapped.moodle.emulator.call_count(name) for name in WRITES} == before


def test_a_mover_leaves_the_old_department_s_cohort_and_joins_the_new_one(mapped: World) -> None:
    ann, ben = hire(mapped, "Ann"), hire(mapped, "Ben")
    mentors = hand_made_cohort(mapped)
    mapped.drain()
    mapped.moodle.emulator.add_cohort_member(mentors, mapped.moodle.emulator.users_by_idnumber(ann)[0]["id"])
    mapped.bamboohr.emulator.advance(60)
    mapped.bamboohr.emulator.update(ann, department="Ops")
    mapped.drain()
    found = memberships(mapped)
    assert (found["Department: Sales"], found["Department: Ops"]) == ({ben}, {ann})
    assert found["Mentors"] == {"bob.mentor", ann}


@pytest.mark.parametrize(("leavers", "kept"), [("keep", True), ("remove", False)])
def test_a_leaver_keeps_or_loses_owned_memberships_as_the_setting_says(
    world: World, tmp_path: Path, leavers: str, kept: bool
) -> None:
    configure(world, tmp_path, leavers)
    ann, ben = hire(world, "Ann"), hire(world, "Ben")
    world.drain()
    world.bamboohr.emulator.advance(60)
    world.bamboohr.emulator.terminate(ann)
    world.drain()
    assert world.moodle.emulator.users_by_idnumber(ann)[0]["suspended"]
    found = memberships(world)
    assert found["Department: Sales"] == ({ann, ben} if kept else {ben})
    assert found["Location: London"] == ({ann, ben} if kept else {ben})


def test_a_department_rename_over_the_guard_stops_before_removing_anyone_until_lifted(mapped: World) -> None:
    team = [hire(mapped, name) for name in ("Ann", "Ben", "Cat")]
    hand_made_cohort(mapped)
    mapped.drain()
    before = memberships(mapped)
    mapped.bamboohr.emulator.advance(60)
    for employee_id in team:
        mapped.bamboohr.emulator.update(employee_id, department="Revenue")
    watermark = mapped.watermark
    run = mapped.run_batch(MAX_COHORT_REMOVALS="2")
    assert run.exit_code == 3
    assert "would remove 3 members" in run.stderr and "'Department: Sales' 3" in run.stderr
    assert "ALLOW_COHORT_REMOVALS" in run.stderr
    assert "bamboohr-moodle-sync approve --yes" in run.stderr, "the way to let exactly this window through"
    assert watermark is not None
    stop = mapped.store.read_guard_stop(watermark.since)
    assert stop is not None and stop in run.stderr, "kept for the state machine's failure report"
    assert memberships(mapped) == before
    assert mapped.watermark == watermark

    mapped.drain(MAX_COHORT_REMOVALS="2", ALLOW_COHORT_REMOVALS="1")
    after = memberships(mapped)
    assert (after["Department: Sales"], after["Department: Revenue"]) == (set(), set(team))
    assert after["Mentors"] == {"bob.mentor"}
    assert "Department: Sales" in {c["name"] for c in mapped.moodle.emulator.cohorts()}, "never deleted"


def test_preview_shows_the_cohort_guard_and_approve_lets_exactly_that_window_through(mapped: World) -> None:
    team = [hire(mapped, name) for name in ("Ann", "Ben", "Cat")]
    mapped.drain()
    mapped.bamboohr.emulator.advance(60)
    for employee_id in team:
        mapped.bamboohr.emulator.update(employee_id, department="Revenue")
    assert mapped.run_batch(MAX_COHORT_REMOVALS="2").exit_code == 3
    mapped.monkeypatch.setenv("MAX_COHORT_REMOVALS", "2")
    mapped.capture.readouterr()
    cli.main(["preview", "--json"])
    guard = json.loads(mapped.capture.readouterr().out)["summary"]["guard"]
    assert guard["would_stop"] is True
    assert guard["cohort_removals"] == {
        "would_stop": True,
        "would_remove": 3,
        "limit": 2,
        "approved": False,
        "from": {"Department: Sales": 3},
    }
    assert cli.main(["approve", "--yes"]) == 0
    mapped.drain()
    assert memberships(mapped)["Department: Revenue"] == set(team)


def test_a_rename_below_the_guard_moves_everyone_and_counts_the_window(mapped: World) -> None:
    team = [hire(mapped, name) for name in ("Ann", "Ben")]
    mapped.drain()
    since = mapped.watermark.since if mapped.watermark else ""
    mapped.bamboohr.emulator.advance(180)
    for employee_id in team:
        mapped.bamboohr.emulator.update(employee_id, department="Revenue")
    mapped.drain()
    counters = mapped.store.read_counters(since)
    assert (counters["cohort_added"], counters["cohort_removed"]) == (2, 2)
    assert memberships(mapped)["Department: Revenue"] == set(team)


def test_a_cohort_name_follows_its_template(mapped: World, tmp_path: Path) -> None:
    ann = hire(mapped, "Ann")
    mapped.drain()
    path = tmp_path / "renamed.toml"
    path.write_text(MAPPING.replace("LEAVERS", "keep").replace("Department: {value}", "Dept {value}"), encoding="utf-8")
    mapped.bamboohr.emulator.advance(60)
    mapped.bamboohr.emulator.update(ann, homeEmail="ann@home.example")
    mapped.drain(MAPPING_FILE=str(path))
    assert memberships(mapped)["Dept Sales"] == {ann}


def test_a_token_without_a_cohort_function_fails_with_exit_2_naming_it(mapped: World) -> None:
    allowed = set(CALLS) - {"core_cohort_delete_cohort_members"}
    mapped.moodle.emulator.add_token("limited" + "0" * 25, allowed)
    hire(mapped, "Ann")
    run = mapped.run_batch(MOODLE_TOKEN="limited" + "0" * 25)
    assert run.exit_code == 2
    assert "core_cohort_delete_cohort_members" in run.stderr
    assert mapped.moodle.emulator.users() == []
    assert set(REQUIRED_FUNCTIONS) <= set(CALLS)


def test_without_a_cohorts_section_no_cohort_call_is_made(world: World) -> None:
    hire(world, "Ann")
    world.drain()
    assert sum(world.moodle.emulator.call_count(name) for name in CALLS if "cohort" in name) == 0
