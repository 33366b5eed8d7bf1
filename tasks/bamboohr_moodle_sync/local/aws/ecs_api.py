"""ECS as Step Functions meets it: how RunTask fails, how an ECS error or a stopped task is worded in a state's
error and cause, and the task records in moto's ECS backend (this process serves it) that the local Fargate
(``fargate.py``) reads stop requests from. Also two moto 5.2.5 patches that make its ECS answer as ECS does.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunTaskFault:
    """RunTask itself failing, as Step Functions reports it: an ECS API error (``error`` is the state's error
    name, ``code``/``status`` what ECS answered), or, with ``failures``, an answer that placed no task
    (``AmazonECS.Unknown``)."""

    error: str
    message: str
    code: str = ""
    status: int = 400
    failures: bool = False


# How RunTask fails, worded as AWS words it (docs/checked-offline.md lists the sources).
CAPACITY_ERROR = RunTaskFault(
    error="ECS.AmazonECSException",
    message="Capacity is unavailable at this time. Please try again later or in a different availability zone",
    status=500,
)
NO_TASK_PLACED = RunTaskFault(
    error="AmazonECS.Unknown",
    message="You've reached the limit on the number of tasks you can run concurrently",
    failures=True,
)
CLIENT_ERROR = RunTaskFault(
    error="ECS.ClientException",
    code="ClientException",
    message=(
        "ECS was unable to assume the role '{task_role}' that was provided for this task. Please verify that the"
        " role being passed has the proper trust relationship and permissions and that your IAM user has"
        " permissions to pass this role."
    ),
)


def ecs_task(task_arn: str) -> Any:
    """The task in moto's ECS backend (this process serves it)."""
    from moto.ecs.models import ecs_backends

    _, _, _, region, account, resource = task_arn.split(":", 5)
    cluster_name = resource.split("/")[1]
    return ecs_backends[account][region].tasks[cluster_name][task_arn]


def stop_requested(task_arn: str) -> str | None:
    """The reason of a StopTask that reached moto's ECS for this task, or None."""
    try:
        task = ecs_task(task_arn)
    except KeyError:  # the local AWS was reset under it
        return "The task no longer exists in the local ECS"
    if task.desired_status != "STOPPED":
        return None
    return str(task.stopped_reason or "Task stopped by user")


def request_stop(task_arn: str, reason: str) -> None:
    """StopTask, as ECS records it: desired status STOPPED with the reason (the process is stopped by ``watch``)."""
    task = ecs_task(task_arn)
    task.desired_status = "STOPPED"
    task.stopped_reason = reason


def run_task_failure(fault: RunTaskFault, request: Mapping[str, Any], definition: Mapping[str, Any]) -> tuple[str, str]:
    """The Step Functions error name and cause of a RunTask (boto3 parameters ``request``, of the task definition
    ``definition``) failing with ``fault``."""
    if fault.failures:
        answer = {"Tasks": [], "Failures": [{"Arn": request.get("cluster", ""), "Reason": fault.message}]}
        return fault.error, json.dumps(answer, separators=(",", ":"))
    task_role = (request.get("overrides") or {}).get("taskRoleArn") or definition.get("taskRoleArn", "")
    return fault.error, api_error_cause(fault.message.format(task_role=task_role), fault.code, fault.status)


def api_error_cause(message: str, code: str, status: int) -> str:
    """An AWS API error as Step Functions words the cause (the AWS SDK's message format)."""
    error_code = f"; Error Code: {code}" if code else ""
    return f"{message} (Service: AmazonECS; Status Code: {status}{error_code}; Request ID: {uuid.uuid4()}; Proxy: null)"


def ecs_error_name(code: str) -> str:
    """Step Functions' name for an ECS API error: ``ECS.<code>`` for the errors the ECS API models, else the
    SDK's generic ``ECS.AmazonECSException``."""
    import botocore.session

    modelled = {shape.name for shape in botocore.session.get_session().get_service_model("ecs").error_shapes}
    return f"ECS.{code}" if code in modelled else "ECS.AmazonECSException"


def to_json_value(value: Any) -> Any:
    """Timestamps as Step Functions renders them in ECS results: epoch milliseconds."""
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json_value(v) for v in value]
    return value


def cause_of(task: Mapping[str, Any]) -> str:
    return json.dumps(task, separators=(",", ":"), sort_keys=False)


def patch_moto_network_interfaces() -> None:
    """moto 5.2.5's awsvpc RunTask reads ``private_dns_name``, which its NetworkInterface lacks."""
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface

    interface: Any = NetworkInterface
    if not hasattr(interface, "private_dns_name"):
        interface.private_dns_name = property(
            lambda self: "ip-" + str(self.private_ip_address).replace(".", "-") + ".ec2.internal"
        )


def patch_moto_inactive_task_definitions() -> None:
    """moto 5.2.5 runs tasks of a deregistered (INACTIVE) revision; ECS refuses them ("You can't use an INACTIVE
    task definition revision to run new tasks"), answering ``InvalidParameterException: TaskDefinition is
    inactive``."""
    from moto.ecs.exceptions import InvalidParameterException
    from moto.ecs.models import EC2ContainerServiceBackend

    backend: Any = EC2ContainerServiceBackend
    if getattr(backend.run_task, "refuses_inactive", False):
        return
    original = backend.run_task

    def run_task(self: Any, cluster_str: str, task_definition_str: str, *args: Any, **kwargs: Any) -> Any:
        if self.describe_task_definition(task_definition_str).status == "INACTIVE":
            raise InvalidParameterException("TaskDefinition is inactive")
        return original(self, cluster_str, task_definition_str, *args, **kwargs)

    run_task.refuses_inactive = True  # type: ignore[attr-defined]
    backend.run_task = run_task
