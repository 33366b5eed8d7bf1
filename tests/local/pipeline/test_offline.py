"""End to end: the real state machine, the real batch task as processes, both emulators (see docs/contract.md)."""

from __future__ import annotations

import io
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bamboohr_moodle_sync.local.aws import ecs_api, fargate
from bamboohr_moodle_sync.local.aws.fargate import TaskRun
from bamboohr_moodle_sync.local.bamboohr.emulator import running_bamboohr
from bamboohr_moodle_sync.local.moodle.emulator import running_moodle
from bamboohr_moodle_sync.local.pipeline.offline import DEMO_MAPPING, Options, Pipeline
from bamboohr_moodle_sync.local.pipeline.runner import parse_fault, report_dry_run
from bamboohr_moodle_sync.mapping import COHORT_PREFIX
from tests.expectations import active_accounts, expected_active_accounts, leavers_with_active_accounts

SHIPPED_MAPPING = Path(__file__).resolve().parents[3] / "tasks" / "mapping.toml"

MakePipeline = Callable[..., Pipeline]


def moodle_end_state(pipeline: Pipeline) -> dict[str, tuple[Any, ...]]:
    """Accounts keyed by idnumber (hand-made accounts not adopted keyed by username)."""
    return {
        str(u["idnumber"] or u["username"]): (u["username"], u["email"], bool(u.get("suspended")), u["auth"])
        for u in pipeline.moodle_users()
    }


def assert_moodle_matches_bamboohr(pipeline: Pipeline) -> None:
    employees = pipeline.bamboohr.emulator.employees()  # type: ignore[union-attr]
    users = pipeline.moodle_users()
    assert active_accounts(users) == expected_active_accounts(employees)
    assert leavers_with_active_accounts(employees, users) == set()


def drain(pipeline: Pipeline, execution_input: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return pipeline.follow_chain(pipeline.start(execution_input), timeout_s=240)


def test_multi_batch_drain_makes_moodle_exactly_what_bamboohr_says(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(employees=40, batch_size=10)
    chain = drain(pipeline)
    assert [e["status"] for e in chain] == ["SUCCEEDED"], "one execution drains the whole backlog"
    output = json.loads(chain[-1]["output"])
    counters = output["counters"]
    assert counters["batches"] == math.ceil(counters["total"] / 10) > 1
    assert pipeline.watermark() == (output["newSince"], 0)
    assert_moodle_matches_bamboohr(pipeline)
    subjects = [m["Subject"] for m in pipeline.sns_messages()]
    assert len(subjects) == 1 and "sync OK" in subjects[0]


def test_failed_batch_reports_keeps_watermark_and_next_run_resumes_to_the_same_end(make_pipeline: MakePipeline) -> None:
    reference = make_pipeline(employees=30, batch_size=10, adopt_accounts=2)
    assert drain(reference)[-1]["status"] == "SUCCEEDED"
    expected = moodle_end_state(reference)

    pipeline = make_pipeline(employees=30, batch_size=10, adopt_accounts=2, moodle_down_at_batch=2)
    failed = drain(pipeline)[-1]
    assert failed["status"] == "FAILED"
    assert pipeline.watermark() is not None and pipeline.watermark()[1] == 10  # type: ignore[index]
    message = pipeline.sns_messages()[-1]
    assert "FAILED in Run Batch" in message["Subject"]
    assert "Container exit code: 1" in message["Message"]

    pipeline.moodle.server.faults.clear()  # type: ignore[union-attr]
    assert drain(pipeline)[-1]["status"] == "SUCCEEDED"
    assert moodle_end_state(pipeline) == expected


def test_overlapping_execution_is_skipped(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(employees=20, batch_size=10)
    first = pipeline.start()
    second = pipeline.start()
    outcomes = sorted(
        json.loads(pipeline.wait(arn, 240).get("output") or "{}").get("outcome", "") for arn in (first, second)
    )
    assert outcomes == ["skipped", "succeeded"]


def test_continue_as_new_after_max_batches(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(employees=30, batch_size=10, max_batches_per_execution=2)
    chain = drain(pipeline)
    assert [e["status"] for e in chain] == ["SUCCEEDED"] * len(chain)
    assert len(chain) == 2  # 3 batches, 2 per execution
    assert json.loads(chain[-1]["output"])["outcome"] == "succeeded"
    assert pipeline.watermark()[1] == 0  # type: ignore[index]
    assert_moodle_matches_bamboohr(pipeline)


def test_killed_task_is_retried_and_the_drain_succeeds(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(employees=20, batch_size=10, kill_task_at_batch=frozenset({2}))
    chain = drain(pipeline)
    assert chain[-1]["status"] == "SUCCEEDED"
    assert pipeline.tasks.runs[1].exit_code == 137
    events = pipeline.history(chain[0]["executionArn"])
    failed = [
        e for e in events if e["type"] == "TaskFailed" and e["taskFailedEventDetails"]["resource"] == "runTask.sync"
    ]
    assert len(failed) == 1
    assert json.loads(failed[0]["taskFailedEventDetails"]["cause"])["Containers"][0]["ExitCode"] == 137
    assert_moodle_matches_bamboohr(pipeline)


def test_bamboohr_edits_during_the_drain_reach_moodle_in_the_next_window(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(employees=20, batch_size=10)
    bamboohr = pipeline.bamboohr
    assert bamboohr is not None
    first_id = next(iter(expected_active_accounts(bamboohr.emulator.employees())))  # synced by the first task

    def edit_on_second_task(run: TaskRun) -> None:
        if run.number == 2:
            bamboohr.emulator.advance(60)
            bamboohr.emulator.update(first_id, lastName="Edited-During-Drain")

    pipeline.tasks.on_launch = edit_on_second_task
    assert drain(pipeline)[-1]["status"] == "SUCCEEDED"
    assert drain(pipeline)[-1]["status"] == "SUCCEEDED"
    accounts = pipeline.moodle.emulator.users_by_idnumber(first_id)  # type: ignore[union-attr]
    assert [a["lastname"] for a in accounts] == ["Edited-During-Drain"]


def test_a_dry_run_against_real_endpoints_writes_nothing_and_shows_the_plan(make_pipeline: MakePipeline) -> None:
    with running_bamboohr(employees=15) as bamboohr, running_moodle() as moodle:
        pipeline = make_pipeline(  # batches of 10: the dry run still plans the whole window of 15
            batch_size=10, real_bamboohr=(bamboohr.api_url, bamboohr.api_key), real_moodle=(moodle.url, moodle.token)
        )
        chain = drain(pipeline)
        assert chain[-1]["status"] == "SUCCEEDED"
        assert moodle.emulator.users() == []
        assert moodle.emulator.call_count("core_user_create_users") == 0
        assert pipeline.watermark() is None
        shown = io.StringIO()
        report_dry_run(pipeline.tasks.runs, shown)
        created = expected_active_accounts(bamboohr.emulator.employees())
        assert f"The window would be: {len(created)} created" in shown.getvalue()


# ------------------------------------------------------------------ how Fargate fails, and what the run does then


def entered(pipeline: Pipeline, execution_arn: str) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"]
        for e in pipeline.history(execution_arn)
        if e["type"].endswith("StateEntered")
    ]


def errors_of(pipeline: Pipeline, execution_arn: str) -> list[str]:
    return [e["taskFailedEventDetails"]["error"] for e in pipeline.history(execution_arn) if e["type"] == "TaskFailed"]


def test_a_task_that_never_starts_is_rerun_and_the_drain_succeeds(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(employees=20, batch_size=10, start_faults={2: fargate.IMAGE_PULL_FAILURE})
    chain = drain(pipeline)
    assert chain[-1]["status"] == "SUCCEEDED"
    assert pipeline.tasks.runs[1].process is None  # the second task never ran
    assert entered(pipeline, chain[0]["executionArn"]).count("Retry Batch?") == 1
    assert_moodle_matches_bamboohr(pipeline)


def test_a_task_that_never_starts_three_times_fails_naming_the_stopped_reason(make_pipeline: MakePipeline) -> None:
    never = dict.fromkeys(range(1, 10), fargate.IMAGE_PULL_FAILURE)
    pipeline = make_pipeline(employees=20, batch_size=10, start_faults=never)
    execution = drain(pipeline)[-1]
    assert execution["status"] == "FAILED"
    assert len(pipeline.tasks.runs) == 3  # Retry Batch? reran it twice
    message = pipeline.sns_messages()[-1]["Message"]
    assert "Stopped reason: CannotPullContainerError: " in message
    assert "Stop code: TaskFailedToStart" in message
    assert "Container exit code: none, the task never started" in message
    assert '"Containers"' not in message and '"Containers"' not in execution["cause"]


def test_a_capacity_error_is_retried_by_run_batch_and_the_drain_succeeds(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(employees=20, batch_size=10, run_task_faults={2: ecs_api.CAPACITY_ERROR})
    chain = drain(pipeline)
    assert chain[-1]["status"] == "SUCCEEDED"
    arn = chain[0]["executionArn"]
    assert errors_of(pipeline, arn) == ["ECS.AmazonECSException"]
    assert "Retry Batch?" not in entered(pipeline, arn)  # the state's own Retry, not a batch rerun
    assert_moodle_matches_bamboohr(pipeline)


def test_a_run_task_that_places_no_task_is_retried_then_reported(make_pipeline: MakePipeline) -> None:
    never = dict.fromkeys(range(1, 10), ecs_api.NO_TASK_PLACED)
    pipeline = make_pipeline(employees=20, batch_size=10, run_task_faults=never)
    execution = drain(pipeline)[-1]
    assert execution["status"] == "FAILED"
    assert execution["error"] == "SyncFailed.AmazonECS.Unknown"
    assert errors_of(pipeline, execution["executionArn"]) == ["AmazonECS.Unknown"] * 5  # 1 + 4 retries
    assert "Retry Batch?" not in entered(pipeline, execution["executionArn"])
    assert pipeline.tasks.runs == []
    message = pipeline.sns_messages()[-1]["Message"]
    assert "RunTask placed no task: You've reached the limit on the number of tasks" in message


def test_a_client_error_fails_at_once_and_keeps_the_watermark(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(employees=30, batch_size=10, run_task_faults={2: ecs_api.CLIENT_ERROR})
    execution = drain(pipeline)[-1]
    assert execution["status"] == "FAILED"
    assert errors_of(pipeline, execution["executionArn"]) == ["ECS.ClientException"]  # not retried, not rerun
    assert "Retry Batch?" not in entered(pipeline, execution["executionArn"])
    assert pipeline.watermark()[1] == 10  # type: ignore[index]
    message = pipeline.sns_messages()[-1]
    assert message["Subject"].endswith("FAILED in Run Batch: ECS.ClientException")
    assert "RunTask failed, no task ran: ECS was unable to assume the role 'arn:aws:iam::" in message["Message"]


def test_an_ecs_error_no_catcher_lists_fails_without_a_rerun(make_pipeline: MakePipeline) -> None:
    # BlockedException, worded as the ECS API reference describes it
    blocked = ecs_api.RunTaskFault(
        "ECS.BlockedException",
        "Your Amazon Web Services account was blocked. For more information, contact Amazon Web Services Support.",
        code="BlockedException",
    )
    pipeline = make_pipeline(employees=30, batch_size=10, run_task_faults={2: blocked})
    execution = drain(pipeline)[-1]
    assert execution["status"] == "FAILED"
    assert errors_of(pipeline, execution["executionArn"]) == ["ECS.BlockedException"]  # once: not rerun
    assert pipeline.watermark()[1] == 10  # type: ignore[index]
    assert (
        "RunTask failed, no task ran: Your Amazon Web Services account was blocked"
        in (pipeline.sns_messages()[-1]["Message"])
    )


def test_a_timed_out_batch_is_stopped_by_the_state_machine_before_the_failure_is_reported(
    make_pipeline: MakePipeline,
) -> None:
    pipeline = make_pipeline(employees=20, batch_size=10, batch_timeout_s=2)

    def hang(run: TaskRun) -> None:  # the task hangs, e.g. on a call that never answers
        run.command = [sys.executable, "-c", "import time; time.sleep(120)"]

    pipeline.tasks.on_launch = hang
    execution = drain(pipeline)[-1]
    assert execution["error"] == "SyncFailed.States.Timeout"
    [run] = pipeline.tasks.runs
    assert run.finished.wait(10) and run.exit_code == 143  # SIGTERM, from the state machine's StopTask
    [task] = pipeline.client("ecs").describe_tasks(cluster=pipeline.deployment.cluster_arn, tasks=[run.task_arn])[
        "tasks"
    ]
    assert task["stopCode"] == "UserInitiated"
    assert task["stoppedReason"] == "Run Batch timed out after 2 s; stopped by Step Functions"
    assert "ran longer than BatchTimeoutSeconds (2 s); its task was stopped." in pipeline.sns_messages()[-1]["Message"]


@pytest.mark.parametrize(
    ("fault", "chosen"),
    [
        ("task-fails-to-start-at-batch=2", lambda o: o.start_faults == {2: fargate.IMAGE_PULL_FAILURE}),
        ("ecs-capacity-error-at-batch=2", lambda o: o.run_task_faults == {2: ecs_api.CAPACITY_ERROR}),
        ("ecs-no-task-placed-at-batch=2", lambda o: o.run_task_faults == {2: ecs_api.NO_TASK_PLACED}),
        ("ecs-client-error-at-batch=2", lambda o: o.run_task_faults == {2: ecs_api.CLIENT_ERROR}),
    ],
)
def test_make_demo_can_inject_each_way_fargate_fails(fault: str, chosen: Callable[[Options], bool]) -> None:
    options = Options()
    parse_fault(fault, options)
    assert chosen(options)


@pytest.mark.parametrize(("mapping", "cohorts"), [(None, False), ("shipped", False), ("demo", True)])
def test_the_demo_world_has_an_earlier_sync_s_cohorts_only_for_a_mapping_with_cohort_rules(
    make_pipeline: MakePipeline, mapping: str | None, cohorts: bool
) -> None:
    """The shipped tasks/mapping.toml names [cohorts] only in a comment: no cohort rules, so no owned cohorts."""
    text = {None: None, "shipped": SHIPPED_MAPPING.read_text(encoding="utf-8"), "demo": DEMO_MAPPING}[mapping]
    pipeline = make_pipeline(employees=20, batch_size=10, mapping=text)
    assert pipeline.moodle is not None
    owned = [c for c in pipeline.moodle.emulator.cohorts() if c["idnumber"].startswith(COHORT_PREFIX)]
    assert bool(owned) is cohorts
