"""The batch task end to end: real HTTP to both emulators, moto for the state table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bamboohr_moodle_sync import http
from bamboohr_moodle_sync.batch import Batch
from bamboohr_moodle_sync.models import SETTLE_S
from bamboohr_moodle_sync.state import NO_WATERMARK, Snapshot, StateStore, Watermark
from tests.world import BatchRun, World

INITIAL = "1970-01-01T00:00:00Z"


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the transport's retries, with sub-second backoff so storms finish quickly."""
    fast = http.RetryPolicy(total_attempts=8, backoff_factor=0.01, backoff_max=0.05, backoff_jitter=0.0)
    original = http.make_session
    monkeypatch.setattr("bamboohr_moodle_sync.bamboohr.make_session", lambda **kw: original(fast, **kw))
    monkeypatch.setattr("bamboohr_moodle_sync.moodle.make_session", lambda **kw: original(fast, **kw))


def test_first_window_provisions_every_active_employee_exactly_once(world: World) -> None:
    world.bamboohr.emulator.seed(45)
    runs = world.drain()
    assert len(runs) == 5
    assert world.active_accounts() == world.expected_accounts()
    assert len({u["idnumber"] for u in world.moodle.emulator.users()}) == len(world.moodle.emulator.users())
    latest = max(e["lastChanged"] or "" for e in world.bamboohr.emulator.employees())
    assert world.watermark is not None and world.watermark.offset == 0
    assert world.watermark.since == latest.replace("+00:00", "Z")


def test_window_counters_add_up_to_the_change_list(world: World) -> None:
    world.bamboohr.emulator.seed(25)
    world.drain()
    counters = world.store.read_counters(INITIAL)
    outcomes = ("created", "updated", "suspended", "reactivated", "unchanged", "skipped", "failed")
    assert sum(counters[name] for name in outcomes) == counters["total"] == 25
    assert counters["batches"] == 3
    assert counters["created"] == len(world.active_accounts())


def test_the_same_batch_run_twice_changes_nothing_the_second_time(world: World) -> None:
    world.bamboohr.emulator.seed(15)
    first = world.run_batch(SINCE=INITIAL, OFFSET="0")
    accounts = world.moodle.emulator.users()
    again = world.run_batch(SINCE=INITIAL, OFFSET="0")
    assert (first.exit_code, again.exit_code) == (0, 0)
    assert "stale" in again.stderr
    assert world.moodle.emulator.users() == accounts
    assert world.watermark == Watermark(INITIAL, 10)
    assert world.store.read_counters(INITIAL)["batches"] == 1


def test_a_task_killed_before_its_commit_reaches_the_same_end_state_when_rerun(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.bamboohr.emulator.seed(15)
    with monkeypatch.context() as patch:
        patch.setattr(StateStore, "commit_batch", _killed)
        with pytest.raises(KeyboardInterrupt):
            world.run_batch()
    assert world.watermark is None
    assert world.moodle.emulator.users(), "the killed task had written to Moodle"
    world.drain()
    assert world.active_accounts() == world.expected_accounts()


def _killed(*args: object, **kwargs: object) -> None:
    raise KeyboardInterrupt  # what SIGINT/SIGTERM does to a Python process mid-run


def hire_known(world: World, **fields: str) -> str:
    values = {"firstName": "Ada", "lastName": "Lovelace", "workEmail": "ada@acme.test", "status": "Active"}
    values.update({"department": "Maths", "division": "R&D", **fields})
    return world.bamboohr.emulator.hire(**values)


def test_an_edit_made_while_a_backlog_drains_is_picked_up_by_the_next_window(world: World) -> None:
    ada = hire_known(world)
    world.bamboohr.emulator.seed(29)
    world.run_batch()  # batch 1 of 3: Ada is synced
    world.bamboohr.emulator.advance(60)
    world.bamboohr.emulator.update(ada, department="Edited During Drain")
    world.drain()
    assert world.store.read_counters(INITIAL)["total"] == 30, "the edit must not join the frozen window"
    assert world.moodle.emulator.users_by_idnumber(ada)[0]["department"] == "Maths"
    world.drain()
    assert world.moodle.emulator.users_by_idnumber(ada)[0]["department"] == "Edited During Drain"
    assert world.active_accounts() == world.expected_accounts()


def test_a_window_read_after_its_last_second_settled_leaves_the_next_run_nothing_to_do(world: World) -> None:
    world.bamboohr.emulator.seed(5)
    world.bamboohr.emulator.advance(SETTLE_S)
    world.drain()
    assert world.watermark is not None
    again = world.run_batch()
    assert (again.exit_code, again.stderr.strip()) == (0, f"batch empty: nothing changed since {world.watermark.since}")


def test_a_window_read_within_its_last_second_s_settle_time_lists_that_second_again(world: World) -> None:
    world.bamboohr.emulator.seed(5)
    world.drain()
    assert world.watermark is not None
    boundary = world.watermark.since
    world.bamboohr.emulator.advance(SETTLE_S)
    world.run_batch()  # the same 5 again, unchanged: the first list was read before their second settled
    assert world.store.read_counters(boundary)["unchanged"] == 5
    assert world.run_batch().stderr.startswith("batch empty: nothing changed")


def test_one_record_moodle_rejects_fails_alone_and_is_retried_next_window(world: World) -> None:
    rejected = hire_known(world, workEmail="rejected@acme.test")
    world.bamboohr.emulator.seed(9)
    world.moodle.emulator.reject_user(username="rejected@acme.test")
    world.drain()
    expected = world.expected_accounts()
    assert world.active_accounts() == {k: v for k, v in expected.items() if k != rejected}
    assert world.store.read_counters(INITIAL)["failed"] >= 1
    assert rejected in {c.employee_id for c in world.store.read_retry_entries()}

    world.moodle.emulator.clear_rejections()
    world.drain()  # nothing changed in BambooHR: the next window is the retry list alone
    assert world.active_accounts() == expected
    assert rejected not in {c.employee_id for c in world.store.read_retry_entries()}


def test_a_503_storm_on_both_services_is_ridden_out(world: World) -> None:
    world.bamboohr.emulator.seed(25)
    world.bamboohr.faults.error_rate = 0.3
    world.moodle.server.faults.error_rate = 0.3
    world.moodle.server.faults.error_status = 503
    world.drain()
    assert world.active_accounts() == world.expected_accounts()


def test_an_invalid_moodle_token_fails_the_batch_and_leaves_the_watermark(world: World) -> None:
    world.bamboohr.emulator.seed(5)
    run = world.run_batch(MOODLE_TOKEN="not-the-token")
    assert run.exit_code == 2, "refused credentials are not worth a rerun"
    assert "MOODLE_TOKEN" in run.stderr
    assert world.watermark is None
    assert world.moodle.emulator.users() == []


def test_a_rejected_bamboohr_key_names_the_secret_to_fix(world: World) -> None:
    run = world.run_batch(BAMBOOHR_API_KEY="wrong-key")
    assert run.exit_code == 2
    assert "BAMBOOHR_API_KEY" in run.stderr
    assert world.watermark is None


def test_no_secret_appears_in_any_output(world: World) -> None:
    world.bamboohr.emulator.seed(12)
    world.moodle.emulator.reject_user(username=world.bamboohr.emulator.employees()[0]["workEmail"] or "x")
    world.drain()
    world.run_batch(MOODLE_TOKEN="not-the-token-either")
    everything = "\n".join(world.output)
    assert everything.strip()
    for secret in (world.bamboohr.api_key, world.moodle.token, "not-the-token-either"):
        assert secret not in everything


def test_a_field_bamboohr_hides_from_the_key_fails_the_batch_naming_it(world: World) -> None:
    world.bamboohr.emulator.add_api_key("limited", hidden_fields=("workEmail",))
    world.bamboohr.emulator.seed(5)
    run = world.run_batch(BAMBOOHR_API_KEY="limited")
    assert run.exit_code == 1
    assert "workEmail" in run.stderr
    assert world.watermark is None


def test_leavers_are_suspended_and_returners_reactivated(world: World) -> None:
    ada = hire_known(world)
    world.drain()
    world.bamboohr.emulator.advance(60)
    world.bamboohr.emulator.terminate(ada)
    world.drain()
    assert world.moodle.emulator.users_by_idnumber(ada)[0]["suspended"]
    world.bamboohr.emulator.advance(60)
    world.bamboohr.emulator.rehire(ada)
    world.drain()
    (account,) = world.moodle.emulator.users_by_idnumber(ada)
    assert not account["suspended"]


def test_a_hand_made_account_is_adopted_not_duplicated(world: World) -> None:
    user_id = world.moodle.emulator.add_user("ada@acme.test", "Ada", "L", email="ada@acme.test")
    ada = hire_known(world)
    world.drain()
    (account,) = [u for u in world.moodle.emulator.users() if u["username"] == "ada@acme.test"]
    assert (account["id"], account["idnumber"], account["lastname"]) == (user_id, ada, "Lovelace")


def test_mass_suspension_guard_stops_the_window_before_anyone_is_suspended(world: World) -> None:
    leavers = world.leavers_after_a_first_window()
    active = set(world.active_accounts())
    before = world.watermark
    run = world.run_batch(MAX_SUSPENSIONS="5")
    assert run.exit_code == 3
    assert "ALLOW_MASS_SUSPEND" in run.stderr or "allowMassSuspend" in run.stderr
    assert set(world.active_accounts()) == active
    assert world.watermark == before

    world.drain(MAX_SUSPENSIONS="5", ALLOW_MASS_SUSPEND="1")
    assert set(world.active_accounts()) == active - set(leavers)


def test_dry_run_writes_nothing_anywhere(world: World) -> None:
    world.bamboohr.emulator.seed(8)
    run = world.run_batch(DRY_RUN="1")
    assert run.exit_code == 0
    assert "dry run" in run.stdout
    assert world.moodle.emulator.users() == []
    assert world.watermark is None
    assert world.store.read_snapshot(INITIAL) is None


def test_an_empty_window_exits_cleanly_and_the_next_run_sees_new_hires(world: World) -> None:
    run = world.run_batch()
    assert run.exit_code == 0
    assert world.watermark is None
    newcomer = hire_known(world)
    world.drain()
    assert world.moodle.emulator.users_by_idnumber(newcomer)


def test_bad_configuration_exits_2_naming_the_variable(world: World) -> None:
    run = world.run_batch(OFFSET="minus one")
    assert run.exit_code == 2
    assert "OFFSET" in run.stderr


def test_a_window_that_keeps_its_since_does_not_hide_later_changes(world: World) -> None:
    world.bamboohr.emulator.seed(5)
    world.drain()
    first_since = world.watermark
    world.drain()  # nothing new: BambooHR's inclusive since lists the last ones again, since stays
    assert world.watermark == first_since
    assert world.store.read_counters(first_since.since if first_since else INITIAL)["batches"] == 1
    world.bamboohr.emulator.advance(60)
    newcomer = hire_known(world)
    world.drain()
    assert world.moodle.emulator.users_by_idnumber(newcomer)


def test_a_lost_change_list_mid_window_says_how_to_restart_the_window(world: World) -> None:
    world.store.commit_batch(
        Watermark(INITIAL, 0, NO_WATERMARK), Watermark(INITIAL, 10), Snapshot(INITIAL, None, 20), {"created": 0}, []
    )
    run = world.run_batch()
    assert run.exit_code == 1
    assert "offset to 0" in run.stderr
    assert world.watermark == Watermark(INITIAL, 10)


def test_a_late_task_cannot_freeze_a_finished_window_again(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    rejected = hire_known(world, workEmail="rejected@acme.test")
    world.bamboohr.emulator.seed(5)
    world.moodle.emulator.reject_user(username="rejected@acme.test")
    world.drain()
    before = world.watermark
    # A duplicate task that read the watermark before the window above finished, and only now gets to freeze.
    monkeypatch.setattr(Batch, "_starting_point", lambda self: Watermark(INITIAL, 0, NO_WATERMARK))
    run = world.run_batch()
    assert run.exit_code == 0
    assert "stale" in run.stderr
    assert world.watermark == before
    assert rejected in {c.employee_id for c in world.store.read_retry_entries()}


def test_a_failed_suspension_of_a_deleted_employee_is_retried_as_a_suspension(world: World) -> None:
    ada = hire_known(world)
    world.drain()
    world.bamboohr.emulator.advance(60)
    world.bamboohr.emulator.delete(ada)
    world.moodle.emulator.reject_user(idnumber=ada)
    world.drain()  # the suspension fails
    world.bamboohr.emulator.advance(60)
    world.bamboohr.emulator.hire(firstName="Later", lastName="Hire", workEmail="later@acme.test", status="Active")
    world.drain()  # BambooHR's inclusive since lists the deletion once more; it fails again
    assert not world.moodle.emulator.users_by_idnumber(ada)[0]["suspended"]
    world.moodle.emulator.clear_rejections()
    world.drain()  # BambooHR no longer lists the deletion: only the retry list remembers it
    assert world.moodle.emulator.users_by_idnumber(ada)[0]["suspended"]


def test_every_log_line_is_json_with_the_batch_position(world: World) -> None:
    world.bamboohr.emulator.seed(12)
    world.moodle.emulator.reject_user(username=world.bamboohr.emulator.employees()[0]["workEmail"] or "x")
    runs = world.drain()
    lines = [line for run in runs for line in run.stdout.splitlines() if line.strip()]
    assert any('"record not synced"' in line for line in lines)
    for line in lines:
        record = json.loads(line)
        assert {"since", "offset", "level", "service"} <= record.keys()


# -- real Moodle fidelity: e-mail case, slow creates (issue 10) ---------------------------------------------------
def casey(world: World) -> str:
    return hire_known(world, firstName="Casey", lastName="Casefold", workEmail="casey.casefold@acme.example")


def test_a_hand_made_account_whose_email_differs_only_in_case_is_adopted_in_one_window(world: World) -> None:
    user_id = world.moodle.emulator.add_user("ccasefold", "Casey", "C", email="Casey.Casefold@acme.example")
    employee_id = casey(world)
    world.bamboohr.emulator.seed(8)

    world.drain(BATCH_SIZE="20")

    (account,) = [u for u in world.moodle.emulator.users() if u["id"] == user_id]
    assert (account["idnumber"], account["email"], account["lastname"]) == (
        employee_id,
        "casey.casefold@acme.example",
        "Casefold",
    )
    assert world.active_accounts() == world.expected_accounts()
    assert world.store.read_counters(INITIAL)["failed"] == 0
    assert world.moodle.emulator.call_count("core_user_create_users") == 1, "no create was refused and split"


def test_an_account_with_the_email_but_for_case_held_by_another_employee_fails_naming_its_moodle_id(
    world: World,
) -> None:
    user_id = world.moodle.emulator.add_user("other", email="Casey.Casefold@acme.example", idnumber="E-9999")
    employee_id = casey(world)
    world.bamboohr.emulator.seed(4)

    (run,) = world.drain(BATCH_SIZE="20")

    failures = [json.loads(line) for line in run.stdout.splitlines() if '"record not synced"' in line]
    assert [(f["employee_id"], f["reason"]) for f in failures] == [
        (employee_id, f"e-mail belongs to Moodle user {user_id} (employee E-9999)")
    ]
    assert world.moodle.emulator.call_count("core_user_create_users") == 1, "found before any create was sent"
    assert world.moodle.emulator.users_by_idnumber(employee_id) == []


def test_an_employee_moving_to_an_address_another_account_holds_fails_naming_it(world: World) -> None:
    ada = hire_known(world)
    world.drain()
    user_id = world.moodle.emulator.add_user("other", email="taken@acme.test", idnumber="E-9999")
    world.bamboohr.emulator.advance(60)
    world.bamboohr.emulator.update(ada, workEmail="taken@acme.test")

    (run,) = world.drain()

    failures = [json.loads(line) for line in run.stdout.splitlines() if '"record not synced"' in line]
    assert [(f["employee_id"], f["reason"]) for f in failures] == [
        (ada, f"e-mail belongs to Moodle user {user_id} (employee E-9999)")
    ]
    assert world.moodle.emulator.call_count("core_user_update_users") == 0


def test_a_batch_whose_accounts_hold_their_usernames_and_emails_is_looked_up_by_idnumber_alone(world: World) -> None:
    employees = [hire_known(world, workEmail=f"e{n}@acme.test", department="Maths") for n in range(8)]
    world.drain()
    world.bamboohr.emulator.advance(60)
    for employee_id in employees:
        world.bamboohr.emulator.update(employee_id, department="Physics")
    before = {f: world.moodle.emulator.call_count(f) for f in ("core_user_get_users_by_field", "core_user_get_users")}

    world.drain()

    after = {f: world.moodle.emulator.call_count(f) - n for f, n in before.items()}
    assert after == {"core_user_get_users_by_field": 1, "core_user_get_users": 0}
    assert {a["department"] for a in world.active_accounts().values()} == {"Physics"}


SLOW_MAIL_EMPLOYEES = 160  # about 150 to create: chunks of 110 under max_input_vars 1000, so 2 create calls


def test_a_first_load_without_faults_creates_in_two_calls(world: World) -> None:
    world.bamboohr.emulator.seed(SLOW_MAIL_EMPLOYEES)
    world.drain(BATCH_SIZE=str(SLOW_MAIL_EMPLOYEES))
    assert world.moodle.emulator.call_count("core_user_create_users") == 2


def test_with_a_mail_relay_slower_than_the_read_timeout_everyone_is_created_and_mailed_once(world: World) -> None:
    world.bamboohr.emulator.seed(SLOW_MAIL_EMPLOYEES)
    world.moodle.server.faults.mail_delay_s = 0.01  # 110 users: 1.1 s, past the 0.6 s read timeout

    runs = world.drain(BATCH_SIZE=str(SLOW_MAIL_EMPLOYEES), MOODLE_TIMEOUT_SECONDS="0.6")

    expected = world.expected_accounts()
    assert world.active_accounts() == expected
    outbox = world.moodle.emulator.outbox
    assert sorted(outbox) == sorted({a["username"] for a in expected.values()}), "each new user mailed exactly once"
    assert world.store.read_counters(INITIAL)["created"] == len(expected)
    failed = [json.loads(line) for line in runs[0].stdout.splitlines() if '"record not synced"' in line]
    assert not [f for f in failed if world.moodle.emulator.users_by_idnumber(f["employee_id"])], "failed yet created"
    assert world.moodle.emulator.call_count("core_user_create_users") <= 2 * 2
    assert "got no answer" in runs[0].stdout and "looking up what landed" in runs[0].stdout


# -- configuration errors are exit 2, and logs carry what an operator needs (issues 9 and 15) ----------------------
def last_line(run: BatchRun) -> str:
    return run.stderr.strip().splitlines()[-1]


def test_a_wrong_state_table_exits_2_naming_it(world: World) -> None:
    run = world.run_batch(STATE_TABLE="no-such-table")
    assert run.exit_code == 2
    assert "STATE_TABLE=no-such-table does not exist in region" in last_line(run)


def test_no_aws_region_exits_2_naming_the_variable(world: World, tmp_path: Path) -> None:
    world.monkeypatch.delenv("AWS_DEFAULT_REGION")
    world.monkeypatch.delenv("AWS_REGION", raising=False)
    world.monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    run = world.run_batch()
    assert run.exit_code == 2
    assert "set AWS_REGION" in last_line(run)


def test_an_unreachable_moodle_is_named_by_its_host(world: World) -> None:
    world.bamboohr.emulator.seed(3)
    run = world.run_batch(MOODLE_URL="http://127.0.0.1:9")
    assert run.exit_code == 1
    assert "Moodle at 127.0.0.1:9 could not be reached" in last_line(run)


def test_http_retries_leave_a_warning_with_their_count_in_the_task_log(world: World) -> None:
    world.bamboohr.emulator.seed(10)
    world.bamboohr.faults.down_from_request, world.bamboohr.faults.down_until_request = 1, 3  # two 503s
    runs = world.drain()
    warnings = [json.loads(line) for run in runs for line in run.stdout.splitlines() if "request retried" in line]
    assert warnings and all(w["level"] == "WARNING" for w in warnings)
    assert [w["message"].split(" (retry ")[1].split(";")[0] for w in warnings] == ["1 of at most 7", "2 of at most 7"]
    assert warnings[0]["message"].startswith("BambooHR request retried after HTTP 503")


def test_each_skipped_record_is_logged_with_its_reason(world: World) -> None:
    leaver = hire_known(world)
    world.bamboohr.emulator.terminate(leaver)
    (run,) = world.drain()
    skipped = [json.loads(line) for line in run.stdout.splitlines() if '"record skipped"' in line]
    assert [(s["employee_id"], s["reason"]) for s in skipped] == [(leaver, "inactive and has no Moodle account")]


@pytest.mark.parametrize("personal", ["0", "1"])
def test_failure_reasons_carry_an_email_only_with_log_personal_data(world: World, personal: str) -> None:
    hire_known(world, workEmail="shared@acme.test")
    hire_known(world, workEmail="shared@acme.test", firstName="Other")
    (run,) = world.drain(LOG_PERSONAL_DATA=personal)
    (failure,) = [json.loads(line) for line in run.stdout.splitlines() if '"record not synced"' in line]
    assert failure["reason"].startswith("username is also employee")
    assert ("shared@acme.test" in run.stdout) is (personal == "1")
