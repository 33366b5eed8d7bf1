"""A full reconciliation (SYNC_MODE=full), end to end against the emulators: it corrects drift the incremental
run never sees, on its own state items, guarded like every window."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

import boto3
import pytest

from bamboohr_moodle_sync import cli
from bamboohr_moodle_sync.models import SETTLE_S
from bamboohr_moodle_sync.state import FULL_PREFIX, StateStore, Watermark
from tests.aws import REGION
from tests.world import World

FULL = {"SYNC_MODE": "full"}
INITIAL_SINCE = "1970-01-01T00:00:00Z"  # the default: a full window is always this one


@pytest.fixture
def synced(world: World) -> tuple[World, list[str]]:
    """Twelve employees, drained by incremental runs until their window settled (the next one lists nobody)."""
    ids = world.bamboohr.emulator.seed(12)
    world.drain()
    world.bamboohr.emulator.advance(SETTLE_S)
    world.drain()
    return world, ids


def full_store() -> StateStore:
    """The full run's own items, in the world's table."""
    return StateStore(boto3.client("dynamodb", region_name=REGION), os.environ["STATE_TABLE"], prefix=FULL_PREFIX)


def drain_full(world: World, max_batches: int = 50, **env: str) -> None:
    """Run full-mode batches until the full run's own watermark says its window is finished."""
    for _ in range(max_batches):
        run = world.run_batch(**FULL, **env)
        assert run.exit_code == 0, run.stderr
        watermark = full_store().read_watermark()
        if watermark is None or watermark.offset == 0:
            return
    raise AssertionError(f"full window not drained in {max_batches} batches")


def account_of(world: World, employee_id: str) -> dict[str, object]:
    (account,) = world.moodle.emulator.users_by_idnumber(employee_id)
    return account


def rename_by_hand(world: World, employee_id: str) -> None:
    world.moodle.emulator.edit_user(int(str(account_of(world, employee_id)["id"])), firstname="Renamed")


def test_a_name_edited_in_moodle_is_corrected_by_a_full_run_and_not_by_an_incremental_one(
    synced: tuple[World, list[str]],
) -> None:
    world, ids = synced
    rename_by_hand(world, ids[0])
    world.drain()
    assert account_of(world, ids[0])["firstname"] == "Renamed"
    drain_full(world)
    assert world.active_accounts() == world.expected_accounts()


def test_a_leaver_reactivated_by_hand_is_suspended_again_by_a_full_run_only(synced: tuple[World, list[str]]) -> None:
    world, ids = synced
    world.bamboohr.emulator.terminate(ids[1])
    world.drain()
    world.bamboohr.emulator.advance(SETTLE_S)
    world.drain()
    world.moodle.emulator.edit_user(int(str(account_of(world, ids[1])["id"])), suspended=False)
    world.drain()
    assert not account_of(world, ids[1])["suspended"]
    drain_full(world)
    assert account_of(world, ids[1])["suspended"]


def test_an_account_whose_employee_bamboohr_no_longer_has_is_suspended_by_a_full_run_only(
    synced: tuple[World, list[str]],
) -> None:
    world, _ = synced
    world.moodle.emulator.add_user("gone", idnumber="999999", email="gone@acme.test")
    world.drain()
    assert not account_of(world, "999999")["suspended"]
    drain_full(world)
    assert account_of(world, "999999")["suspended"]


def test_an_account_without_an_idnumber_or_of_another_auth_is_left_alone_by_a_full_run(
    synced: tuple[World, list[str]],
) -> None:
    world, _ = synced
    world.moodle.emulator.add_user("teacher")
    world.moodle.emulator.add_user("student", idnumber="S-1", auth="nologin")
    drain_full(world)
    assert not world.moodle.emulator.user_by_username("teacher")["suspended"]  # type: ignore[index]
    assert not world.moodle.emulator.user_by_username("student")["suspended"]  # type: ignore[index]


def test_a_full_run_leaves_the_incremental_watermark_where_it_was(synced: tuple[World, list[str]]) -> None:
    world, ids = synced
    rename_by_hand(world, ids[0])
    before = world.watermark
    drain_full(world)
    after = world.watermark
    assert before is not None and after is not None
    assert (after.since, after.offset, after.version) == (before.since, before.offset, before.version)


def test_a_full_run_keeps_its_own_watermark_and_starts_over_when_done(synced: tuple[World, list[str]]) -> None:
    world, _ = synced
    drain_full(world)
    assert full_store().read_watermark() == Watermark(INITIAL_SINCE, 0)


def test_a_full_run_interrupted_at_a_batch_resumes_at_its_own_offset_to_the_same_end_state(
    synced: tuple[World, list[str]],
) -> None:
    world, ids = synced
    for employee_id in ids[:6]:
        rename_by_hand(world, employee_id)
    assert world.run_batch(BATCH_SIZE="4", **FULL).exit_code == 0
    failed = world.run_batch(BATCH_SIZE="4", MOODLE_URL="http://127.0.0.1:9", **FULL)
    assert failed.exit_code == 1
    assert full_store().read_watermark() == Watermark(INITIAL_SINCE, 4)
    drain_full(world, BATCH_SIZE="4")
    assert world.active_accounts() == world.expected_accounts()


def test_the_suspension_guard_stops_a_full_run_that_would_suspend_too_many(synced: tuple[World, list[str]]) -> None:
    world, _ = synced
    for n in range(3):
        world.moodle.emulator.add_user(f"gone{n}", idnumber=f"99999{n}", email=f"gone{n}@acme.test")
    stopped = world.run_batch(MAX_SUSPENSIONS="2", MAX_SUSPENSIONS_PERCENT="0", **FULL)
    assert stopped.exit_code == 3
    assert not any(account_of(world, f"99999{n}")["suspended"] for n in range(3))


def test_a_full_run_keeps_a_sample_of_the_employee_ids_it_corrected_per_kind(synced: tuple[World, list[str]]) -> None:
    world, ids = synced
    rename_by_hand(world, ids[0])
    world.moodle.emulator.add_user("gone", idnumber="999999", email="gone@acme.test")
    drain_full(world)
    samples = full_store().read_samples(INITIAL_SINCE)
    assert samples == {"updated": [ids[0]], "suspended": ["999999"]}


def status(world: World) -> dict[str, Any]:
    world.capture.readouterr()
    assert cli.main(["status", "--json"]) == 0
    answer: dict[str, Any] = json.loads(world.capture.readouterr().out)
    return answer


def test_status_shows_a_full_run_under_way_beside_the_incremental_watermark(synced: tuple[World, list[str]]) -> None:
    world, _ = synced
    assert world.run_batch(BATCH_SIZE="5", **FULL).exit_code == 0
    shown = status(world)
    assert shown["full_run"]["window"] == {"frozen": True, "entries": 12, "done": 5}
    assert shown["full_run"]["counters"]["batches"] == 1
    assert shown["watermark"]["offset"] == 0


def test_status_shows_no_full_run_before_one_ran(synced: tuple[World, list[str]]) -> None:
    world, _ = synced
    assert status(world)["full_run"] is None


def test_a_future_hire_is_created_by_the_full_run_of_the_day_it_is_due_without_any_change_in_bamboohr(
    world: World,
) -> None:
    world.monkeypatch.setenv("PROVISION_DAYS_BEFORE_START", "3")
    start = world.today() + timedelta(days=10)
    ada = world.bamboohr.emulator.hire(
        firstName="Ada", lastName="Tester", workEmail="ada@acme.test", status="Inactive", hireDate=start.isoformat()
    )
    world.drain()
    world.advance_days(6)  # the day before the due day: nothing in BambooHR changes from here on
    world.drain()
    drain_full(world)
    assert world.moodle.emulator.users_by_idnumber(ada) == []
    world.advance_days(1)  # the due day
    world.drain()
    assert world.moodle.emulator.users_by_idnumber(ada) == [], "the change list does not list her again"
    drain_full(world)
    assert not account_of(world, ada)["suspended"]


def test_a_full_run_the_guard_stopped_names_approve_full_which_lets_exactly_it_through(
    synced: tuple[World, list[str]],
) -> None:
    world, _ = synced
    world.monkeypatch.setenv("MAX_SUSPENSIONS", "2")
    world.monkeypatch.setenv("MAX_SUSPENSIONS_PERCENT", "0")
    for n in range(3):
        world.moodle.emulator.add_user(f"gone{n}", idnumber=f"99999{n}", email=f"gone{n}@acme.test")
    stopped = world.run_batch(**FULL)
    assert stopped.exit_code == 3
    assert "approve --full --yes" in stopped.stderr
    before = world.watermark
    world.capture.readouterr()
    assert cli.main(["approve", "--full", "--yes"]) == 0
    drain_full(world)
    assert all(account_of(world, f"99999{n}")["suspended"] for n in range(3))
    after = world.watermark
    assert before is not None and after is not None and (after, after.version) == (before, before.version)


def test_approving_a_stopped_full_run_keeps_the_approval_of_a_stopped_incremental_window(world: World) -> None:
    world.monkeypatch.setenv("MAX_SUSPENSIONS", "5")
    world.monkeypatch.setenv("MAX_SUSPENSIONS_PERCENT", "0")
    leavers = world.leavers_after_a_first_window(settled=True)
    assert world.run_batch().exit_code == 3, "six leavers stop the incremental window"
    assert world.run_batch(**FULL).exit_code == 3, "and the full run, which sees them too"
    world.capture.readouterr()
    assert cli.main(["approve", "--yes"]) == 0
    assert cli.main(["approve", "--full", "--yes"]) == 0
    world.drain()
    assert all(account_of(world, employee_id)["suspended"] for employee_id in leavers)
    drain_full(world)
