"""The operator policy template.yaml exports is least privilege for the operator's commands.

Operators are not enforced offline (only the template's principals are), so this test runs each command in
process against moto and the emulators, records every AWS call it makes, adds the calls only ``--stack``
makes (DescribeStacks, the secrets, the executions), and evaluates them with the project's IAM evaluator
against the policy as CloudFormation would resolve it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.client import BaseClient

from bamboohr_moodle_sync.local.aws import stack
from bamboohr_moodle_sync.local.aws.iam_enforcement import Enforcement
from bamboohr_moodle_sync.local.aws.iam_policy import Decision, Request, evaluate
from bamboohr_moodle_sync.local.pipeline.offline import TEMPLATE
from bamboohr_moodle_sync.state import Lock, lock_time
from tests.unit.test_operations import guard_stopped_window, operate, put_lock
from tests.world import World

PARAMETERS = {"ImageUri": "local", "BambooHRCompanyDomain": "acme", "MoodleUrl": "https://moodle.example"}
LOCAL_TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/state"


@pytest.fixture(scope="module")
def resolved() -> tuple[dict[str, Any], stack.Resolver]:
    template = stack.load_template(TEMPLATE)
    resolver = stack.Resolver(template, stack._parameters(template, PARAMETERS))
    stack.local_names(template, resolver)
    for logical in ("BambooHRSecret", "MoodleSecret"):  # Ref of a secret is its ARN once created
        resolver.refs[logical] = f"arn:aws:secretsmanager:{stack.REGION}:{stack.ACCOUNT_ID}:secret:{logical}-AbCdEf"
    policy = resolver.resolve(template["Resources"]["OperatorPolicy"]["Properties"]["PolicyDocument"])
    return policy, resolver


@contextmanager
def recorded_calls(world: World) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    calls: list[tuple[str, str, dict[str, Any]]] = []
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def record(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls.append((client.meta.service_model.service_name, operation, params))
        return original(client, operation, params)

    with world.monkeypatch.context() as patch:
        patch.setattr(BaseClient, "_make_api_call", record)
        yield calls


def every_operator_request(world: World, resolver: stack.Resolver) -> list[Request]:
    """The IAM requests of every command, each run where it acts (approve, reset, unlock, sync-one succeed)."""
    world.bamboohr.emulator.hire(firstName="Rae", lastName="J", workEmail="rej@acme.test", status="Active")
    world.moodle.emulator.reject_user(username="rej@acme.test")  # a retry the stopped window carries, reset returns
    leavers_window = guard_stopped_window(world, settled=True)
    with recorded_calls(world) as recorder:
        for argv in (
            ["status"],
            ["preview"],
            ["approve", "--yes"],
            ["sync-one", leavers_window[0]],
            ["reset", "--since", "2026-01-01T00:00:00Z", "--yes"],
        ):
            assert operate(world, *argv, MAX_SUSPENSIONS="5").code == 0, argv
        put_lock(world, Lock("arn:aws:states:us-east-1:1:execution:x-sync:old", lock_time(time.time() - 60)))
        assert operate(world, "unlock", "--yes").code == 0
        calls = list(recorder)
    enforcement = Enforcement(stack.ACCOUNT_ID, stack.REGION)
    table = resolver.attrs["StateTable"]["Arn"]
    requests = [
        Request(r.action, table if r.resource == LOCAL_TABLE else r.resource, r.context)
        for service, operation, params in calls
        for r in enforcement.requests_for(service, operation, params)
    ]
    machine = resolver.refs["SyncStateMachine"]
    execution = machine.replace(":stateMachine:", ":execution:") + ":manual-1"
    return [
        *requests,  # and what only --stack calls: the stack, the secrets, the executions
        Request("cloudformation:DescribeStacks", resolver.pseudo()["AWS::StackId"]),
        Request("secretsmanager:GetSecretValue", resolver.refs["BambooHRSecret"]),
        Request("secretsmanager:GetSecretValue", resolver.refs["MoodleSecret"]),
        Request("states:ListExecutions", machine),
        Request("states:DescribeExecution", execution),
        Request("states:StartExecution", machine),
    ]


def test_the_operator_policy_allows_every_call_of_the_operators_commands(
    world: World, resolved: tuple[dict[str, Any], stack.Resolver]
) -> None:
    policy, resolver = resolved
    denied = [r for r in every_operator_request(world, resolver) if evaluate([policy], r) is not Decision.ALLOWED]
    assert denied == []


def test_every_action_the_operator_policy_grants_is_one_a_command_needs(
    world: World, resolved: tuple[dict[str, Any], stack.Resolver]
) -> None:
    policy, resolver = resolved
    requests = every_operator_request(world, resolver)
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            narrowed = {"Version": policy["Version"], "Statement": [{**statement, "Action": action}]}
            assert any(evaluate([narrowed], r) is Decision.ALLOWED for r in requests), (statement["Sid"], action)
