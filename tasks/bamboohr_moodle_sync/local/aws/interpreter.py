"""Installs the project's integrations into moto's Step Functions interpreter (idempotent, process-wide).

- JSONata: ``jsonata_plugin``.
- ``ecs:runTask.sync``: ``FargateRunTask`` runs the task as a local process (see ``fargate``); an ECS API
  error fails the state as ``ECS.<error code>`` (moto 5.2.5 reports it as ``States.Runtime``, which no Catch
  can take), a RunTask answer that placed no task as ``AmazonECS.Unknown``.
- Catch and Retry: moto matches ``States.TaskFailed`` against every error that is not a ``States.*`` name, as
  AWS documents it ("every known error name except States.Timeout"); ``ECS.*`` and ``AmazonECS.Unknown`` are
  therefore caught by it unless a catcher listed before takes them (tests/local/pipeline/test_offline.py).
- ``aws-sdk:<service>:<action>``: ``AwsSdkTask`` converts the ASL's PascalCase parameters with botocore's shape
  and answers in PascalCase, as AWS does (moto 5.2.5 passes them unconverted: ``'Cluster'`` fails as
  ``States.Runtime``).
- ``states:startExecution``: parameters converted with botocore's shape (moto passes PascalCase names that
  boto3 drops) and an unnamed execution gets a fresh name (moto would treat every unnamed start with the
  same input as the same, idempotent, execution).
- Time: ``set_time_scale(0.01)`` shrinks Retry intervals (and the ``.sync`` poll) for tests, leaving the
  ASL file as it is.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import botocore.session
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_factory as service_factory,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs import (
    StateTaskServiceEcs,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for as _boto_client_for

from bamboohr_moodle_sync.local.aws import ecs_api, fargate, iam_enforcement, jsonata_plugin

_lock = threading.Lock()
_installed = False
_time_scale = 1.0
_SYNC_POLL_S = 0.05
_original_factory = service_factory.state_task_service_for


def boto_client_for(**kwargs: Any) -> Any:
    """A client that calls the local AWS as the state machine's role (``iam_enforcement``), untyped."""
    return iam_enforcement.state_machine_client(**kwargs)


def agent_client_for(**kwargs: Any) -> Any:
    """A client for what the local ECS agent itself reads (task definitions): not a call of the state machine."""
    return _boto_client_for(**kwargs)


def _shape(service: str, operation: str, direction: str) -> Any:
    model = botocore.session.get_session().get_service_model(service).operation_model(operation)
    return model.input_shape if direction == "input" else model.output_shape


class FargateRunTask(StateTaskServiceEcs):
    """``ecs:runTask(.sync)`` with botocore-converted parameters and the task run as a local process."""

    def _normalise_parameters(self, parameters: Any, *args: Any, **kwargs: Any) -> None:
        self._to_boto_request(parameters, _shape("ecs", "RunTask", "input"))

    def _pascal(self, response: Any, operation: str) -> Any:
        response.pop("ResponseMetadata", None)
        self._from_boto_response(response, _shape("ecs", operation, "output"))
        return ecs_api.to_json_value(response)

    def _eval_service_task(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: Any, state_credentials: Any
    ) -> None:
        ecs = boto_client_for(region=resource_runtime_part.region, service="ecs", state_credentials=state_credentials)
        if self._get_boto_service_action() != "run_task":
            env.stack.append(
                self._pascal(
                    getattr(ecs, self._get_boto_service_action())(**normalised_parameters), self.resource.api_action
                )
            )
            return
        local = fargate.settings()
        number = local.next_number()
        fault = local.run_task_faults.get(number)
        if fault is not None:
            agent = agent_client_for(region=resource_runtime_part.region, service="ecs")
            named = agent.describe_task_definition(taskDefinition=normalised_parameters["taskDefinition"])
            error, cause = ecs_api.run_task_failure(fault, normalised_parameters, named["taskDefinition"])
            raise FailureEventException(failure_event=self._failure(env, error, cause))
        response = ecs.run_task(**normalised_parameters)  # an ECS error: see _from_error
        if response.get("failures") or not response.get("tasks"):
            answer = json.dumps(self._pascal(response, "RunTask"), separators=(",", ":"))
            raise FailureEventException(failure_event=self._failure(env, "AmazonECS.Unknown", answer))
        task = response["tasks"][0]
        agent = agent_client_for(region=resource_runtime_part.region, service="ecs")
        definition = agent.describe_task_definition(taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
        container = definition["containerDefinitions"][0]
        overrides = normalised_parameters.get("overrides") or {}
        log_group, log_stream = fargate.awslogs_target(container, task["taskArn"])
        run = fargate.TaskRun(
            number=number,
            task_arn=task["taskArn"],
            command=fargate.task_command(container, overrides, local),
            environment={
                **fargate.task_environment(container, overrides, local),
                **iam_enforcement.task_role_environment(definition, overrides, task["taskArn"]),
            },
            log_path=fargate.new_log_path(local, number),
            log_group=log_group,
            log_stream=log_stream,
            image=str(container.get("image", "")),
            execution_role_arn=str(overrides.get("executionRoleArn") or definition.get("executionRoleArn") or ""),
        )
        local.record(run)
        if local.on_launch is not None:
            local.on_launch(run)
        fargate.start(run, local)  # the start-failure seam: fargate.start_failure
        env.stack.append(self._pascal(response, "RunTask"))

    def _build_sync_resolver(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: Any, state_credentials: Any
    ) -> Any:
        submission = env.stack.pop()
        task_arn: str = submission["Tasks"][0]["TaskArn"]
        cluster_arn: str = submission["Tasks"][0]["ClusterArn"]
        run = next(r for r in fargate.settings().runs if r.task_arn == task_arn)
        if run.process is not None:  # None: it never started, and is STOPPED already

            def execution_stopped() -> bool:
                return isinstance(env.program_state(), ProgramStopped)

            threading.Thread(
                target=fargate.watch, args=(run, fargate.settings(), execution_stopped), daemon=True
            ).start()
        ecs = boto_client_for(region=resource_runtime_part.region, service="ecs", state_credentials=state_credentials)

        def resolve() -> Any:
            if not run.finished.is_set():
                return None
            described = self._pascal(ecs.describe_tasks(cluster=cluster_arn, tasks=[task_arn]), "DescribeTasks")
            task = described["Tasks"][0]
            if run.exit_code != 0:
                raise FailureEventException(failure_event=self._task_failed(env, ecs_api.cause_of(task)))
            return task

        return resolve

    def _eval_sync(
        self, env: Any, sync_resolver: Any, timeout_seconds: Any, callback_endpoint: Any, heartbeat_endpoint: Any
    ) -> Any:
        # moto makes one task-token endpoint per state and interrupts it after the first attempt, so a
        # retried .sync attempt would "time out" at once; .sync needs no token: wait on the task alone.
        return super()._eval_sync(
            env=env,
            sync_resolver=sync_resolver,
            timeout_seconds=timeout_seconds,
            callback_endpoint=None,
            heartbeat_endpoint=heartbeat_endpoint,
        )

    def _from_error(self, env: Any, ex: Exception) -> FailureEvent:
        """An ECS API error as Step Functions reports it: ``ECS.<code>`` with the SDK's message as the cause."""
        if isinstance(ex, ClientError):
            error = ex.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = int(ex.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
            cause = ecs_api.api_error_cause(str(error.get("Message", "")), code, status)
            return self._failure(env, ecs_api.ecs_error_name(code), cause)
        failure: FailureEvent = super()._from_error(env, ex)
        return failure

    def _task_failed(self, env: Any, cause: str) -> FailureEvent:
        return self._failure(env, StatesErrorNameType.StatesTaskFailed.to_name(), cause)

    def _failure(self, env: Any, error: str, cause: str) -> FailureEvent:
        """The state's failure with ``error`` (``States.TaskFailed`` or a service's own name) and ``cause``."""
        task_failed = StatesErrorNameType.StatesTaskFailed
        name = StatesErrorName(typ=task_failed) if error == task_failed.to_name() else CustomErrorName(error)
        return FailureEvent(
            env=env,
            error_name=name,
            event_type=HistoryEventType.TaskFailed,
            event_details=_event_details(
                taskFailedEventDetails=TaskFailedEventDetails(
                    error=error,
                    cause=cause,
                    resource=self._get_sfn_resource(),
                    resourceType=self._get_sfn_resource_type(),
                )
            ),
        )


class NamedStartExecution(StateTaskServiceSfn):
    """``states:startExecution`` (and the other Step Functions actions) with botocore-converted parameters."""

    def _normalise_parameters(self, parameters: Any, *args: Any, **kwargs: Any) -> None:
        super()._normalise_parameters(parameters, *args, **kwargs)
        operation = self.resource.api_action[0].upper() + self.resource.api_action[1:]
        self._to_boto_request(parameters, _shape("stepfunctions", operation, "input"))
        if operation == "StartExecution" and not parameters.get("name"):
            parameters["name"] = str(uuid.uuid4())

    def _eval_service_task(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: Any, state_credentials: Any
    ) -> None:
        super()._eval_service_task(env, resource_runtime_part, normalised_parameters, state_credentials)
        operation = self.resource.api_action[0].upper() + self.resource.api_action[1:]
        response = env.stack[-1]
        self._from_boto_response(response, _shape("stepfunctions", operation, "output"))
        env.stack[-1] = ecs_api.to_json_value(response)


class AwsSdkTask(StateTaskServiceAwsSdk):
    """``aws-sdk:<service>:<action>`` with PascalCase parameters and answers, as Step Functions has them."""

    def _operation(self) -> str:
        return self.resource.api_action[0].upper() + self.resource.api_action[1:]

    def _normalise_parameters(self, parameters: Any, *args: Any, **kwargs: Any) -> None:
        self._to_boto_request(parameters, _shape(self._get_boto_service_name(), self._operation(), "input"))

    def _eval_service_task(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: Any, state_credentials: Any
    ) -> None:
        super()._eval_service_task(env, resource_runtime_part, normalised_parameters, state_credentials)
        response = env.stack[-1]
        self._from_boto_response(response, _shape(self._get_boto_service_name(), self._operation(), "output"))
        env.stack[-1] = ecs_api.to_json_value(response)


_event_details: Any = EventDetails  # a TypedDict whose keys are all required to mypy, optional at runtime


def _state_task_service_for(service_name: str) -> Any:
    if service_name == "ecs":
        return FargateRunTask()  # type: ignore[no-untyped-call]
    if service_name == "states":
        return NamedStartExecution()  # type: ignore[no-untyped-call]
    if service_name == "aws-sdk":
        return AwsSdkTask()  # type: ignore[no-untyped-call]
    return _original_factory(service_name)


def _scaled_wait_interval(self: Any, env: Any, wait_seconds: float) -> None:
    """A Wait state's wait, scaled by ``_time_scale``, until the deadline or the execution stops."""
    deadline = time.monotonic() + wait_seconds * _time_scale
    while env.is_running() and (remaining := deadline - time.monotonic()) > 0:
        env.program_state_event.wait(remaining)


class _ScaledTime:
    """Stands in for the ``time`` module inside the retrier: sleeps scaled by ``_time_scale``."""

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds * _time_scale)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def set_time_scale(scale: float) -> None:
    """Multiplies every Retry interval and Wait state by ``scale`` (1.0: as written in the ASL)."""
    global _time_scale
    _time_scale = scale


def install() -> None:
    """Installs everything above into moto (once per process)."""
    global _installed
    with _lock:
        if _installed:
            return
        jsonata_plugin.install()
        iam_enforcement.install()
        ecs_api.patch_moto_network_interfaces()
        ecs_api.patch_moto_inactive_task_definitions()
        modules: dict[str, Any] = {
            "factory": state_task_factory,
            "service_factory": service_factory,
            "retrier": retrier_decl,
            "callback": state_task_service_callback,
        }
        modules["factory"].state_task_service_for = _state_task_service_for
        modules["service_factory"].state_task_service_for = _state_task_service_for
        modules["retrier"].time = _ScaledTime()  # Retry waits go through time.sleep in this module
        WaitFunction._wait_interval = _scaled_wait_interval  # type: ignore[method-assign]  # Wait states too
        modules["callback"]._DELAY_SECONDS_SYNC_CONDITION_CHECK = _SYNC_POLL_S
        _installed = True


__all__ = ["AwsSdkTask", "FargateRunTask", "NamedStartExecution", "install", "set_time_scale"]
