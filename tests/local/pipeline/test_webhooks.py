"""Webhooks end to end: BambooHR's signed delivery, the real receiver (WebhookRole's credentials, IAM enforced),
the real state machine, the batch task as processes and both emulators."""

from __future__ import annotations

from collections.abc import Callable

from bamboohr_moodle_sync.local.aws.fargate import TaskRun
from bamboohr_moodle_sync.local.pipeline.offline import Pipeline
from bamboohr_moodle_sync.local.pipeline.webhooks import local_webhooks
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
