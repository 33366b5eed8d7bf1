"""IAM is enforced offline: every statement template.yaml grants is needed by a real call, and a missing or
narrowed one fails the offline pipeline with a message naming the principal and the action, as AWS would.

Each case deploys a mutated copy of template.yaml into the shared moto server and runs a small drain that takes
every path that makes AWS calls (two batches, continue-as-new, the success report).
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bamboohr_moodle_sync.local import aws, iam_enforcement
from bamboohr_moodle_sync.local.iam_enforcement import AccessDenied
from bamboohr_moodle_sync.local.motoserver import LocalAws
from bamboohr_moodle_sync.local.pipeline import TEMPLATE, Options, Pipeline, running_pipeline

ROLES = ("StateMachineRole", "TaskRole", "TaskExecutionRole")

# Statements no offline path exercises, with the reason. Keep this list to a handful.
NOT_EXERCISED = {
    ("StateMachineRole", "Tracing"): "X-Ray segments are sent by the Step Functions service itself; the offline "
    "interpreter does not trace",
    ("StateMachineRole", "LogDelivery"): "execution-log delivery is configured by CreateStateMachine's logging "
    "configuration, which the offline deploy does not set up",
}

Mutation = Callable[[dict[str, Any]], None]


def statements_of(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    policies = template["Resources"][role]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def granted_statements() -> list[tuple[str, str]]:
    template = aws.load_template(TEMPLATE)
    return [(role, s["Sid"]) for role in ROLES for s in statements_of(template, role)]


def remove(role: str, sid: str) -> Mutation:
    def mutate(template: dict[str, Any]) -> None:
        for policy in template["Resources"][role]["Properties"]["Policies"]:
            statements = policy["PolicyDocument"]["Statement"]
            policy["PolicyDocument"]["Statement"] = [s for s in statements if s["Sid"] != sid]

    return mutate


def replace(role: str, sid: str, **changes: Any) -> Mutation:
    def mutate(template: dict[str, Any]) -> None:
        (statement,) = [s for s in statements_of(template, role) if s["Sid"] == sid]
        statement.update(changes)

    return mutate


def actions_of(role: str, sid: str) -> list[str]:
    (statement,) = [s for s in statements_of(aws.load_template(TEMPLATE), role) if s["Sid"] == sid]
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    text: str  # what an operator reads: the deploy error, or the execution's error and cause, SNS, task logs
    verdicts: tuple[iam_enforcement.Verdict, ...] = ()


Run = Callable[[Mutation], Outcome]


@pytest.fixture
def run_mutated(local_aws: LocalAws, tmp_path: Path) -> Run:
    """Deploys template.yaml changed by a mutation and drains a small backlog."""

    def run(mutation: Mutation) -> Outcome:
        template = copy.deepcopy(aws.load_template(TEMPLATE))
        mutation(template)
        stack = tmp_path / "stack"
        shutil.copytree(TEMPLATE.parent / "statemachine", stack / "statemachine")
        (stack / "template.yaml").write_text(json.dumps(template), encoding="utf-8")  # JSON is YAML
        options = Options(
            employees=3,
            batch_size=2,
            max_batches_per_execution=1,
            time_scale=0.001,
            output=tmp_path / "out",
            template=stack / "template.yaml",
        )
        try:
            with running_pipeline(options, local=local_aws) as pipeline:
                return drain(pipeline)
        except AccessDenied as exc:
            return Outcome(False, f"deployment refused: {exc}")

    return run


def drain(pipeline: Pipeline) -> Outcome:
    chain = pipeline.follow_chain(pipeline.start(), timeout_s=180)
    last = chain[-1]
    task_logs = [line for run in pipeline.tasks.runs for line in run.stderr_tail(3)]
    texts = [last.get("error", ""), last.get("cause", ""), *(m["Message"] for m in pipeline.sns_messages())]
    enforcement = iam_enforcement.current()
    verdicts = tuple(enforcement.verdicts) if enforcement else ()
    return Outcome(last["status"] == "SUCCEEDED", "\n".join([*texts, *task_logs]), verdicts)


def test_every_granted_statement_is_exercised_or_listed_with_a_reason() -> None:
    granted = granted_statements()
    assert len(granted) == len(set(granted)), "Sids must be unique within a role"
    assert set(NOT_EXERCISED) <= set(granted), "NOT_EXERCISED names a statement the template no longer has"
    assert len(NOT_EXERCISED) <= 5


def test_the_template_as_written_drains_with_every_call_allowed(run_mutated: Run) -> None:
    outcome = run_mutated(lambda template: None)
    assert outcome.succeeded, outcome.text
    assert [v for v in outcome.verdicts if v.decision != "allowed"] == []
    roles = {v.role.rsplit("-", 1)[-1] for v in outcome.verdicts}
    assert roles >= set(ROLES), "every role's calls were evaluated"


@pytest.mark.parametrize(
    ("role", "sid"),
    [case for case in granted_statements() if case not in NOT_EXERCISED],
    ids=lambda value: str(value),
)
def test_removing_a_statement_fails_the_run_naming_principal_and_action(run_mutated: Run, role: str, sid: str) -> None:
    outcome = run_mutated(remove(role, sid))
    assert not outcome.succeeded, f"the drain succeeded without {role}/{sid}"
    assert f"{aws.STACK_NAME}-{role}" in outcome.text, outcome.text
    assert any(action in outcome.text for action in actions_of(role, sid)), outcome.text


OTHER_CLUSTER = f"arn:aws:ecs:{aws.REGION}:{aws.ACCOUNT_ID}:cluster/another-cluster"
OTHER_TABLE = f"arn:aws:dynamodb:{aws.REGION}:{aws.ACCOUNT_ID}:table/another-table"


@pytest.mark.parametrize(
    ("mutation", "role", "action"),
    [
        pytest.param(
            replace("StateMachineRole", "RunBatchTask", Condition={"ArnEquals": {"ecs:cluster": OTHER_CLUSTER}}),
            "StateMachineRole",
            "ecs:RunTask",
            id="run-task-in-another-cluster",
        ),
        pytest.param(
            replace(
                "StateMachineRole",
                "PassTaskRoles",
                Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
            ),
            "StateMachineRole",
            "iam:PassRole",
            id="pass-role-to-another-service",
        ),
        pytest.param(
            replace(
                "StateMachineRole", "TagBatchTaskOnLaunch", Condition={"StringEquals": {"ecs:CreateAction": "Other"}}
            ),
            "StateMachineRole",
            "ecs:TagResource",
            id="tag-on-another-create-action",
        ),
        pytest.param(
            replace("TaskRole", "State", Resource=OTHER_TABLE),
            "TaskRole",
            "dynamodb:GetItem",
            id="state-on-another-table",
        ),
        pytest.param(
            replace("TaskExecutionRole", "WriteLogs", Resource={"Fn::Sub": "${TaskLogGroup.Arn}:log-stream:*"}),
            "TaskExecutionRole",
            "logs:CreateLogStream",
            id="first-deploy-log-stream-defect",
        ),
    ],
)
def test_narrowing_a_statement_fails_the_run_naming_principal_and_action(
    run_mutated: Run, mutation: Mutation, role: str, action: str
) -> None:
    outcome = run_mutated(mutation)
    assert not outcome.succeeded, f"the drain succeeded despite {action} being narrowed"
    assert f"{aws.STACK_NAME}-{role}" in outcome.text, outcome.text
    assert action in outcome.text, outcome.text


def test_a_task_role_ecs_cannot_assume_is_refused_at_run_task(run_mutated: Run) -> None:
    def trust_another_service(template: dict[str, Any]) -> None:
        trust = template["Resources"]["TaskRole"]["Properties"]["AssumeRolePolicyDocument"]
        trust["Statement"][0]["Principal"] = {"Service": "lambda.amazonaws.com"}

    outcome = run_mutated(trust_another_service)
    assert not outcome.succeeded
    assert "ECS was unable to assume the role" in outcome.text, outcome.text
    assert f"{aws.STACK_NAME}-TaskRole" in outcome.text, outcome.text
