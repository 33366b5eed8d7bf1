"""The operator's commands against moto and both emulators: their output, their effect and their refusals."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from bamboohr_moodle_sync import cli
from bamboohr_moodle_sync.local.pipeline.offline import _previously_synced_accounts
from bamboohr_moodle_sync.mapping import DesiredUser, load_mapping
from bamboohr_moodle_sync.models import SETTLE_S
from bamboohr_moodle_sync.state import Lock, lock_time
from tests.world import World

INITIAL = "1970-01-01T00:00:00Z"
ACTIONS = {"create", "update", "suspend", "reactivate", "unchanged", "skip", "fail"}


@dataclass
class Answer:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def operate(world: World, *argv: str, **env: str) -> Answer:
    with world.monkeypatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        world.capture.readouterr()
        code = cli.main(list(argv))
        out, err = world.capture.readouterr()
    return Answer(code, out, err)


def every_kind_of_action(world: World) -> str:
    """A window with creates, updates, suspensions, reactivations, unchanged, skipped and failed employees;
    answers a deleted employee's id (a suspension of an account that is no longer in BambooHR)."""
    world.bamboohr.emulator.seed(80)
    _previously_synced_accounts(world.bamboohr, world.moodle)
    mapping = load_mapping(None)
    synced = {u["idnumber"] for u in world.moodle.emulator.users()}
    taken = {u["email"].lower() for u in world.moodle.emulator.users()}
    for employee in world.bamboohr.emulator.employees():
        desired = mapping.desired_user(employee)
        fresh = isinstance(desired, DesiredUser) and desired.employee_id not in synced
        if isinstance(desired, DesiredUser) and fresh and desired.active and desired.email.lower() not in taken:
            fields = dict(desired.fields)  # already exactly what BambooHR says: unchanged
            world.moodle.emulator.add_user(
                fields.pop("username"),
                fields.pop("firstname"),
                fields.pop("lastname"),
                fields.pop("email"),
                **fields,
            )
            break
    gone = world.bamboohr.emulator.hire(firstName="Gone", lastName="Away", workEmail="gone@acme.test", status="Active")
    world.moodle.emulator.add_user("gone@acme.test", "Gone", "Away", "gone@acme.test", idnumber=gone)
    world.bamboohr.emulator.delete(gone)
    return gone


def by_idnumber(world: World) -> dict[str, dict[str, Any]]:
    return {str(u["idnumber"]): u for u in world.moodle.emulator.users() if u.get("idnumber")}


def test_preview_is_what_the_run_then_does_employee_by_employee(world: World) -> None:
    every_kind_of_action(world)
    before_users = by_idnumber(world)
    answer = operate(world, "preview", "--json")
    assert answer.code == 0, answer.err
    preview = answer.json()
    rows = {row["id"]: row for row in preview["employees"]}
    assert {row["action"] for row in rows.values()} == ACTIONS
    assert world.watermark is None and world.store.read_snapshot(INITIAL) is None, "preview wrote nothing"

    world.drain()
    after_users = by_idnumber(world)
    retry = {c.employee_id for c in world.store.read_retry_entries()}
    for employee_id, row in rows.items():
        account, earlier = after_users.get(employee_id), before_users.get(employee_id)
        action = row["action"]
        if action in ("skip", "fail"):
            assert account == earlier, employee_id
            assert (employee_id in retry) == (action == "fail"), employee_id
        elif action == "unchanged":
            assert account == earlier, employee_id
        else:
            assert account is not None, employee_id
            for name, (before, after) in row["changes"].items():
                assert str(account[name] if name != "suspended" else int(account[name])) == str(after), (
                    employee_id,
                    name,
                )
                if earlier is not None and action != "create":
                    was = earlier[name] if name != "suspended" else int(earlier[name])
                    assert str(was) == str(before), (employee_id, name)
            assert bool(account["suspended"]) == (action == "suspend"), employee_id
    counters = world.store.read_counters(INITIAL)
    assert {
        name: counters[name]
        for name in ("created", "updated", "suspended", "reactivated", "unchanged", "skipped", "failed")
    } == {
        name: preview["summary"][name]
        for name in ("created", "updated", "suspended", "reactivated", "unchanged", "skipped", "failed")
    }


def test_a_dry_run_logs_the_same_plan_as_preview(world: World) -> None:
    every_kind_of_action(world)
    preview = operate(world, "preview", "--json").json()
    run = world.run_batch(DRY_RUN="1", LOG_PERSONAL_DATA="1")
    (line,) = [json.loads(x) for x in run.stdout.splitlines() if '"dry run: planned' in x]
    assert line["plan"] == preview["employees"]
    assert line["counts"] == {k: preview["summary"][k] for k in line["counts"]}


def test_a_dry_run_logs_no_names_or_values_without_log_personal_data(world: World) -> None:
    world.bamboohr.emulator.hire(firstName="Ada", lastName="Lovelace", workEmail="ada@acme.test", status="Active")
    run = world.run_batch(DRY_RUN="1")
    (line,) = [x for x in run.stdout.splitlines() if '"dry run: planned' in x]
    assert '"create"' in line and '"email"' in line
    assert "Lovelace" not in line and "ada@acme.test" not in line


def test_preview_text_leads_with_the_summary_and_csv_has_a_row_per_change(world: World, tmp_path: Path) -> None:
    world.bamboohr.emulator.seed(12)
    answer = operate(world, "preview", "--csv", str(tmp_path / "plan.csv"))
    assert answer.code == 0, answer.err
    first = answer.out.splitlines()[0]
    assert first.startswith(f"window {INITIAL} from offset 0: 12 employees")
    rows = (tmp_path / "plan.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "id,name,action,reason,field,before,after"
    assert any(",create,,email,," in row for row in rows)


def test_preview_names_the_mapping_file_it_planned_with(world: World, tmp_path: Path) -> None:
    world.bamboohr.emulator.seed(3)
    assert "mapping: the default (MAPPING_FILE is not set)" in operate(world, "preview").out
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[cohorts]\ndepartment = "Department: {value}"\n', encoding="utf-8")
    answer = operate(world, "preview", "--json", MAPPING_FILE=str(mapping))
    assert answer.json()["summary"]["mapping_file"] == str(mapping)


def test_status_shows_watermark_window_counters_and_the_retry_list_with_reasons(world: World) -> None:
    rejected = world.bamboohr.emulator.hire(
        firstName="Rae", lastName="Jected", workEmail="rej@acme.test", status="Active"
    )
    world.bamboohr.emulator.seed(14)
    world.moodle.emulator.reject_user(username="rej@acme.test")
    world.run_batch()
    status = operate(world, "status", "--json").json()
    assert status["watermark"] == {"since": INITIAL, "offset": 10}
    assert status["window"] == {"frozen": True, "entries": 15, "done": 10}
    assert status["lock"] is None
    assert status["counters"]["batches"] == 1
    world.drain()
    status = operate(world, "status", "--json").json()
    (entry,) = [e for e in status["retry"] if e["id"] == rejected]
    assert entry["reason"], "the reason the batch logged"


def test_status_shows_the_lock_and_whether_it_is_live(world: World) -> None:
    world.store.take_lock("arn:aws:states:us-east-1:1:execution:s-sync:x", 600)
    status = operate(world, "status", "--json").json()
    assert status["lock"]["owner"].endswith(":x") and status["lock"]["live"] is True


def guard_stopped_window(world: World, settled: bool = False, **env: str) -> list[str]:
    """A drained world in which 6 employees with active accounts left, and a batch the guard stopped (limit 5)."""
    leavers = world.leavers_after_a_first_window(settled=settled)
    assert world.run_batch(MAX_SUSPENSIONS="5", **env).exit_code == 3
    return leavers


def test_a_guard_stop_names_a_sample_and_the_approve_command(world: World) -> None:
    guard_stopped_window(world, STACK_NAME="acme-sync")
    last = world.output[-1].strip().splitlines()[-1]
    assert "would suspend 6 active Moodle accounts" in last
    assert "bamboohr-moodle-sync approve --stack acme-sync --yes" in last


def test_status_shows_why_a_guard_stopped_the_window(world: World) -> None:
    guard_stopped_window(world)
    shown = operate(world, "status", "--json")
    assert "would suspend 6 active Moodle accounts" in json.loads(shown.out)["guard_stop"]
    assert "stopped by a guard: window" in operate(world, "status").out


def test_approve_lets_exactly_the_stopped_window_through(world: World) -> None:
    leavers = guard_stopped_window(world)
    shown = operate(world, "approve", MAX_SUSPENSIONS="5")
    assert shown.code == 0 and "add --yes" in shown.out
    assert world.run_batch(MAX_SUSPENSIONS="5").exit_code == 3, "without --yes nothing is approved"
    done = operate(world, "approve", "--yes", MAX_SUSPENSIONS="5")
    assert done.code == 0, done.out + done.err
    world.drain(MAX_SUSPENSIONS="5")
    users = by_idnumber(world)
    assert all(users[i]["suspended"] for i in leavers)


def test_an_approval_does_not_carry_over_to_a_window_frozen_again(world: World) -> None:
    guard_stopped_window(world)
    assert operate(world, "approve", "--yes", MAX_SUSPENSIONS="5").code == 0
    watermark = world.watermark
    assert watermark is not None
    assert operate(world, "reset", "--since", watermark.since, "--yes").code == 0
    assert world.run_batch(MAX_SUSPENSIONS="5").exit_code == 3, "the re-frozen window meets the guard again"


def test_approve_refuses_when_no_window_was_stopped(world: World) -> None:
    world.bamboohr.emulator.seed(5)
    world.drain()
    answer = operate(world, "approve", "--yes", "--json")
    assert answer.code == 1
    assert answer.json()["refused"] is True


def test_reset_moves_the_watermark_and_prints_before_and_after(world: World) -> None:
    world.bamboohr.emulator.seed(5)
    world.drain()
    answer = operate(world, "reset", "--since", "2026-03-01T00:00:00+01:00", "--yes", "--json")
    assert answer.code == 0, answer.out
    assert answer.json()["after"] == {"since": "2026-02-28T23:00:00Z", "offset": 0}
    assert answer.json()["before"]["offset"] == 0
    watermark = world.watermark
    assert watermark is not None and (watermark.since, watermark.offset) == ("2026-02-28T23:00:00Z", 0)


def test_reset_refuses_while_a_live_lock_is_held(world: World) -> None:
    world.bamboohr.emulator.seed(5)
    world.drain()
    before = world.watermark
    world.store.take_lock("arn:aws:states:us-east-1:1:execution:s-sync:draining", 600)
    answer = operate(world, "reset", "--since", "2026-03-01T00:00:00Z", "--yes")
    assert answer.code == 1 and "live lock" in answer.out
    assert world.watermark == before


def test_reset_without_yes_changes_nothing(world: World) -> None:
    world.bamboohr.emulator.seed(5)
    world.drain()
    before = world.watermark
    answer = operate(world, "reset", "--since", "2026-03-01T00:00:00Z")
    assert "add --yes" in answer.out
    assert world.watermark == before


def test_unlock_clears_an_expired_lock(world: World) -> None:
    put_lock(world, Lock("arn:aws:states:us-east-1:1:execution:s-sync:old", lock_time(time.time() - 60)))
    answer = operate(world, "unlock", "--yes")
    assert answer.code == 0, answer.out
    assert world.store.read_lock() is None


def test_unlock_refuses_a_live_lock_it_cannot_check(world: World) -> None:
    world.store.take_lock("arn:aws:states:us-east-1:1:execution:s-sync:now", 600)
    answer = operate(world, "unlock", "--yes")
    assert answer.code == 1 and "live" in answer.out
    assert world.store.read_lock() is not None


def put_lock(world: World, lock: Lock) -> None:
    client = world.store._db
    client.put_item(
        TableName=world.store._table,
        Item={"pk": {"S": "lock"}, "owner": {"S": lock.owner}, "expires_at": {"S": lock.expires_at}},
    )


def test_sync_one_syncs_one_employee_and_leaves_the_watermark(world: World) -> None:
    world.bamboohr.emulator.seed(5)
    world.drain()
    before = world.watermark
    ada = world.bamboohr.emulator.hire(firstName="Ada", lastName="L", workEmail="ada@acme.test", status="Active")
    answer = operate(world, "sync-one", ada, "--json")
    assert answer.code == 0, answer.out + answer.err
    assert answer.json()["after"]["action"] == "create"
    assert by_idnumber(world)[ada]["email"] == "ada@acme.test"
    assert world.watermark == before
    assert world.store.read_lock() is None


def test_sync_one_dry_run_writes_nothing(world: World) -> None:
    ada = world.bamboohr.emulator.hire(firstName="Ada", lastName="L", workEmail="ada@acme.test", status="Active")
    answer = operate(world, "sync-one", ada, "--dry-run")
    assert answer.code == 0 and "would create" in answer.out
    assert world.moodle.emulator.users() == []


def test_sync_one_refuses_while_a_drain_holds_the_lock(world: World) -> None:
    ada = world.bamboohr.emulator.hire(firstName="Ada", lastName="L", workEmail="ada@acme.test", status="Active")
    world.store.take_lock("arn:aws:states:us-east-1:1:execution:s-sync:drain", 600)
    answer = operate(world, "sync-one", ada)
    assert answer.code == 1 and "drain" in answer.out
    assert world.moodle.emulator.users() == []


def test_a_hand_set_since_the_watermark_has_left_says_so_and_points_to_reset(world: World) -> None:
    world.bamboohr.emulator.seed(5)
    world.drain()
    watermark = world.watermark
    assert watermark is not None
    run = world.run_batch(SINCE="2026-01-01T00:00:00Z", OFFSET="0")
    last = run.stderr.strip().splitlines()[-1]
    assert run.exit_code == 0
    assert "asked for SINCE=2026-01-01T00:00:00Z OFFSET=0" in last
    assert f"the watermark is at since {watermark.since} offset 0" in last
    assert "nothing was done" in last and "reset --since" in last
    assert world.watermark == watermark


def deployed_stack(world: World) -> str:
    """A stack in moto with the outputs the commands read, and its state machine; answers the machine's ARN."""
    machine = boto3.client("stepfunctions").create_state_machine(
        name="acme-sync",
        definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/acme-sync",
    )["stateMachineArn"]
    outputs = {
        "StateTableName": "state",
        "StateMachineArn": machine,
        "BambooHRSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:acme/bamboohr",
        "MoodleSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:acme/moodle",
    }
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(StackName="acme", TemplateBody=json.dumps(template))
    return machine


def test_status_with_stack_shows_the_last_executions_and_whether_the_lock_holder_runs(world: World) -> None:
    machine = deployed_stack(world)
    execution = boto3.client("stepfunctions").start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    world.store.take_lock(execution, 600)
    status = operate(world, "status", "--stack", "acme", "--json").json()
    assert status["lock"]["running"] is True
    (shown,) = status["executions"]
    assert shown["status"] == "RUNNING" and shown["link"].endswith(execution)


def test_unlock_with_stack_refuses_while_the_execution_runs_and_clears_once_it_stopped(world: World) -> None:
    machine = deployed_stack(world)
    sfn = boto3.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    world.store.take_lock(execution, 600)
    refused = operate(world, "unlock", "--stack", "acme", "--yes")
    assert refused.code == 1 and "still running" in refused.out
    assert world.store.read_lock() is not None
    sfn.stop_execution(executionArn=execution)
    cleared = operate(world, "unlock", "--stack", "acme", "--yes")
    assert cleared.code == 0, cleared.out
    assert world.store.read_lock() is None


def test_a_stack_that_does_not_exist_is_a_configuration_error(world: World) -> None:
    answer = operate(world, "status", "--stack", "nope")
    assert answer.code == 2 and "stack nope" in answer.err


def test_approve_with_stack_starts_one_execution_for_the_approved_window(world: World) -> None:
    machine = deployed_stack(world)
    guard_stopped_window(world)
    answer = operate(world, "approve", "--stack", "acme", "--yes", "--json", MAX_SUSPENSIONS="5")
    assert answer.code == 0, answer.out + answer.err
    (execution,) = boto3.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"]
    assert answer.json()["execution"] == execution["executionArn"]


def test_reset_puts_the_retries_the_abandoned_window_had_not_reached_back_on_the_retry_list(world: World) -> None:
    rejected = world.bamboohr.emulator.hire(firstName="Rae", lastName="J", workEmail="rej@acme.test", status="Active")
    world.moodle.emulator.reject_user(username="rej@acme.test")
    guard_stopped_window(world, settled=True)  # the stopped window is frozen, Rae carried into it
    assert rejected not in {c.employee_id for c in world.store.read_retry_entries()}
    watermark = world.watermark
    assert watermark is not None
    assert operate(world, "reset", "--since", watermark.since, "--yes").code == 0
    assert rejected in {c.employee_id for c in world.store.read_retry_entries()}


def test_preview_full_plans_every_employee_even_when_the_window_is_empty(world: World) -> None:
    world.bamboohr.emulator.seed(12)
    world.drain()
    world.bamboohr.emulator.advance(SETTLE_S)
    world.drain()  # the window after it is empty
    assert operate(world, "preview", "--json").json()["employees"] == []
    full = operate(world, "preview", "--full", "--json").json()
    assert len(full["employees"]) == 12
    assert {row["action"] for row in full["employees"]} <= {"unchanged", "skip", "fail"}


def test_unlock_keeps_a_webhook_s_pending_sync_on_the_lock_it_frees(world: World) -> None:
    put_lock(world, Lock("arn:aws:states:us-east-1:1:execution:s-sync:old", lock_time(time.time() - 60)))
    world.store._db.update_item(
        TableName=world.store._table,
        Key={"pk": {"S": "lock"}},
        UpdateExpression="SET pending_at = :p",
        ExpressionAttributeValues={":p": {"S": "2026-01-01T00:00:00.000Z"}},
    )
    assert operate(world, "unlock", "--yes").code == 0
    item = world.store._db.get_item(TableName=world.store._table, Key={"pk": {"S": "lock"}})["Item"]
    assert item["pending_at"]["S"] == "2026-01-01T00:00:00.000Z"
    lock = world.store.read_lock()
    assert lock is not None and not lock.live(time.time())
