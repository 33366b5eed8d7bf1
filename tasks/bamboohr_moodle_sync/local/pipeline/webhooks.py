"""Webhooks offline: BambooHR's side (the documented payload, signed with the webhook's key) delivered to the
real receiver, which calls the local AWS with the WebhookRole's credentials, so IAM is enforced on it as on AWS."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent

from bamboohr_moodle_sync import webhook
from bamboohr_moodle_sync.local.aws import iam_enforcement
from bamboohr_moodle_sync.local.pipeline.offline import Pipeline

LAMBDA = "lambda.amazonaws.com"


def payload(employee_id: str, event_type: str = "employee.updated", changed: tuple[str, ...] = ()) -> bytes:
    """What BambooHR posts for one changed employee (shared/reference/bamboohr.md, "Webhooks")."""
    event = {
        "type": event_type,
        "timestamp": webhook.iso(time.time()),
        "data": {"companyId": 1, "employeeId": employee_id, "changedFields": list(changed)},
    }
    return json.dumps(event).encode("utf-8")


def function_url_event(body: bytes, key: str, signed_at: float | None = None) -> dict[str, Any]:
    """The payload 2.0 event a function URL hands the receiver for a POST signed with ``key``."""
    stamp = str(int(time.time() if signed_at is None else signed_at))
    return {
        "version": "2.0",
        "rawPath": "/",
        "headers": {
            "content-type": "application/json",
            "x-bamboohr-timestamp": stamp,
            "x-bamboohr-signature": webhook.sign(key, body, stamp),
        },
        "requestContext": {"http": {"method": "POST", "path": "/"}},
        "body": body.decode("utf-8"),
        "isBase64Encoded": False,
    }


@dataclass
class LocalWebhooks:
    """The deployed receiver (WebhookFunction's environment and role) and the key BambooHR signs with."""

    receiver: webhook.Receiver
    key: str
    state_machine_arn: str

    def deliver(self, employee_id: str, key: str | None = None) -> int:
        event = function_url_event(payload(employee_id), self.key if key is None else key)
        status: int = self.receiver(LambdaFunctionUrlEvent(event), webhook.clock())["statusCode"]
        return status

    def started(self, name: str) -> str:
        """The ARN of the execution the receiver started as ``name``."""
        return self.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def local_webhooks(pipeline: Pipeline, debounce_seconds: int = 1) -> LocalWebhooks:
    deployment = pipeline.deployment
    role_arn = deployment.roles["WebhookRole"]
    enforcement = iam_enforcement.current()
    environment = enforcement.assume(role_arn, LAMBDA, "webhook").environment() if enforcement else {}
    session = pipeline.local.session()

    def client(service: str) -> Any:
        return session.client(  # type: ignore[call-overload]
            service,
            endpoint_url=pipeline.local.endpoint_url,
            aws_access_key_id=environment.get("AWS_ACCESS_KEY_ID", "testing"),
            aws_secret_access_key=environment.get("AWS_SECRET_ACCESS_KEY", "testing"),
            aws_session_token=environment.get("AWS_SESSION_TOKEN"),
        )

    trigger = webhook.Trigger(
        client("dynamodb"),
        client("stepfunctions"),
        deployment.table_name,
        deployment.state_machine_arn,
        debounce_seconds,
    )
    secret = pipeline.client("secretsmanager").get_secret_value(SecretId=deployment.webhook_secret_arn)
    key = json.loads(secret["SecretString"])["private_key"]
    receiver = webhook.Receiver(webhook.SigningKey(client("secretsmanager"), deployment.webhook_secret_arn), trigger)
    return LocalWebhooks(receiver, key, deployment.state_machine_arn)
