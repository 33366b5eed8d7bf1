"""The SAM template: what it deploys, what each role may touch, and its agreement with the definition."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bamboohr_moodle_sync.local.aws import stack
from bamboohr_moodle_sync.operations.target import STACK_PARAMETERS
from tests.unit.sam_template import (
    DEFINITION_PATH,
    ROOT,
    STATE_MACHINE,
    TEMPLATE_PATH,
    definition_text,
    load_template,
    placeholders,
)

# Actions that take no resource ARN; the only ones allowed on "*".
LOG_DELIVERY_AND_XRAY = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
}
CONTRACT_ENVIRONMENT = {
    "STATE_TABLE",
    "BATCH_SIZE",
    "BAMBOOHR_SECRET_ID",
    "MOODLE_SECRET_ID",
    "BAMBOOHR_COMPANY_DOMAIN",
    "MOODLE_URL",
    "MOODLE_AUTH",
    "MOODLE_MAX_INPUT_VARS",
    "MOODLE_TIMEOUT_SECONDS",
    "MAX_SUSPENSIONS",
    "MAX_SUSPENSIONS_PERCENT",
    "MAX_COHORT_REMOVALS",
    "STACK_NAME",
    "INITIAL_SINCE",
    "SYNC_TIMEZONE",
    "PROVISION_DAYS_BEFORE_START",  # only when the parameter is set
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def resource(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"][logical_id]
    return found


def statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    policies = resource(template, role)["Properties"]["Policies"]
    return [statement for policy in policies for statement in policy["PolicyDocument"]["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants(template: dict[str, Any], role: str, action: str) -> list[Any]:
    """Every Resource entry of the role's Allow statements that include the action."""
    return [
        target
        for statement in statements(template, role)
        if statement["Effect"] == "Allow" and action in as_list(statement["Action"])
        for target in as_list(statement["Resource"])
    ]


def substitutions(template: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = resource(template, STATE_MACHINE)["Properties"]["DefinitionSubstitutions"]
    return found


def test_state_machine_is_defined_by_the_asl_file(template: dict[str, Any]) -> None:
    uri = resource(template, STATE_MACHINE)["Properties"]["DefinitionUri"]
    assert (ROOT / uri).resolve() == DEFINITION_PATH


def test_every_placeholder_in_the_definition_has_a_substitution(template: dict[str, Any]) -> None:
    assert placeholders(definition_text()) - set(substitutions(template)) == set()


def test_every_substitution_is_used_by_the_definition(template: dict[str, Any]) -> None:
    assert set(substitutions(template)) - placeholders(definition_text()) == set()


@pytest.mark.parametrize(
    ("substitution", "action", "expected_grant"),
    [
        ("StateTable", "dynamodb:UpdateItem", {"Fn::GetAtt": ["StateTable", "Arn"]}),
        ("StateTable", "dynamodb:GetItem", {"Fn::GetAtt": ["StateTable", "Arn"]}),
        ("StateTable", "dynamodb:DeleteItem", {"Fn::GetAtt": ["StateTable", "Arn"]}),
        ("TopicArn", "sns:Publish", {"Ref": "NotificationTopic"}),
        (
            "ClusterArn",
            "ecs:DescribeTasks",
            {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/${Cluster}/*"},
        ),
        (
            "ClusterArn",
            "ecs:StopTask",
            {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/${Cluster}/*"},
        ),
    ],
)
def test_state_machine_role_grants_what_the_definition_touches(
    template: dict[str, Any], substitution: str, action: str, expected_grant: Any
) -> None:
    assert substitution in substitutions(template)
    assert grants(template, "StateMachineRole", action) == [expected_grant]


def test_run_task_is_granted_on_the_task_definition_family(template: dict[str, Any]) -> None:
    family = resource(template, "TaskDefinition")["Properties"]["Family"]["Fn::Sub"]
    assert substitutions(template)["TaskDefinitionArn"] == {"Ref": "TaskDefinition"}
    [granted] = grants(template, "StateMachineRole", "ecs:RunTask")
    assert granted["Fn::Sub"].endswith(f":task-definition/{family}:*")


def test_continue_as_new_is_granted_on_this_state_machine_only(template: dict[str, Any]) -> None:
    name = resource(template, STATE_MACHINE)["Properties"]["Name"]["Fn::Sub"]
    [granted] = grants(template, "StateMachineRole", "states:StartExecution")
    assert granted["Fn::Sub"].endswith(f":stateMachine:{name}")


def test_run_task_sync_rule_is_the_managed_one(template: dict[str, Any]) -> None:
    granted = grants(template, "StateMachineRole", "events:PutRule")
    assert [target["Fn::Sub"].rsplit(":", 1)[-1] for target in granted] == ["rule/StepFunctionsGetEventsForECSTaskRule"]


def test_state_machine_role_passes_only_the_task_roles_to_ecs(template: dict[str, Any]) -> None:
    [statement] = [s for s in statements(template, "StateMachineRole") if s["Action"] == "iam:PassRole"]
    assert statement["Resource"] == [{"Fn::GetAtt": ["TaskRole", "Arn"]}, {"Fn::GetAtt": ["TaskExecutionRole", "Arn"]}]
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}


def test_state_machine_role_uses_star_only_for_log_delivery_and_xray(template: dict[str, Any]) -> None:
    star_actions = {
        action
        for statement in statements(template, "StateMachineRole")
        if "*" in as_list(statement["Resource"]) and "Condition" not in statement
        for action in as_list(statement["Action"])
    }
    assert star_actions <= LOG_DELIVERY_AND_XRAY


def test_listing_tasks_is_granted_in_the_batch_cluster_only(template: dict[str, Any]) -> None:
    [statement] = [s for s in statements(template, "StateMachineRole") if s["Action"] == "ecs:ListTasks"]
    assert statement["Condition"] == {"ArnEquals": {"ecs:cluster": {"Fn::GetAtt": ["Cluster", "Arn"]}}}


@pytest.mark.parametrize("role", ["StateMachineRole", "TaskRole", "TaskExecutionRole"])
def test_no_role_allows_every_action(template: dict[str, Any], role: str) -> None:
    actions = [action for statement in statements(template, role) for action in as_list(statement["Action"])]
    assert not [action for action in actions if action == "*" or action.endswith(":*")]


def test_task_role_may_do_only_what_the_task_calls(template: dict[str, Any]) -> None:
    actions = {action for statement in statements(template, "TaskRole") for action in as_list(statement["Action"])}
    assert actions == {
        "secretsmanager:GetSecretValue",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",  # TransactWriteItems' ConditionCheck
    }


def test_tagging_is_granted_only_as_part_of_run_task(template: dict[str, Any]) -> None:
    [statement] = [s for s in statements(template, "StateMachineRole") if s["Action"] == "ecs:TagResource"]
    assert statement["Condition"] == {"StringEquals": {"ecs:CreateAction": "RunTask"}}
    assert statement["Resource"]["Fn::Sub"].endswith(":task/${Cluster}/*")


def test_task_role_reaches_only_its_two_secrets_and_the_table(template: dict[str, Any]) -> None:
    targets = {
        json.dumps(target, sort_keys=True)
        for statement in statements(template, "TaskRole")
        for target in as_list(statement["Resource"])
    }
    assert targets == {
        json.dumps({"Ref": "BambooHRSecret"}),
        json.dumps({"Ref": "MoodleSecret"}),
        json.dumps({"Fn::GetAtt": ["StateTable", "Arn"]}, sort_keys=True),
    }


def test_task_role_reads_secrets_without_other_secret_actions(template: dict[str, Any]) -> None:
    secret_actions = {
        action
        for statement in statements(template, "TaskRole")
        for action in as_list(statement["Action"])
        if action.startswith("secretsmanager:")
    }
    assert secret_actions == {"secretsmanager:GetSecretValue"}


@pytest.mark.parametrize("path", [TEMPLATE_PATH, DEFINITION_PATH], ids=lambda path: path.name)
def test_no_hard_coded_partition_or_account_id(path: Any) -> None:
    text = path.read_text()
    assert "arn:aws:" not in text
    assert not re.search(r"(?<![0-9])[0-9]{12}(?![0-9])", text)


def test_state_machine_logs_to_a_vended_log_group(template: dict[str, Any]) -> None:
    logging = resource(template, STATE_MACHINE)["Properties"]["Logging"]
    [destination] = logging["Destinations"]
    log_group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert logging["Level"] == "ALL"
    assert resource(template, log_group)["Properties"]["LogGroupName"]["Fn::Sub"].startswith("/aws/vendedlogs/states/")


def test_every_log_group_has_a_retention(template: dict[str, Any]) -> None:
    log_groups = [r for r in template["Resources"].values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert log_groups
    assert all("RetentionInDays" in r["Properties"] for r in log_groups)


def test_schedule_retries_and_dead_letters(template: dict[str, Any]) -> None:
    schedule = resource(template, STATE_MACHINE)["Properties"]["Events"]["Schedule"]
    assert schedule["Type"] == "ScheduleV2"
    assert {"RetryPolicy", "DeadLetterConfig"} <= set(schedule["Properties"])


def test_task_container_is_the_contract_sync_container(template: dict[str, Any]) -> None:
    [container] = resource(template, "TaskDefinition")["Properties"]["ContainerDefinitions"]
    assert container["Name"] == "sync"
    assert container["ReadonlyRootFilesystem"] is True


def test_task_environment_names_match_the_contract(template: dict[str, Any]) -> None:
    [container] = resource(template, "TaskDefinition")["Properties"]["ContainerDefinitions"]
    entries = [v["Fn::If"][1] if "Fn::If" in v else v for v in container["Environment"]]
    assert {variable["Name"] for variable in entries} == CONTRACT_ENVIRONMENT


def test_the_operator_commands_read_every_setting_the_stack_gives_the_task(template: dict[str, Any]) -> None:
    """``preview --stack`` must plan with the deployed task's settings: each task variable a parameter sets."""
    [container] = resource(template, "TaskDefinition")["Properties"]["ContainerDefinitions"]
    entries = [v["Fn::If"][1] if "Fn::If" in v else v for v in container["Environment"]]
    from_parameters = {
        entry["Name"].lower(): entry["Value"]["Ref"]
        for entry in entries
        if isinstance(entry["Value"], dict) and entry["Value"].get("Ref") in template["Parameters"]
    }
    assert from_parameters == STACK_PARAMETERS


def test_provision_days_reach_the_task_only_when_set(template: dict[str, Any]) -> None:
    def names(parameters: dict[str, str]) -> set[str]:
        resolver = deployed(template)
        resolver.parameters.update(parameters)
        [container] = resource(template, "TaskDefinition")["Properties"]["ContainerDefinitions"]
        return {variable["Name"] for variable in resolver.resolve(container["Environment"])}

    assert "PROVISION_DAYS_BEFORE_START" not in names({})
    assert "PROVISION_DAYS_BEFORE_START" in names({"ProvisionDaysBeforeStart": "7"})


def iam_pattern_matches(pattern: str, arn: str) -> bool:
    """IAM resource matching: ``*`` is any run of characters (``/`` and ``:`` included), ``?`` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn) is not None


def deployed(template: dict[str, Any]) -> stack.Resolver:
    """The template's intrinsics resolved as the offline deploy names things (account, region, stack)."""
    required = {"ImageUri": "local", "SubnetIds": ["subnet-a"], "SecurityGroupIds": ["sg-a"]}
    required |= {"BambooHRCompanyDomain": "acme", "MoodleUrl": "https://moodle.example.com"}
    defaults = {name: spec["Default"] for name, spec in template["Parameters"].items() if "Default" in spec}
    resolver = stack.Resolver(template, defaults | required)
    stack.local_names(template, resolver)
    return resolver


def test_execution_role_may_write_the_stream_the_awslogs_driver_creates(template: dict[str, Any]) -> None:
    resolver = deployed(template)
    [container] = resource(template, "TaskDefinition")["Properties"]["ContainerDefinitions"]
    options = resolver.resolve(container["LogConfiguration"]["Options"])
    group, prefix = options["awslogs-group"], options["awslogs-stream-prefix"]
    stream = f"{prefix}/{container['Name']}/0123456789abcdef0123456789abcdef"  # <prefix>/<container>/<task id>
    stream_arn = f"arn:aws:logs:{stack.REGION}:{stack.ACCOUNT_ID}:log-group:{group}:log-stream:{stream}"
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        granted = [resolver.resolve(target) for target in grants(template, "TaskExecutionRole", action)]
        assert any(iam_pattern_matches(pattern, stream_arn) for pattern in granted), (action, granted)


def test_a_replaced_task_definition_revision_stays_active_for_executions_still_using_it(
    template: dict[str, Any],
) -> None:
    assert resource(template, "TaskDefinition")["UpdateReplacePolicy"] == "Retain"


def test_table_is_keyed_by_pk_with_ttl(template: dict[str, Any]) -> None:
    table = resource(template, "StateTable")["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}


def test_the_reconcile_schedule_starts_a_full_run_with_its_own_expression_and_state(template: dict[str, Any]) -> None:
    events = resource(template, STATE_MACHINE)["Properties"]["Events"]
    reconcile = events["Reconcile"]["Properties"]
    assert events["Reconcile"]["Type"] == "ScheduleV2"
    assert json.loads(reconcile["Input"]) == {"mode": "full", "allowMassSuspend": False}
    assert (reconcile["ScheduleExpression"], reconcile["State"]) == (
        {"Ref": "ReconcileScheduleExpression"},
        {"Ref": "ReconcileScheduleState"},
    )
    assert (
        template["Parameters"]["ReconcileScheduleState"]["Default"]
        == template["Parameters"]["ScheduleState"]["Default"]
    )
    assert {"RetryPolicy", "DeadLetterConfig"} <= set(reconcile)
