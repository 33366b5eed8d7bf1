"""Webhooks offline: the real receiver with the WebhookRole's credentials against the local AWS (IAM enforced as
on AWS), served as a local HTTP endpoint that the BambooHR emulator's registered webhook posts to; and the demo
that edits employees after the first drain and measures each edit's time to Moodle."""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent

from bamboohr_moodle_sync import webhook
from bamboohr_moodle_sync.local.aws import iam_enforcement
from bamboohr_moodle_sync.local.bamboohr.emulator import BambooHREmulator
from bamboohr_moodle_sync.local.bamboohr.webhooks import WebhookSender, payload, signed_headers
from bamboohr_moodle_sync.local.pipeline.offline import Pipeline

LAMBDA = "lambda.amazonaws.com"
FORGED_KEY = "not-the-webhook-key"  # what --fault webhook-bad-signature signs with


def function_url_event(method: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The payload 2.0 event a function URL hands the receiver (headers lower-cased, as Lambda gives them)."""
    return {
        "version": "2.0",
        "rawPath": "/",
        "headers": {name.lower(): value for name, value in headers.items()},
        "requestContext": {"http": {"method": method, "path": "/"}},
        "body": body.decode("utf-8", "replace"),
        "isBase64Encoded": False,
    }


@dataclass
class LocalWebhooks:
    """The deployed receiver (WebhookFunction's environment and role) and the key BambooHR signs with."""

    receiver: webhook.Receiver
    key: str

    def deliver(self, employee_id: str, key: str | None = None) -> int:
        """One delivery straight to the receiver, as the function URL would pass it; its status code."""
        body = payload(employee_id, "employee.updated")
        event = function_url_event("POST", signed_headers(body, self.key if key is None else key), body)
        status: int = self.receiver(LambdaFunctionUrlEvent(event), webhook.clock())["statusCode"]
        return status


def local_webhooks(pipeline: Pipeline, debounce_seconds: int = 1) -> LocalWebhooks:
    deployment = pipeline.deployment
    enforcement = iam_enforcement.current()
    role_arn = deployment.roles["WebhookRole"]
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
    return LocalWebhooks(receiver, key)


@contextmanager
def serving(receiver: webhook.Receiver) -> Iterator[str]:
    """The receiver behind a local HTTP endpoint (the function URL's stand-in); yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            event = function_url_event("POST", dict(self.headers.items()), body)
            answer = receiver(LambdaFunctionUrlEvent(event), webhook.clock())
            data = str(answer.get("body", "")).encode("utf-8")
            self.send_response(int(answer["statusCode"]))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Edit:
    """One change the demo makes in BambooHR, and how to tell Moodle has it (the accounts with that idnumber)."""

    what: str
    apply: Callable[[BambooHREmulator], str]  # returns the employee id
    done: Callable[[list[dict[str, Any]]], bool]


def updated(change: Callable[..., None], employee_id: str, **fields: str) -> str:
    change(employee_id, **fields)
    return employee_id


def synced_employees(pipeline: Pipeline) -> list[str]:
    """Active employees with an active Moodle account."""
    moodle, bamboohr = pipeline.moodle, pipeline.bamboohr
    assert moodle is not None and bamboohr is not None
    active = {str(u["idnumber"]) for u in moodle.emulator.users() if u.get("idnumber") and not u.get("suspended")}
    return [
        str(e["id"]) for e in bamboohr.emulator.employees() if e.get("status") == "Active" and str(e["id"]) in active
    ]


def demo_edits(pipeline: Pipeline) -> list[Edit]:
    """A new hire, a rename and a leaver, on employees the first drain synced."""
    renamed, leaver = synced_employees(pipeline)[:2]
    return [
        Edit(
            "new hire",
            lambda e: e.hire(firstName="Webhook", lastName="Newhire", workEmail="webhook.newhire@example.com"),
            lambda users: [bool(u.get("suspended")) for u in users] == [False],
        ),
        Edit(
            f"rename of employee {renamed}",
            lambda e: updated(e.update, renamed, lastName="Renamed-By-Webhook"),
            lambda users: [u["lastname"] for u in users] == ["Renamed-By-Webhook"],
        ),
        Edit(
            f"termination of employee {leaver}",
            lambda e: updated(e.terminate, leaver),
            lambda users: [bool(u.get("suspended")) for u in users] == [True],
        ),
    ]


def run_demo(
    pipeline: Pipeline, forged: frozenset[int] = frozenset(), out: TextIO = sys.stderr, timeout_s: float = 300
) -> list[float]:
    """Registers the webhook, makes each edit (the ``forged`` ones, counted from 1, signed with another key),
    waits for Moodle to show it and returns the seconds each took; then waits for every execution to end."""
    bamboohr, moodle = pipeline.bamboohr, pipeline.moodle
    assert bamboohr is not None and moodle is not None
    local = local_webhooks(pipeline, debounce_seconds=2)
    latencies: list[float] = []
    with serving(local.receiver) as url:
        print(f"Webhook receiver: {url} (BambooHR's webhook posts there, signed)", file=out)
        for number, edit in enumerate(demo_edits(pipeline), 1):
            bamboohr.emulator.webhook = WebhookSender(url, FORGED_KEY if number in forged else local.key)
            bamboohr.emulator.advance(60)
            started = time.monotonic()
            employee_id = edit.apply(bamboohr.emulator)
            status = bamboohr.emulator.webhook.deliveries[-1].status
            if status != 202:
                print(f"  {edit.what}: delivery refused with {status}; the schedule picks the change up", file=out)
                continue
            while not edit.done(moodle.emulator.users_by_idnumber(employee_id)):
                if time.monotonic() - started > timeout_s:
                    raise TimeoutError(f"{edit.what} did not reach Moodle within {timeout_s:.0f} s")
                time.sleep(0.05)
            latencies.append(time.monotonic() - started)
            print(f"  {edit.what}: delivery 202, in Moodle {latencies[-1]:.1f} s after the change", file=out)
        bamboohr.emulator.webhook = None
    for execution in pipeline.client("stepfunctions").list_executions(
        stateMachineArn=pipeline.deployment.state_machine_arn
    )["executions"]:
        pipeline.wait(execution["executionArn"], timeout_s)
    if latencies:
        print(
            f"change to Moodle: median {statistics.median(latencies):.1f} s, max {max(latencies):.1f} s "
            f"over {len(latencies)} webhook-triggered edits",
            file=out,
        )
    return latencies
