"""Webhooks end to end: BambooHR's signed delivery, the real receiver (WebhookRole's credentials, IAM enforced),
the real state machine, the batch task as processes and both emulators."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from bamboohr_moodle_sync.local.aws.fargate import TaskRun
from bamboohr_moodle_sync.local.pipeline.offline import Pipeline
from bamboohr_moodle_sync.local.pipeline.runner import build_parser, webhook_forgeries
from bamboohr_moodle_sync.local.pipeline.webhooks import local_webhooks, run_demo
from tests.expectations import expected_active_accounts

MakePipeline = Callable[..., Pipeline]


def test_a_change_during_a_drain_reaches_moodle_in_the_same_execution(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(employees=20, batch_size=10)
    bamboohr = pipeline.bamboohr
    assert bamboohr is not None
    webhooks = local_webhooks(pipeline)
    first_id = next(iter(expected_active_accounts(bamboohr.emulator.employees())))  # synced by the first task
    answers: list[int] = []

    def edit_and_deliver_on_second_task(run: TaskRun) -> None:
        if run.number == 2:  # the window's change list was frozen by the first task
            bamboohr.emulator.advance(60)
            bamboohr.emulator.update(first_id, lastName="Edited-During-Drain")
            answers.append(webhooks.deliver(first_id))

    pipeline.tasks.on_launch = edit_and_deliver_on_second_task
    chain = pipeline.follow_chain(pipeline.start(), timeout_s=240)
    assert [e["status"] for e in chain] == ["SUCCEEDED"], chain[-1].get("cause")
    assert answers == [202]
    accounts = pipeline.moodle.emulator.users_by_idnumber(first_id)  # type: ignore[union-attr]
    assert [a["lastname"] for a in accounts] == ["Edited-During-Drain"]


def test_a_delivery_with_no_sync_running_starts_one_that_reaches_moodle(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(employees=20, batch_size=10)
    bamboohr = pipeline.bamboohr
    assert bamboohr is not None
    webhooks = local_webhooks(pipeline)
    new_id = bamboohr.emulator.hire(firstName="Webhook", lastName="Hire", workEmail="webhook.hire@example.com")
    assert webhooks.deliver(new_id) == 202
    listed = pipeline.client("stepfunctions").list_executions(stateMachineArn=pipeline.deployment.state_machine_arn)
    [started] = listed["executions"]
    assert pipeline.follow_chain(started["executionArn"], timeout_s=240)[-1]["status"] == "SUCCEEDED"
    accounts = pipeline.moodle.emulator.users_by_idnumber(new_id)  # type: ignore[union-attr]
    assert [(a["lastname"], bool(a.get("suspended"))) for a in accounts] == [("Hire", False)]


def test_a_delivery_signed_with_another_key_is_refused_and_starts_nothing(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(employees=5, batch_size=10)
    webhooks = local_webhooks(pipeline)
    assert webhooks.deliver("1", key="not-the-key") == 401
    listed = pipeline.client("stepfunctions").list_executions(stateMachineArn=pipeline.deployment.state_machine_arn)
    assert listed["executions"] == []


def test_the_demo_times_each_edit_to_moodle_and_a_forged_delivery_is_refused(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(employees=20, batch_size=10)
    assert pipeline.follow_chain(pipeline.start(), timeout_s=240)[-1]["status"] == "SUCCEEDED"
    out = io.StringIO()
    latencies = run_demo(pipeline, forged=frozenset({3}), out=out)
    assert len(latencies) == 2  # the new hire and the rename; the termination's delivery was forged
    assert "termination of employee" in out.getvalue()
    assert "delivery refused with 401" in out.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fault", "webhook-bad-signature=1"], "needs --webhooks"),
        (["--webhooks", "--fault", "webhook-bad-signature=0"], "webhook-bad-signature=0"),
    ],
)
def test_local_run_refuses_a_webhook_fault_it_cannot_apply(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    args = parser.parse_args([*argv, "--output", str(tmp_path)])
    with pytest.raises(SystemExit):
        webhook_forgeries(args, parser)
    assert message in capsys.readouterr().err
