"""A minimal ECS + state machine setup for testing the runTask.sync integration without the real task."""

from __future__ import annotations

import json
import time
from typing import Any

from bamboohr_moodle_sync.local.pipeline.offline import execution_history, wait_for_execution

TINY_ASL: dict[str, Any] = {
    "QueryLanguage": "JSONata",
    "StartAt": "Run Batch",
    "States": {
        "Run Batch": {
            "Type": "Task",
            "Resource": "arn:aws:states:::ecs:runTask.sync",
            "TimeoutSeconds": 30,
            "Arguments": {
                "Cluster": "CLUSTER",
                "TaskDefinition": "TASKDEF",
                "LaunchType": "FARGATE",
                "NetworkConfiguration": {
                    "AwsvpcConfiguration": {
                        "Subnets": ["SUBNET"],
                        "SecurityGroups": ["SG"],
                        "AssignPublicIp": "DISABLED",
                    }
                },
                "Overrides": {
                    "ContainerOverrides": [
                        {
                            "Name": "sync",
                            "Environment": [{"Name": "OFFSET", "Value": "{% $string($states.input.offset) %}"}],
                        }
                    ]
                },
            },
            "End": True,
        }
    },
}


def setup_ecs(
    client: Any, command: list[str], environment: dict[str, str], log_group: str | None = None
) -> dict[str, str]:
    """Cluster, awsvpc network and a task definition whose container ``sync`` runs ``command``; with
    ``log_group``, the container logs there with the awslogs driver (prefix ``batch``)."""
    ec2, ecs = client("ec2"), client("ecs")
    logging: dict[str, Any] = {}
    if log_group is not None:
        options = {"awslogs-group": log_group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "batch"}
        logging = {"logConfiguration": {"logDriver": "awslogs", "options": options}}
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="g", Description="d", VpcId=vpc)["GroupId"]
    cluster = ecs.create_cluster(clusterName="local")["cluster"]["clusterArn"]
    task_definition = ecs.register_task_definition(
        family="sync",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "sync",
                "image": "local",
                "memory": 512,
                "essential": True,
                "command": command,
                "environment": [{"name": k, "value": v} for k, v in environment.items()],
                **logging,
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    return {"CLUSTER": cluster, "TASKDEF": task_definition, "SUBNET": subnet, "SG": group}


def tiny_machine(client: Any, names: dict[str, str], timeout_s: int = 30, catch: list[str] | None = None) -> str:
    """The one-state machine; with ``catch``, a Catch on those error names leads to a Succeed state "Caught"."""
    text = json.dumps(TINY_ASL)
    for placeholder, value in names.items():
        text = text.replace(f'"{placeholder}"', json.dumps(value))
    definition = json.loads(text)
    definition["States"]["Run Batch"]["TimeoutSeconds"] = timeout_s
    if catch:
        definition["States"]["Run Batch"]["Catch"] = [{"ErrorEquals": catch, "Next": "Caught"}]
        definition["States"]["Caught"] = {"Type": "Succeed"}
    arn: str = client("stepfunctions").create_state_machine(
        name=f"tiny-{time.monotonic_ns()}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/x",
    )["stateMachineArn"]
    return arn


def run_to_end(client: Any, machine_arn: str, execution_input: dict[str, Any], timeout_s: float = 60) -> dict[str, Any]:
    arn = client("stepfunctions").start_execution(
        stateMachineArn=machine_arn, name=f"e{time.monotonic_ns()}", input=json.dumps(execution_input)
    )["executionArn"]
    return wait_for_execution(client("stepfunctions"), arn, timeout_s)


def history(client: Any, execution_arn: str) -> list[dict[str, Any]]:
    return execution_history(client("stepfunctions"), execution_arn)
