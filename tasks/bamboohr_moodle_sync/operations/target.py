"""Where the operator's commands act: a deployed stack (``--stack NAME``: its outputs and parameters, read with
the caller's credentials) or the settings in the environment (``emulate``'s ``export`` lines, a task by hand)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ..aws_errors import REGION_HINT, config_error
from ..errors import ConfigError
from ..state import StateStore

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

    from ..batch import Batch

# Settings of the batch task -> the stack parameter that sets them (template.yaml, the task definition), so that
# `preview --stack` plans with the deployed task's settings: its guards, its dates and its Moodle limits.
STACK_PARAMETERS = {
    "bamboohr_company_domain": "BambooHRCompanyDomain",
    "moodle_url": "MoodleUrl",
    "moodle_auth": "MoodleAuth",
    "moodle_max_input_vars": "MoodleMaxInputVars",
    "moodle_timeout_seconds": "MoodleTimeoutSeconds",
    "max_suspensions": "MaxSuspensions",
    "max_suspensions_percent": "MaxSuspensionsPercent",
    "max_cohort_removals": "MaxCohortRemovals",
    "batch_size": "BatchSize",
    "initial_since": "InitialSince",
    "provision_days_before_start": "ProvisionDaysBeforeStart",
    "sync_timezone": "SyncTimezone",
}
STACK_OUTPUTS = {
    "state_table": "StateTableName",
    "bamboohr_secret_id": "BambooHRSecretArn",
    "moodle_secret_id": "MoodleSecretArn",
}


@dataclass
class Target:
    store: StateStore
    region: str
    stack: str | None = None
    state_machine_arn: str | None = None
    sfn: SFNClient | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    """Settings of the deployed task (from the stack), on top of the environment's."""

    def batch(self, **more: str) -> Batch:
        """The batch task's engine with this target's settings (its clients, mapping and guard), and ``more``."""
        from ..wiring import build_batch

        return build_batch(**self.overrides, **more)

    def execution_running(self, arn: str) -> bool | None:
        """Whether that execution still runs; None without ``--stack`` or for an owner that is no execution."""
        if self.sfn is None or not arn.startswith("arn:"):
            return None
        return self.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"

    def console_link(self, arn: str) -> str:
        return (
            f"https://{self.region}.console.aws.amazon.com/states/home?region={self.region}"
            f"#/v2/executions/details/{arn}"
        )


def connect(stack: str | None) -> Target:
    """The target of ``--stack`` (or of the environment); a ``ConfigError`` naming what is missing."""
    session = boto3.session.Session(region_name=os.environ.get("AWS_REGION") or None)
    if session.region_name is None:
        raise ConfigError(REGION_HINT)
    region = session.region_name
    if stack is None:
        table = os.environ.get("STATE_TABLE")
        if not table:
            raise ConfigError("missing STATE_TABLE: give --stack NAME, or the settings `emulate` prints")
        return Target(StateStore(session.client("dynamodb"), table), region)
    try:
        described: Any = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except (ClientError, BotoCoreError) as exc:
        known = config_error(exc, f"stack {stack}", region)
        if (
            known is None
            and isinstance(exc, ClientError)
            and exc.response.get("Error", {}).get("Code") == "ValidationError"
        ):
            known = ConfigError(f"stack {stack} does not exist in region {region}")
        raise known or exc from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    missing = [name for name in (*STACK_OUTPUTS.values(), "StateMachineArn") if name not in outputs]
    if missing:
        raise ConfigError(f"stack {stack} has no output {', '.join(missing)}: is it a bamboohr-moodle-sync stack?")
    overrides = {setting: outputs[output] for setting, output in STACK_OUTPUTS.items()}
    overrides |= {setting: parameters[name] for setting, name in STACK_PARAMETERS.items() if parameters.get(name)}
    overrides["stack_name"] = stack
    return Target(
        StateStore(session.client("dynamodb"), outputs["StateTableName"]),
        region,
        stack,
        outputs["StateMachineArn"],
        session.client("stepfunctions"),
        overrides,
    )
