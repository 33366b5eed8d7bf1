"""The runTask.sync integration: a trivial command stands in for the batch task."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

from bamboohr_moodle_sync.local import fargate
from tests.integration.ecs_fixtures import history, run_to_end, setup_ecs, tiny_machine

EXIT_WITH_OFFSET = [sys.executable, "-c", "import os, sys; sys.exit(int(os.environ['OFFSET']))"]


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


def test_timeout_kills_the_process_and_fails_with_states_timeout(aws: Callable[[str], Any]) -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    machine = tiny_machine(aws, setup_ecs(aws, sleeper, {}), timeout_s=1)
    execution = run_to_end(aws, machine, {"offset": 0}, timeout_s=30)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.Timeout"
    run = fargate.settings().runs[-1]
    assert run.finished.wait(10), "the timed-out task was never stopped"
    assert run.process is not None and run.process.poll() is not None


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
