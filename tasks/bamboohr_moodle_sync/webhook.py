"""The BambooHR webhook receiver: a Lambda behind a function URL that turns a signed delivery into a sync.

A delivery is checked (size, signature, age, shape) before anything is written; a valid one answers 202 and
either asks the execution that holds the lock for one more window (``pending_at`` on the lock item) or starts
the execution of the current debounce slot. The sync itself still reads BambooHR's change list: the payload's
employee ids are only logged. Contract and reasons: docs/webhooks.md; the lock item: docs/contract.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

MAX_BODY_BYTES = 1024 * 1024
MAX_AGE_SECONDS = 300  # a delivery signed more than 5 minutes from now is a replay
EVENT_TYPES = frozenset({"employee.created", "employee.updated", "employee.deleted"})
SIGNATURE = re.compile(r"[0-9a-f]{64}")  # a hex HMAC-SHA256
PLACEHOLDER = "REPLACE_ME"
KEY_REFRESH_SECONDS = 60  # a signature the cached key rejects re-reads a key older than this (rotation)

logger = Logger(service="bamboohr-webhook")
clock: Callable[[], float] = time.time


class Rejected(Exception):
    """A delivery answered with ``status`` and a short reason; never carries the body or the key."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Delivery:
    event_type: str  # an event-based webhook's type, or "employee_with_fields" for a field-based one
    employee_ids: tuple[str, ...]


def iso(epoch: float) -> str:
    """The format Step Functions' ``$fromMillis`` gives, so that the lock's times compare as strings."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}Z"


def raw_body(event: LambdaFunctionUrlEvent) -> bytes:
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as error:
        raise Rejected(400, "the body is not valid base64") from error


def signed_at(timestamp: str) -> float:
    """``X-BambooHR-Timestamp``: Unix seconds, or ISO-8601 with a zone."""
    try:
        return float(timestamp)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError as error:
        raise Rejected(401, "the timestamp header is not a time") from error
    if parsed.tzinfo is None:
        raise Rejected(401, "the timestamp header has no time zone")
    return parsed.timestamp()


def sign(key: str, body: bytes, timestamp: str) -> str:
    """``X-BambooHR-Signature``: the hex HMAC-SHA256, keyed with the private key, of the body then the timestamp."""
    return hmac.new(key.encode("utf-8"), body + timestamp.encode("utf-8"), hashlib.sha256).hexdigest()


def signature_matches(key: str, body: bytes, timestamp: str, signature: str) -> bool:
    given = signature.strip().lower()
    return SIGNATURE.fullmatch(given) is not None and hmac.compare_digest(sign(key, body, timestamp), given)


def parse(body: bytes) -> Delivery:
    """One of BambooHR's two documented JSON payloads: an Event-Based webhook's ``{"type", "timestamp", "data":
    {"companyId", "employeeId", "changedFields"}}``, or a Field-Based (``employee_with_fields``) one's ``{"employees":
    [{"id", "action", "timestamp", "changedFields", "fields"}]}``. Only the ids are kept: the sync reads BambooHR."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise Rejected(400, "the body is not JSON") from error
    if isinstance(payload, dict) and "employees" in payload and "type" not in payload:
        return _field_based(payload["employees"])
    if not isinstance(payload, dict) or payload.get("type") not in EVENT_TYPES:
        raise Rejected(400, f"the body is not an event of {sorted(EVENT_TYPES)} nor a field-based delivery")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise Rejected(400, "the event has no data object")
    employee_id = _employee_id(data.get("employeeId"), "data.employeeId")
    _field_names(data.get("changedFields", []), "data.changedFields")
    return Delivery(str(payload["type"]), (employee_id,))


def _field_based(employees: Any) -> Delivery:
    if not isinstance(employees, list) or not employees or not all(isinstance(e, dict) for e in employees):
        raise Rejected(400, "employees is not a list of employee objects")
    for employee in employees:
        _field_names(employee.get("changedFields", []), "employees[].changedFields")
    return Delivery("employee_with_fields", tuple(_employee_id(e.get("id"), "employees[].id") for e in employees))


def _employee_id(value: Any, where: str) -> str:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | str)
        or not (str(value).isascii() and str(value).isdigit())
    ):
        raise Rejected(400, f"{where} is not an employee id")
    return str(value)


def _field_names(value: Any, where: str) -> None:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise Rejected(400, f"{where} is not a list of field names")


@dataclass
class SigningKey:
    """The webhook's private key from Secrets Manager, cached; re-read when it may have been rotated."""

    secrets: Any
    secret_id: str
    value: str | None = None
    read_at: float = -math.inf

    def current(self, now: float, refresh: bool = False) -> str:
        if self.value is None or (refresh and now - self.read_at >= KEY_REFRESH_SECONDS):
            secret = json.loads(self.secrets.get_secret_value(SecretId=self.secret_id)["SecretString"])
            key = secret.get("private_key") if isinstance(secret, dict) else None
            if not isinstance(key, str) or not key or key == PLACEHOLDER:
                logger.error(
                    "the webhook secret holds no private_key yet (docs/webhooks.md)", extra={"secret": self.secret_id}
                )
                raise Rejected(503, "the receiver is not configured yet")
            self.value, self.read_at = key, now
        return self.value


def verify(key: SigningKey, body: bytes, headers: Mapping[str, str], now: float) -> None:
    timestamp, signature = headers.get("x-bamboohr-timestamp"), headers.get("x-bamboohr-signature")
    if not timestamp or not signature:
        raise Rejected(401, "unsigned delivery")
    matches = signature_matches(key.current(now), body, timestamp, signature)
    if not matches and not signature_matches(key.current(now, refresh=True), body, timestamp, signature):
        raise Rejected(401, "the signature does not match")
    if abs(now - signed_at(timestamp)) > MAX_AGE_SECONDS:
        raise Rejected(401, "the delivery was signed more than 5 minutes from now (replay)")


@dataclass
class Trigger:
    """Makes sure a window starts after ``now``: the running execution's next one, or a new execution's first."""

    dynamodb: Any
    stepfunctions: Any
    table: str
    state_machine_arn: str
    debounce_seconds: int

    @property
    def execution_prefix(self) -> str:
        return self.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":"

    def __call__(self, now: float) -> str:
        at = iso(now)
        try:
            # Serialises with Release Lock's conditional delete on the same item: either the holder sees it
            # and runs another window, or the lock is gone and this starts an execution.
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": "lock"}},
                UpdateExpression="SET pending_at = :at",
                ConditionExpression="expires_at > :at AND begins_with(#owner, :execution)",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":at": {"S": at}, ":execution": {"S": self.execution_prefix}},
            )
            return "pending"
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        lock = self.dynamodb.get_item(TableName=self.table, Key={"pk": {"S": "lock"}}, ConsistentRead=True)
        expires = lock.get("Item", {}).get("expires_at", {}).get("S", "")
        if expires > at:
            # An operator's sync-one holds it for a few seconds and would drop a pending mark: BambooHR retries.
            raise Rejected(503, "the lock is held by an operator command; retry")
        return self.start(now)

    def start(self, now: float) -> str:
        """Starts the execution of the debounce slot ``now`` falls in; it waits until the slot ends."""
        slot_end = math.ceil(now / self.debounce_seconds) * self.debounce_seconds
        execution_input = json.dumps({"trigger": "webhook", "notBefore": iso(slot_end)}, sort_keys=True)
        try:
            self.stepfunctions.start_execution(
                stateMachineArn=self.state_machine_arn, name=f"webhook-{slot_end}", input=execution_input
            )
        except ClientError as error:
            # Same name and input while it runs is the same execution; once it has closed, it took the lock
            # after this delivery arrived or found it held by an execution that did (docs/webhooks.md).
            if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
            return "debounced"
        return "started"


@dataclass
class Receiver:
    key: SigningKey
    trigger: Trigger

    def __call__(self, event: LambdaFunctionUrlEvent, now: float) -> dict[str, Any]:
        try:
            if event.request_context.http.method.upper() != "POST":
                raise Rejected(405, "POST only")
            body = raw_body(event)
            if len(body) > MAX_BODY_BYTES:
                raise Rejected(413, f"the body is over {MAX_BODY_BYTES} bytes")
            verify(self.key, body, {name.lower(): value for name, value in (event.headers or {}).items()}, now)
            delivery = parse(body)
            outcome = self.trigger(now)
        except Rejected as rejected:
            logger.warning("delivery rejected", extra={"status": rejected.status, "reason": rejected.reason})
            return answer(rejected.status, rejected.reason)
        logger.info(
            "delivery accepted",
            extra={"event_type": delivery.event_type, "employee_ids": delivery.employee_ids, "trigger": outcome},
        )
        return answer(202, outcome)


def answer(status: int, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"message": message}),
    }


def receiver_from_environment(environ: Mapping[str, str] = os.environ) -> Receiver:
    trigger = Trigger(
        boto3.client("dynamodb"),
        boto3.client("stepfunctions"),
        environ["STATE_TABLE"],
        environ["STATE_MACHINE_ARN"],
        max(1, int(environ.get("WEBHOOK_DEBOUNCE_SECONDS", "30"))),
    )
    return Receiver(SigningKey(boto3.client("secretsmanager"), environ["WEBHOOK_SECRET_ID"]), trigger)


_receiver: Receiver | None = None


def reset() -> None:
    """Forgets the cached clients and key (tests, or a new environment)."""
    global _receiver
    _receiver = None


@logger.inject_lambda_context(clear_state=True)
@event_source(data_class=LambdaFunctionUrlEvent)
def handler(event: LambdaFunctionUrlEvent, context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry point: a function URL (payload 2.0) event in, a status code out."""
    global _receiver
    if _receiver is None:
        _receiver = receiver_from_environment()
    return _receiver(event, clock())
