"""template.yaml stood up in moto: one ASL file, the template's own substitutions and environment."""

from __future__ import annotations

import json
from pathlib import Path

from bamboohr_moodle_sync.local.aws import stack
from bamboohr_moodle_sync.local.aws.motoserver import LocalAws
from bamboohr_moodle_sync.local.pipeline import graph
from bamboohr_moodle_sync.local.pipeline.offline import TEMPLATE

LOCAL_PARAMETERS = {"ImageUri": "local", "BambooHRCompanyDomain": "acme", "MoodleUrl": "http://127.0.0.1:1"}


def deploy(local_aws: LocalAws) -> stack.Deployment:
    local_aws.reset()
    return stack.deploy(local_aws, TEMPLATE, LOCAL_PARAMETERS)


def test_state_machine_is_the_asl_file_with_the_templates_substitutions(local_aws: LocalAws) -> None:
    deployment = deploy(local_aws)
    template = stack.load_template(TEMPLATE)
    (machine,) = stack.resources_of(template, "AWS::Serverless::StateMachine").values()
    asl_path = TEMPLATE.parent / machine["Properties"]["DefinitionUri"]
    asl_text = asl_path.read_text(encoding="utf-8")
    declared = set(machine["Properties"]["DefinitionSubstitutions"])
    assert stack.substitution_names(asl_text) == declared
    assert set(deployment.substitutions) == declared
    assert deployment.definition == stack.substitute(asl_text, deployment.substitutions)
    described = local_aws.client("stepfunctions").describe_state_machine(stateMachineArn=deployment.state_machine_arn)
    assert described["definition"] == deployment.definition
    assert "${" not in described["definition"]


def test_task_definition_carries_the_templates_environment_and_secrets(local_aws: LocalAws) -> None:
    deployment = deploy(local_aws)
    ecs = local_aws.client("ecs")
    definition = ecs.describe_task_definition(taskDefinition=deployment.task_definition_arn)["taskDefinition"]
    (container,) = definition["containerDefinitions"]
    assert container["name"] == "sync"
    environment = {item["name"]: item["value"] for item in container["environment"]}
    assert environment["STATE_TABLE"] == deployment.table_name
    assert environment["BAMBOOHR_COMPANY_DOMAIN"] == "acme"
    secrets = local_aws.client("secretsmanager")
    stored = secrets.get_secret_value(SecretId=environment["BAMBOOHR_SECRET_ID"])["SecretString"]
    assert set(json.loads(stored)) == {"api_key"}
    stored = secrets.get_secret_value(SecretId=environment["MOODLE_SECRET_ID"])["SecretString"]
    assert set(json.loads(stored)) == {"token"}


def test_graph_layout_is_deterministic_and_covers_every_state() -> None:
    definition = json.loads(Path(TEMPLATE.parent / "statemachine" / "sync.asl.json").read_text(encoding="utf-8"))
    first, second = graph.layout(definition), graph.layout(definition)
    assert first == second
    assert set(first) == set(definition["States"])
    assert len(set(first.values())) == len(first)  # no two states share a box
    assert first[definition["StartAt"]] == (0, 0)
