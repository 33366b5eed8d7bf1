"""The webhook receiver's handler against moto (Secrets Manager, DynamoDB, Step Functions): status codes, what
it starts and what it records."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import boto3
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from moto import mock_aws

from bamboohr_moodle_sync import webhook

REGION = "eu-west-1"
TABLE = "bms-state"
KEY = "a-private-key-bamboohr-shows-once"
NOW = 1_800_000_010.0  # 10 s into a 30 s debounce slot
PAYLOAD = {
    "type": "employee.updated",
    "timestamp": "2027-01-15T08:00:10Z",
    "data": {"companyId": 1, "employeeId": "4021", "changedFields": ["workEmail", "firstName"]},
}


@dataclass
class Context:
    function_name: str = "bms-webhook"
    function_version: str = "$LATEST"
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:bms-webhook"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "req-1"
    log_group_name: str = "/aws/lambda/bms-webhook"
    log_stream_name: str = "stream"


CONTEXT = cast(LambdaContext, Context())


@dataclass
class Aws:
    table: Any
    stepfunctions: Any
    secrets: Any
    state_machine_arn: str
    secret_id: str

    def executions(self) -> list[dict[str, Any]]:
        listed = self.stepfunctions.list_executions(stateMachineArn=self.state_machine_arn)["executions"]
        return [self.stepfunctions.describe_execution(executionArn=e["executionArn"]) for e in listed]

    def lock(self) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.table.get_item(Key={"pk": "lock"}, ConsistentRead=True).get("Item")
        return item

    def hold_lock(self, owner: str, expires_at: str = "2099-01-01T00:00:00.000Z") -> None:
        self.table.put_item(Item={"pk": "lock", "owner": owner, "expires_at": expires_at})

    def execution_arn(self, name: str) -> str:
        return self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        table = boto3.resource("dynamodb", region_name=REGION).create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        secrets = boto3.client("secretsmanager", region_name=REGION)
        secret_id = secrets.create_secret(Name="bms/webhook", SecretString=json.dumps({"private_key": KEY}))["ARN"]
        stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
        arn = stepfunctions.create_state_machine(
            name="bms-sync", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sm"
        )["stateMachineArn"]
        monkeypatch.setenv("STATE_TABLE", TABLE)
        monkeypatch.setenv("STATE_MACHINE_ARN", arn)
        monkeypatch.setenv("WEBHOOK_SECRET_ID", secret_id)
        monkeypatch.setenv("WEBHOOK_DEBOUNCE_SECONDS", "30")
        monkeypatch.setattr(webhook, "clock", lambda: NOW)
        webhook.reset()
        yield Aws(table, stepfunctions, secrets, arn, secret_id)
        webhook.reset()


def sign(body: bytes, timestamp: str, key: str = KEY) -> str:
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


def delivery(
    body: bytes | None = None,
    *,
    signed_at: float = NOW,
    key: str = KEY,
    signature: str | None = None,
    encoded: bool = False,
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A function URL (payload 2.0) event as Lambda hands it over."""
    raw = json.dumps(PAYLOAD).encode() if body is None else body
    timestamp = str(int(signed_at))
    signed = {
        "x-bamboohr-timestamp": timestamp,
        "x-bamboohr-signature": sign(raw, timestamp, key) if signature is None else signature,
    }
    return {
        "version": "2.0",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"} | (signed if headers is None else headers),
        "requestContext": {"http": {"method": method, "path": "/", "sourceIp": "192.0.2.1"}, "requestId": "r"},
        "body": base64.b64encode(raw).decode() if encoded else raw.decode("utf-8", "replace"),
        "isBase64Encoded": encoded,
    }


def call(event: dict[str, Any]) -> int:
    status: int = webhook.handler(event, CONTEXT)["statusCode"]
    return status


def test_a_signed_delivery_with_no_sync_running_starts_one_and_answers_202(aws: Aws) -> None:
    assert call(delivery()) == 202
    [started] = aws.executions()
    assert json.loads(started["input"]) == {"trigger": "webhook", "notBefore": "2027-01-15T08:00:30.000Z"}


def test_the_started_execution_waits_for_the_end_of_the_debounce_slot(aws: Aws) -> None:
    call(delivery())
    [started] = aws.executions()
    assert started["name"] == "webhook-1800000030"


def test_a_base64_encoded_body_is_verified_after_decoding(aws: Aws) -> None:
    assert call(delivery(encoded=True)) == 202
    assert len(aws.executions()) == 1


def test_an_iso_timestamp_header_is_accepted(aws: Aws) -> None:
    raw = json.dumps(PAYLOAD).encode()
    stamp = "2027-01-15T08:00:10Z"
    headers = {"x-bamboohr-timestamp": stamp, "x-bamboohr-signature": sign(raw, stamp)}
    assert call(delivery(raw, headers=headers)) == 202


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-bamboohr-timestamp": str(int(NOW))}, {"x-bamboohr-signature": "00" * 32}],
    ids=["no-headers", "no-signature", "no-timestamp"],
)
def test_an_unsigned_delivery_answers_401_and_starts_nothing(aws: Aws, headers: dict[str, str]) -> None:
    assert call(delivery(headers=headers)) == 401
    assert aws.executions() == []
    assert aws.lock() is None


def test_a_delivery_signed_with_another_key_answers_401(aws: Aws) -> None:
    assert call(delivery(key="not-the-key")) == 401
    assert aws.executions() == []


def test_a_body_changed_after_signing_answers_401(aws: Aws) -> None:
    event = delivery()
    event["body"] = event["body"].replace("4021", "4022")
    assert call(event) == 401


@pytest.mark.parametrize("age", [301, -301])
def test_a_delivery_signed_more_than_five_minutes_from_now_is_a_replay(aws: Aws, age: int) -> None:
    assert call(delivery(signed_at=NOW - age)) == 401
    assert aws.executions() == []


def test_a_body_over_one_mebibyte_answers_413_before_anything_else(aws: Aws) -> None:
    body = json.dumps(PAYLOAD | {"pad": "x" * (1024 * 1024)}).encode()
    assert call(delivery(body)) == 413
    assert aws.executions() == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps(PAYLOAD | {"type": "employee.exploded"}).encode(),
        json.dumps({"type": "employee.updated"}).encode(),
        json.dumps(PAYLOAD | {"data": {"employeeId": "../4021"}}).encode(),
        json.dumps(PAYLOAD | {"data": {"employeeId": True}}).encode(),
        json.dumps(PAYLOAD | {"data": {"employeeId": "\u0663"}}).encode(),
        json.dumps(PAYLOAD | {"data": {"employeeId": 7, "changedFields": "workEmail"}}).encode(),
        json.dumps({"employees": []}).encode(),
        json.dumps({"employees": [{"id": "x1", "changedFields": ["firstName"]}]}).encode(),
    ],
    ids=[
        "text",
        "array",
        "unknown-type",
        "no-data",
        "bad-id",
        "boolean-id",
        "non-ascii-digit-id",
        "fields-not-a-list",
        "no-employees",
        "field-based-bad-id",
    ],
)
def test_a_signed_body_that_is_not_the_documented_json_answers_400(aws: Aws, body: bytes) -> None:
    assert call(delivery(body)) == 400
    assert aws.executions() == []


def test_a_field_based_delivery_is_accepted_too_and_only_its_ids_are_logged(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BambooHR's Field-Based (employee_with_fields) format, from a webhook registered without choosing Event-Based."""
    logged = io.StringIO()
    monkeypatch.setattr(webhook.logger.registered_handler, "stream", logged)
    employees = [
        {"id": "4021", "action": "Updated", "changedFields": ["lastName"], "fields": {"lastName": "Okafor"}},
        {"id": "4022", "action": "Created", "changedFields": [], "fields": {"lastName": "Lindqvist"}},
    ]
    assert call(delivery(json.dumps({"employees": employees}).encode())) == 202
    assert len(aws.executions()) == 1
    assert '"employee_ids":["4021","4022"]' in logged.getvalue()
    assert "Okafor" not in logged.getvalue()


def test_a_signature_that_is_not_hex_answers_401(aws: Aws) -> None:
    assert call(delivery(signature="é" * 64)) == 401
    assert call(delivery(signature="zz" * 32)) == 401
    assert aws.executions() == []


def test_a_get_answers_405(aws: Aws) -> None:
    assert call(delivery(method="GET")) == 405


def test_a_delivery_while_an_execution_holds_the_lock_marks_it_pending(aws: Aws) -> None:
    holder = aws.execution_arn("scheduled-1")
    aws.hold_lock(holder)
    assert call(delivery()) == 202
    assert aws.lock() == {
        "pk": "lock",
        "owner": holder,
        "expires_at": "2099-01-01T00:00:00.000Z",
        "pending_at": "2027-01-15T08:00:10.000Z",
    }
    assert aws.executions() == []


def test_an_expired_lock_is_not_marked_and_an_execution_starts(aws: Aws) -> None:
    aws.hold_lock(aws.execution_arn("crashed"), expires_at="2027-01-15T08:00:09.999Z")
    assert call(delivery()) == 202
    assert "pending_at" not in (aws.lock() or {})
    assert len(aws.executions()) == 1


def test_a_lock_an_operator_command_holds_answers_503_so_bamboohr_retries(aws: Aws) -> None:
    aws.hold_lock("sync-one by operator@host")
    assert call(delivery()) == 503
    assert "pending_at" not in (aws.lock() or {})
    assert aws.executions() == []


def test_a_burst_of_200_deliveries_starts_one_execution(aws: Aws) -> None:
    statuses = {call(delivery()) for _ in range(200)}
    assert statuses == {202}
    assert len(aws.executions()) == 1


def test_deliveries_in_two_debounce_slots_start_two_executions(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    call(delivery())
    monkeypatch.setattr(webhook, "clock", lambda: NOW + 30)
    call(delivery(signed_at=NOW + 30))
    assert sorted(e["name"] for e in aws.executions()) == ["webhook-1800000030", "webhook-1800000060"]


def test_a_delivery_after_its_slots_execution_closed_is_still_accepted(aws: Aws) -> None:
    call(delivery())
    [started] = aws.executions()
    aws.stepfunctions.stop_execution(executionArn=started["executionArn"])
    assert call(delivery()) == 202


def test_a_placeholder_key_answers_503_and_names_the_secret_in_the_log_only(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged = io.StringIO()
    monkeypatch.setattr(webhook.logger.registered_handler, "stream", logged)
    aws.secrets.put_secret_value(SecretId=aws.secret_id, SecretString=json.dumps({"private_key": "REPLACE_ME"}))
    response = webhook.handler(delivery(), CONTEXT)
    assert response["statusCode"] == 503
    assert aws.secret_id not in response["body"]
    assert aws.secret_id in logged.getvalue()


def test_a_rotated_key_is_read_again_when_a_signature_fails(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    call(delivery())
    aws.secrets.put_secret_value(SecretId=aws.secret_id, SecretString=json.dumps({"private_key": "rotated"}))
    monkeypatch.setattr(webhook, "clock", lambda: NOW + 60)
    assert call(delivery(key="rotated", signed_at=NOW + 60)) == 202


def test_the_log_holds_the_employee_id_but_never_the_body_or_key(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    logged = io.StringIO()
    monkeypatch.setattr(webhook.logger.registered_handler, "stream", logged)
    call(delivery())
    call(delivery(key="not-the-key"))
    assert "the signature does not match" in logged.getvalue()
    assert '"employee_ids":["4021"]' in logged.getvalue()
    assert KEY not in logged.getvalue()
    assert "workEmail" not in logged.getvalue()
