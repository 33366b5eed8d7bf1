"""The state machine and the webhook receiver together, in moto: a delivery during a drain runs one more window
in the same execution; a webhook-started execution waits for its debounce slot."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import boto3
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from bamboohr_moodle_sync import webhook
from tests.unit.test_statemachine import (  # noqa: F401  (fixtures)
    ACCOUNT,
    REGION,
    TABLE,
    WINDOW_END,
    BatchStandIn,
    Pipeline,
    entered_states,
    make_pipeline,
    no_retry_waits,
)
from tests.unit.test_webhook import Context

KEY = "the-webhook-private-key"


def signed_delivery(employee_id: str) -> dict[str, Any]:
    body = json.dumps({"type": "employee.updated", "data": {"employeeId": employee_id, "changedFields": []}})
    stamp = str(int(time.time()))
    signature = hmac.new(KEY.encode(), body.encode() + stamp.encode(), hashlib.sha256).hexdigest()
    return {
        "version": "2.0",
        "headers": {"x-bamboohr-timestamp": stamp, "x-bamboohr-signature": signature},
        "requestContext": {"http": {"method": "POST", "path": "/"}},
        "body": body,
        "isBase64Encoded": False,
    }


@dataclass
class BatchWithDeliveries(BatchStandIn):
    """The batch stand-in; before the runs listed in `deliver_at` (0-based) BambooHR delivers a webhook."""

    deliver_at: set[int] = field(default_factory=set)
    answers: list[int] = field(default_factory=list)

    def __call__(self, environment: dict[str, str]) -> int:
        if len(self.runs) in self.deliver_at:
            response = webhook.handler(signed_delivery("4021"), cast(LambdaContext, Context()))
            self.answers.append(response["statusCode"])
        return super().__call__(environment)


@pytest.fixture
def batch() -> BatchWithDeliveries:
    return BatchWithDeliveries()


@pytest.fixture
def pipeline(make_pipeline: Callable[..., Pipeline], monkeypatch: pytest.MonkeyPatch) -> Pipeline:  # noqa: F811
    pipeline = make_pipeline()
    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="bms-test/webhook", SecretString=json.dumps({"private_key": KEY})
    )
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("STATE_TABLE", TABLE)
    monkeypatch.setenv("STATE_MACHINE_ARN", pipeline.state_machine_arn)
    monkeypatch.setenv("WEBHOOK_SECRET_ID", secret["ARN"])
    webhook.reset()
    return pipeline


def windows(batch: BatchStandIn) -> list[tuple[str, str]]:
    return [(run["SINCE"], run["OFFSET"]) for run in batch.runs if run["OFFSET"] == "0"]


def test_a_delivery_during_a_drain_runs_one_more_window_in_the_same_execution(pipeline: Pipeline) -> None:
    cast(BatchWithDeliveries, pipeline.batch).deliver_at = {1}
    execution = pipeline.run()
    assert execution["status"] == "SUCCEEDED"
    assert windows(pipeline.batch)[1:] == [(WINDOW_END, "0")]


def test_the_delivery_during_a_drain_is_accepted_as_pending(pipeline: Pipeline) -> None:
    batch = cast(BatchWithDeliveries, pipeline.batch)
    batch.deliver_at = {1}
    pipeline.run()
    assert batch.answers == [202]
    assert (
        boto3.client("stepfunctions", region_name=REGION).list_executions(stateMachineArn=pipeline.state_machine_arn)[
            "executions"
        ][0]["name"]
        == "run-1"
    )  # nothing else was started


def test_the_lock_is_released_after_the_extra_window(pipeline: Pipeline) -> None:
    cast(BatchWithDeliveries, pipeline.batch).deliver_at = {1}
    pipeline.run()
    assert pipeline.item("lock") is None


def test_a_pending_mark_older_than_the_window_runs_no_extra_window(pipeline: Pipeline) -> None:
    expired = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:bms-test-sync:crashed"
    pipeline.table.put_item(
        Item={"pk": "lock", "owner": expired, "expires_at": "2000-01-01T00:00:00.000Z", "pending_at": "2000-01-01"}
    )
    path = entered_states(pipeline.run()["executionArn"])
    assert path.count("Run Batch") == 3
    assert "Start Next Window" not in path


def test_a_webhook_started_execution_waits_until_its_debounce_slot_ends(
    pipeline: Pipeline,
    no_retry_waits: list[float],  # noqa: F811
) -> None:
    not_before = webhook.iso(time.time() + 20)
    execution = pipeline.run({"trigger": "webhook", "notBefore": not_before})
    assert execution["status"] == "SUCCEEDED"
    assert 0 < no_retry_waits[0] <= 20
