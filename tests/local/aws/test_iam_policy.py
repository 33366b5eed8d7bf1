"""The offline IAM evaluator decides as AWS documents, and refuses to decide what it does not implement."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

from bamboohr_moodle_sync.local.aws.iam_policy import CannotDecide, Decision, Request, evaluate

ACCOUNT = "123456789012"
CLUSTER = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/sync"
OTHER_CLUSTER = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/other"
TASK_DEFINITION = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/stack-sync:3"
LOG_GROUP_ARN = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/ecs/stack-sync:*"  # what GetAtt LogGroup.Arn gives
STREAM = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/ecs/stack-sync:log-stream:batch/sync/0f1e2d3c"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


RUN_TASK_IN_CLUSTER = allow(
    "ecs:RunTask",
    f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/stack-sync:*",
    Condition={"ArnEquals": {"ecs:cluster": CLUSTER}},
)


def test_arn_equals_on_another_cluster_is_denied_where_moto_allows_it() -> None:
    request = Request("ecs:RunTask", TASK_DEFINITION, {"ecs:cluster": OTHER_CLUSTER})
    assert evaluate([policy(RUN_TASK_IN_CLUSTER)], request) is Decision.IMPLICIT_DENY
    moto_says = IAMPolicy(json.dumps(policy(RUN_TASK_IN_CLUSTER))).is_action_permitted(
        "ecs:RunTask", TASK_DEFINITION, incoming_condition_values={"ecs:cluster": OTHER_CLUSTER}
    )
    assert moto_says is PermissionResult.PERMITTED, "moto 5.2.5 ignores ArnEquals: the reason for StrictStatement"


def test_arn_equals_on_the_named_cluster_is_allowed() -> None:
    request = Request("ecs:RunTask", TASK_DEFINITION, {"ecs:cluster": CLUSTER})
    assert evaluate([policy(RUN_TASK_IN_CLUSTER)], request) is Decision.ALLOWED


def test_condition_key_missing_from_the_request_makes_the_statement_not_apply() -> None:
    request = Request("ecs:RunTask", TASK_DEFINITION, absent=frozenset({"ecs:cluster"}))
    assert evaluate([policy(RUN_TASK_IN_CLUSTER)], request) is Decision.IMPLICIT_DENY


def test_if_exists_passes_when_the_key_is_missing() -> None:
    statement = allow("ecs:RunTask", "*", Condition={"ArnEqualsIfExists": {"ecs:cluster": CLUSTER}})
    request = Request("ecs:RunTask", TASK_DEFINITION, absent=frozenset({"ecs:cluster"}))
    assert evaluate([policy(statement)], request) is Decision.ALLOWED


def test_failed_condition_on_one_allow_does_not_deny_what_another_allows() -> None:
    documents = [policy(RUN_TASK_IN_CLUSTER, allow("ecs:RunTask", "*"))]
    request = Request("ecs:RunTask", TASK_DEFINITION, {"ecs:cluster": OTHER_CLUSTER})
    assert evaluate(documents, request) is Decision.ALLOWED


def test_explicit_deny_wins_over_allow() -> None:
    deny = {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}
    request = Request("dynamodb:GetItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/state")
    assert evaluate([policy(allow("dynamodb:GetItem")), policy(deny)], request) is Decision.EXPLICIT_DENY


def test_actions_match_case_insensitively_resources_case_sensitively() -> None:
    table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/State"
    documents = [policy(allow("DynamoDB:getitem", table))]
    assert evaluate(documents, Request("dynamodb:GetItem", table)) is Decision.ALLOWED
    assert evaluate(documents, Request("dynamodb:GetItem", table.lower())) is Decision.IMPLICIT_DENY


def test_wildcards_are_star_and_question_mark_only() -> None:
    documents = [policy(allow("s3:GetObject", "arn:aws:s3:::bucket/a.b?"))]
    assert evaluate(documents, Request("s3:GetObject", "arn:aws:s3:::bucket/a.bc")) is Decision.ALLOWED
    assert evaluate(documents, Request("s3:GetObject", "arn:aws:s3:::bucket/aXbc")) is Decision.IMPLICIT_DENY


def test_not_action_and_not_resource() -> None:
    statement = {"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:sns:*:*:secret-topic"}
    documents = [policy(statement)]
    assert evaluate(documents, Request("sns:Publish", "arn:aws:sns:us-east-1:1:topic")) is Decision.ALLOWED
    assert evaluate(documents, Request("sns:Publish", "arn:aws:sns:us-east-1:1:secret-topic")) is Decision.IMPLICIT_DENY
    assert evaluate(documents, Request("iam:PassRole", "arn:aws:iam::1:role/x")) is Decision.IMPLICIT_DENY


def test_string_equals_on_passed_to_service() -> None:
    statement = allow(
        "iam:PassRole", "*", Condition={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    )
    role = f"arn:aws:iam::{ACCOUNT}:role/task"
    to_ecs = Request("iam:PassRole", role, {"iam:PassedToService": "ecs-tasks.amazonaws.com"})
    to_lambda = Request("iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"})
    assert evaluate([policy(statement)], to_ecs) is Decision.ALLOWED
    assert evaluate([policy(statement)], to_lambda) is Decision.IMPLICIT_DENY


def test_the_log_group_arn_with_log_stream_appended_never_matches_a_stream() -> None:
    """The first-deploy defect: GetAtt LogGroup.Arn already ends in ':*'."""
    write = ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert evaluate(
        [policy(allow(write, f"{LOG_GROUP_ARN}:log-stream:*"))], Request("logs:CreateLogStream", STREAM)
    ) is (Decision.IMPLICIT_DENY)
    assert evaluate([policy(allow(write, LOG_GROUP_ARN))], Request("logs:CreateLogStream", STREAM)) is Decision.ALLOWED


def test_trust_policy_matches_the_service_principal_and_source_account() -> None:
    trust = policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    )
    role = f"arn:aws:iam::{ACCOUNT}:role/task"

    def assume(service: str, account: str) -> Decision:
        request = Request("sts:AssumeRole", role, {"aws:SourceAccount": account}, {"Service": service})
        return evaluate([trust], request)

    assert assume("ecs-tasks.amazonaws.com", ACCOUNT) is Decision.ALLOWED
    assert assume("states.amazonaws.com", ACCOUNT) is Decision.IMPLICIT_DENY
    assert assume("ecs-tasks.amazonaws.com", "999999999999") is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    "condition",
    [
        {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
        {"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}},
        {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["team"]}},  # a set qualifier on a negated operator
        {"StringNotEquals": {"aws:PrincipalTag/team": "sync"}},  # negated, and the request does not carry the key
    ],
    ids=["numeric", "date", "ip", "set-operator", "negated-missing-key"],
)
def test_what_the_evaluator_does_not_implement_is_never_silently_allowed(condition: dict[str, Any]) -> None:
    keys = frozenset(key for entries in condition.values() for key in entries)
    request = Request("sns:Publish", "arn:aws:sns:x", absent=keys)  # modelled, so only the operator is in question
    with pytest.raises(CannotDecide):
        evaluate([policy(allow("sns:Publish", "*", Condition=condition))], request)


@pytest.mark.parametrize(
    "statement",
    [
        allow("dynamodb:GetItem", "*", Condition={"ForAllValues:StringEquals": {"dynamodb:Attributes": ["pk"]}}),
        {
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/env": "x"}},
        },
        {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ],
    ids=["allow-on-attributes", "deny-on-principal-tag", "deny-on-secure-transport"],
)
def test_a_condition_on_a_key_the_request_does_not_model_cannot_be_decided(statement: dict[str, Any]) -> None:
    table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/state"
    documents = [policy(allow("dynamodb:GetItem", "*"), statement)]
    with pytest.raises(CannotDecide, match="is not modelled with"):
        evaluate(documents, Request("dynamodb:GetItem", table, {"dynamodb:LeadingKeys": ["lock"]}))


def test_condition_keys_compare_case_insensitively() -> None:
    statement = allow("ecs:RunTask", "*", Condition={"ArnEquals": {"ECS:Cluster": CLUSTER}})
    assert evaluate([policy(statement)], Request("ecs:RunTask", TASK_DEFINITION, {"ecs:cluster": CLUSTER})) is (
        Decision.ALLOWED
    )


LOCK_ONLY = allow(
    "dynamodb:UpdateItem", "*", Condition={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["lock"]}}
)


def test_for_all_values_allows_only_the_listed_partition_keys() -> None:
    table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/state"
    lock = Request("dynamodb:UpdateItem", table, {"dynamodb:LeadingKeys": ["lock"]})
    watermark = Request("dynamodb:UpdateItem", table, {"dynamodb:LeadingKeys": ["watermark"]})
    assert evaluate([policy(LOCK_ONLY)], lock) is Decision.ALLOWED
    assert evaluate([policy(LOCK_ONLY)], watermark) is Decision.IMPLICIT_DENY


def test_for_all_values_holds_on_a_missing_key_as_aws_documents() -> None:
    """AWS's documented pitfall: with no value for the key, ForAllValues is true (pair it with a Null check)."""
    table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/state"
    request = Request("dynamodb:UpdateItem", table, absent=frozenset({"dynamodb:LeadingKeys"}))
    assert evaluate([policy(LOCK_ONLY)], request) is Decision.ALLOWED


def test_for_any_value_needs_one_matching_value() -> None:
    statement = allow("ecs:TagResource", "*", Condition={"ForAnyValue:StringLike": {"aws:TagKeys": ["team*"]}})
    tagged = Request("ecs:TagResource", "arn:x", {"aws:TagKeys": ["owner", "team-sync"]})
    untagged = Request("ecs:TagResource", "arn:x", {"aws:TagKeys": ["owner"]})
    assert evaluate([policy(statement)], tagged) is Decision.ALLOWED
    assert evaluate([policy(statement)], untagged) is Decision.IMPLICIT_DENY
    no_tags = Request("ecs:TagResource", "arn:x", absent=frozenset({"aws:TagKeys"}))
    assert evaluate([policy(statement)], no_tags) is Decision.IMPLICIT_DENY
