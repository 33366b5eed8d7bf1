"""The runTask.sync integration: a trivial command stands in for the batch task."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from bamboohr_moodle_sync.local.aws import ecs_api, fargate
from tests.local.aws.ecs_fixtures import history, run_to_end, setup_ecs, tiny_machine

EXIT_WITH_OFFSET = [sys.executable, "-c", "import os, sys; sys.exit(int(os.environ['OFFSET']))"]
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_exit_0_returns_the_stopped_task_object(aws: Callable[[str], Any]) -> None:
    machine = tiny_machine(aws, setup_ecs(aws, EXIT_WITH_OFFSET, {}))
    execution = run_to_end(aws, machine, {"offset": 0})
    assert execution["status"] == "SUCCEEDED"
    task = json.loads(execution["output"])
    assert task["LastStatus"] == "STOPPED"
    assert task["StopCode"] == "EssentialContainerExited"
    assert task["StoppedReason"] == "Essential container in task exited"
    assert task["StartedBy"] == "AWS Step Functions"
    assert [c["ExitCode"] for c in task["Containers"] if c["Name"] == "sync"] == [0]


def test_non_zero_exit_fails_with_the_task_description_as_cause(aws: Callable[[str], Any]) -> None:
    machine = tiny_machine(aws, setup_ecs(aws, EXIT_WITH_OFFSET, {}))
    execution = run_to_end(aws, machine, {"offset": 3})
    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.TaskFailed"
    failed = [e for e in history(aws, execution["executionArn"]) if e["type"] == "TaskFailed"]
    cause = json.loads(failed[0]["taskFailedEventDetails"]["cause"])
    assert cause["Containers"][0]["ExitCode"] == 3
    assert cause["LastStatus"] == "STOPPED"


def test_overrides_and_local_aws_reach_the_process(aws: Callable[[str], Any], tmp_path: Any) -> None:
    out = tmp_path / "env.json"
    dump_env = [sys.executable, "-c", f"import json, os; json.dump(dict(os.environ), open({str(out)!r}, 'w'))"]
    machine = tiny_machine(aws, setup_ecs(aws, dump_env, {"FROM_DEFINITION": "yes", "OFFSET": "definition"}))
    assert run_to_end(aws, machine, {"offset": 7})["status"] == "SUCCEEDED"
    env = json.loads(out.read_text())
    assert env["FROM_DEFINITION"] == "yes"
    assert env["OFFSET"] == "7"  # the override wins over the task definition
    assert env["AWS_ENDPOINT_URL"] == fargate.settings().endpoint_url
    assert env["AWS_REGION"] == "us-east-1"


def test_a_state_timeout_leaves_the_task_running_as_on_aws(aws: Callable[[str], Any]) -> None:
    machine = tiny_machine(aws, setup_ecs(aws, SLEEPER, {}), timeout_s=1)
    execution = run_to_end(aws, machine, {"offset": 0}, timeout_s=30)
    assert execution["error"] == "States.Timeout"
    run = fargate.settings().runs[-1]
    assert not run.finished.wait(1), "the local Fargate stopped a task that AWS would leave running"
    assert run.process is not None and run.process.poll() is None
    ecs_api.request_stop(run.task_arn, "test over")
    assert run.finished.wait(10)


@pytest.mark.parametrize(
    ("command", "exit_code"),
    [
        (SLEEPER, 143),
        ([sys.executable, "-c", "import signal, time; signal.signal(15, signal.SIG_IGN); time.sleep(60)"], 137),
    ],
    ids=["exits on SIGTERM", "ignores SIGTERM: SIGKILL"],
)
def test_stop_task_reaches_the_process_as_sigterm_then_sigkill(
    aws: Callable[[str], Any], command: list[str], exit_code: int
) -> None:
    names = setup_ecs(aws, command, {})
    machine = tiny_machine(aws, names, timeout_s=1)
    run_to_end(aws, machine, {"offset": 0}, timeout_s=30)
    run = fargate.settings().runs[-1]
    time.sleep(0.3)  # let the process install its handler
    aws("ecs").stop_task(cluster=names["CLUSTER"], task=run.task_arn, reason="Run Batch timed out")
    assert run.finished.wait(15)
    [task] = aws("ecs").describe_tasks(cluster=names["CLUSTER"], tasks=[run.task_arn])["tasks"]
    assert (task["stopCode"], task["stoppedReason"]) == ("UserInitiated", "Run Batch timed out")
    assert task["containers"][0]["exitCode"] == exit_code


def test_a_task_that_never_starts_fails_with_no_exit_code(aws: Callable[[str], Any]) -> None:
    fargate.settings().start_faults = {1: fargate.IMAGE_PULL_FAILURE}
    machine = tiny_machine(aws, setup_ecs(aws, EXIT_WITH_OFFSET, {}))
    execution = run_to_end(aws, machine, {"offset": 0})
    assert execution["error"] == "States.TaskFailed"
    [failed] = [e for e in history(aws, execution["executionArn"]) if e["type"] == "TaskFailed"]
    task = json.loads(failed["taskFailedEventDetails"]["cause"])
    assert task["StopCode"] == "TaskFailedToStart"
    assert task["StoppedReason"].startswith("CannotPullContainerError: ")
    assert "ExitCode" not in task["Containers"][0]
    assert fargate.settings().runs[0].process is None


def test_the_task_output_goes_to_its_awslogs_stream(aws: Callable[[str], Any]) -> None:
    aws("logs").create_log_group(logGroupName="/ecs/tiny")
    hello = [sys.executable, "-c", "print('hello from the task')"]
    machine = tiny_machine(aws, setup_ecs(aws, hello, {}, log_group="/ecs/tiny"))
    assert run_to_end(aws, machine, {"offset": 0})["status"] == "SUCCEEDED"
    run = fargate.settings().runs[0]
    task_id = run.task_arn.rsplit("/", 1)[-1]
    events = aws("logs").get_log_events(logGroupName="/ecs/tiny", logStreamName=f"batch/sync/{task_id}")["events"]
    assert [event["message"] for event in events] == ["hello from the task"]


def test_a_missing_log_group_stops_the_task_before_it_starts(aws: Callable[[str], Any]) -> None:
    machine = tiny_machine(aws, setup_ecs(aws, EXIT_WITH_OFFSET, {}, log_group="/ecs/never-created"))
    execution = run_to_end(aws, machine, {"offset": 0})
    [failed] = [e for e in history(aws, execution["executionArn"]) if e["type"] == "TaskFailed"]
    task = json.loads(failed["taskFailedEventDetails"]["cause"])
    assert task["StopCode"] == "TaskFailedToStart"
    assert task["StoppedReason"].startswith("ResourceInitializationError: failed to validate logger args")


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (ecs_api.CAPACITY_ERROR, "ECS.AmazonECSException"),
        (ecs_api.NO_TASK_PLACED, "AmazonECS.Unknown"),
        (ecs_api.CLIENT_ERROR, "ECS.ClientException"),
    ],
)
def test_a_failing_run_task_fails_the_state_with_the_ecs_error_name(
    aws: Callable[[str], Any], fault: ecs_api.RunTaskFault, error: str
) -> None:
    fargate.settings().run_task_faults = {1: fault}
    machine = tiny_machine(aws, setup_ecs(aws, EXIT_WITH_OFFSET, {}))
    execution = run_to_end(aws, machine, {"offset": 0})
    assert execution["error"] == error
    assert fargate.settings().runs == []  # no task ran


def test_an_ecs_api_error_is_named_as_step_functions_names_it(aws: Callable[[str], Any]) -> None:
    names = setup_ecs(aws, EXIT_WITH_OFFSET, {})
    names["CLUSTER"] = names["CLUSTER"].replace("cluster/local", "cluster/no-such-cluster")
    execution = run_to_end(aws, tiny_machine(aws, names), {"offset": 0})
    assert execution["error"] == "ECS.ClusterNotFoundException"
    assert "(Service: AmazonECS; Status Code: 400; Error Code: ClusterNotFoundException" in execution["cause"]


@pytest.mark.parametrize("kill_after_s", [0.0, 0.3])
def test_fault_kill_reports_exit_137(aws: Callable[[str], Any], kill_after_s: float) -> None:
    fargate.settings().kill_at = frozenset({1})
    fargate.settings().kill_after_s = kill_after_s
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    machine = tiny_machine(aws, setup_ecs(aws, sleeper, {}))
    execution = run_to_end(aws, machine, {"offset": 0})
    assert execution["status"] == "FAILED"
    failed = [e for e in history(aws, execution["executionArn"]) if e["type"] == "TaskFailed"]
    assert json.loads(failed[0]["taskFailedEventDetails"]["cause"])["Containers"][0]["ExitCode"] == 137


@pytest.mark.parametrize(
    ("fault", "caught"),
    [(ecs_api.CLIENT_ERROR, True), (ecs_api.NO_TASK_PLACED, True), (None, False)],
    ids=["ECS.ClientException", "AmazonECS.Unknown", "States.Timeout"],
)
def test_states_task_failed_in_a_catch_matches_every_error_but_states_timeout(
    aws: Callable[[str], Any], fault: ecs_api.RunTaskFault | None, caught: bool
) -> None:
    """AWS: "When used in a retry or catch, States.TaskFailed acts as a wildcard that matches any known error
    name except for States.Timeout"; moto's interpreter must do the same for the offline run to mean anything."""
    if fault is not None:
        fargate.settings().run_task_faults = {1: fault}
    names = setup_ecs(aws, SLEEPER, {})
    machine = tiny_machine(aws, names, timeout_s=1, catch=["States.TaskFailed"])
    execution = run_to_end(aws, machine, {"offset": 0}, timeout_s=30)
    assert (execution["status"] == "SUCCEEDED") is caught
    for run in fargate.settings().runs:
        ecs_api.request_stop(run.task_arn, "test over")
        assert run.finished.wait(10)


def test_a_deregistered_task_definition_cannot_run_new_tasks(aws: Callable[[str], Any]) -> None:
    """What a deploy without UpdateReplacePolicy: Retain would do to an execution still draining."""
    names = setup_ecs(aws, EXIT_WITH_OFFSET, {})
    aws("ecs").deregister_task_definition(taskDefinition=names["TASKDEF"])
    execution = run_to_end(aws, tiny_machine(aws, names), {"offset": 0})
    assert execution["error"] == "ECS.InvalidParameterException"
    assert execution["cause"].startswith("TaskDefinition is inactive (Service: AmazonECS; Status Code: 400;")
