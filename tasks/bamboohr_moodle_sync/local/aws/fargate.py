"""The project's ``ecs:runTask.sync`` integration for moto's Step Functions interpreter: Fargate as a subprocess.

moto's own ECS integration passes the ASL's PascalCase parameters to boto3 unconverted and never checks exit
codes. This one behaves as Step Functions does on AWS:

1. converts the state's parameters with botocore's RunTask shape and calls RunTask on the local moto server
   (the task shows up in moto's ECS backend, ``StartedBy: "AWS Step Functions"``); an ECS error fails the state
   with ``ECS.<error code>``, and a ``RunTaskFault`` makes RunTask fail as Fargate does (a capacity error, an
   answer whose ``failures`` list placed no task, a client error; ``ecs_api.py`` words them);
2. asks ``start_failure`` whether the task starts at all, as the ECS agent finds out before the container runs:
   it creates the awslogs stream ``<prefix>/<container>/<task id>`` in moto's CloudWatch Logs and consults the
   ``start_checks`` (IAM, for one) and injected faults. A task that fails to start stops with
   ``StopCode: TaskFailedToStart``, a ``StoppedReason`` as AWS words it, and no container exit code;
3. otherwise runs the container as a local process: the task definition's command (or ``LocalTasks.command``)
   with the container's environment, then the state's ContainerOverrides, plus what it needs to reach the local
   AWS; its output goes to a local file and, when it exits, to the task's log stream;
4. on exit marks the ECS task STOPPED (``StopCode: EssentialContainerExited``, ``Containers[].ExitCode``) and
   returns the DescribeTasks entry with PascalCase keys; a non-zero exit (or a task that never started) fails
   the state with ``States.TaskFailed`` and the task description as the JSON ``Cause``;
5. stops the process only when ECS is told to: a StopTask that reaches moto's ECS (the state machine's own, on
   its timeout path) or a stopped execution (Step Functions' best-effort stop). It does not stop it when the
   state times out: on AWS the task runs on, and so it does here.

``LocalTasks`` is the process-wide configuration (moto builds a fresh state object per state, so it cannot
be passed in): endpoint, extra environment, fault hooks and observers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from bamboohr_moodle_sync.local.aws.ecs_api import RunTaskFault, ecs_task, request_stop, stop_requested

DEFAULT_COMMAND: tuple[str, ...] = (sys.executable, "-m", "bamboohr_moodle_sync.cli", "batch")
KILL_GRACE_S = 2.0  # ECS waits the container's stopTimeout (30 s on Fargate) between SIGTERM and SIGKILL


@dataclass(frozen=True)
class StartFailure:
    """Why a task stopped before its container ran, as DescribeTasks shows it (and no container exit code)."""

    reason: str  # the task's StoppedReason, e.g. "ResourceInitializationError: ..."
    stop_code: str = "TaskFailedToStart"


IMAGE_PULL_FAILURE = StartFailure(
    "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {image}: not found"
)


@dataclass
class TaskRun:
    """One launched task: what ran, with which environment, and how it ended."""

    number: int  # 1-based RunTask count in this process (retries count, and so do refused RunTasks)
    task_arn: str
    command: list[str]
    environment: dict[str, str]
    log_path: Path
    log_group: str = ""  # the awslogs group and stream, when the container logs to CloudWatch Logs
    log_stream: str = ""
    image: str = ""
    execution_role_arn: str = ""
    agent_credentials: Mapping[str, str] = field(default_factory=dict)  # the execution role's, for awslogs
    process: subprocess.Popen[bytes] | None = None
    exit_code: int | None = None  # None: still running, or never started
    start_failure: StartFailure | None = None
    stop_reason: str = ""
    started: float = field(default_factory=time.monotonic)
    stopped: float | None = None
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    def stderr_tail(self, lines: int = 5) -> list[str]:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip()][-lines:]


@dataclass
class LocalTasks:
    """How tasks run locally. Faults are keyed by RunTask number (1-based, retries included): ``kill_at``
    SIGKILLs the process ``kill_after_s`` after start (exit code 137, as ECS reports an OOM-killed container),
    ``run_task_faults`` makes that RunTask fail, ``start_faults`` makes that task fail to start.
    ``start_checks`` are consulted before a process is launched (see ``start_failure``)."""

    endpoint_url: str
    region: str = "us-east-1"
    command: Sequence[str] | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    kill_at: frozenset[int] = frozenset()
    kill_after_s: float = 0.0
    run_task_faults: Mapping[int, RunTaskFault] = field(default_factory=dict)
    start_faults: Mapping[int, StartFailure] = field(default_factory=dict)
    start_checks: list[Callable[[TaskRun], StartFailure | None]] = field(default_factory=list)
    log_dir: Path | None = None
    on_launch: Callable[[TaskRun], None] | None = None
    on_exit: Callable[[TaskRun], None] | None = None
    runs: list[TaskRun] = field(default_factory=list)
    _calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def next_number(self) -> int:
        """Counts one RunTask call; its number keys the faults."""
        with self._lock:
            self._calls += 1
            return self._calls

    def record(self, run: TaskRun) -> None:
        with self._lock:
            self.runs.append(run)


_settings: LocalTasks | None = None


def configure(settings: LocalTasks | None) -> None:
    """Sets (or clears) the process-wide task settings the integration reads."""
    global _settings
    _settings = settings


def settings() -> LocalTasks:
    if _settings is None:
        raise RuntimeError("fargate.configure(LocalTasks(...)) must run before a runTask.sync state")
    return _settings


def aws_environment(endpoint_url: str, region: str) -> dict[str, str]:
    """What a task process needs to reach the local AWS (boto3 honours ``AWS_ENDPOINT_URL``)."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def task_environment(container: Mapping[str, Any], overrides: Mapping[str, Any], local: LocalTasks) -> dict[str, str]:
    """Parent environment without AWS_*, then local AWS, the container's environment, the overrides, extras."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "MOTO_PORT"}
    env.update(aws_environment(local.endpoint_url, local.region))
    env.update({item["name"]: str(item["value"]) for item in container.get("environment") or []})
    for override in overrides.get("containerOverrides") or []:
        if override.get("name") == container.get("name"):
            env.update({item["name"]: str(item["value"]) for item in override.get("environment") or []})
    env.update(local.extra_env)
    return env


def task_command(container: Mapping[str, Any], overrides: Mapping[str, Any], local: LocalTasks) -> list[str]:
    for override in overrides.get("containerOverrides") or []:
        if override.get("name") == container.get("name") and override.get("command"):
            return [str(part) for part in override["command"]]
    if local.command is not None:
        return list(local.command)
    command = [str(part) for part in container.get("command") or []]
    # An absolute path is a runnable command; anything else is arguments to the image's entrypoint.
    return command if command and os.path.isabs(command[0]) else list(DEFAULT_COMMAND)


def exit_code_of(returncode: int) -> int:
    """A signal death (Popen's negative code) as a container runtime reports it: 128 + signal."""
    return 128 - returncode if returncode < 0 else returncode


def logs_client(local: LocalTasks, run: TaskRun) -> Any:
    """CloudWatch Logs on the local endpoint for the awslogs driver's calls, with the execution role's credentials
    when IAM is enforced (``run.agent_credentials``), moto's fake ones otherwise."""
    credentials = run.agent_credentials or {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    session = boto3.Session(
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials.get("AWS_SESSION_TOKEN"),
        region_name=local.region,
    )
    return session.client("logs", endpoint_url=local.endpoint_url)


def awslogs_target(container: Mapping[str, Any], task_arn: str) -> tuple[str, str]:
    """The awslogs driver's group and stream ``<awslogs-stream-prefix>/<container>/<task id>`` ("", "" without
    awslogs)."""
    config = container.get("logConfiguration") or {}
    options = config.get("options") or {}
    if config.get("logDriver") != "awslogs" or "awslogs-group" not in options:
        return "", ""
    task_id = task_arn.rsplit("/", 1)[-1]
    prefix = options.get("awslogs-stream-prefix")
    return options["awslogs-group"], (f"{prefix}/{container.get('name')}/{task_id}" if prefix else task_id)


def start_failure(run: TaskRun, local: LocalTasks) -> StartFailure | None:
    """Whether the task fails to start, consulted once before its process is launched: an injected fault, then
    each of ``local.start_checks`` (the execution role's permissions, for one), then the awslogs driver's
    CreateLogStream, as the ECS agent does before the container starts. None: it starts."""
    fault = local.start_faults.get(run.number)
    if fault is not None:
        return StartFailure(fault.reason.format(image=run.image), fault.stop_code)
    for check in local.start_checks:
        failure = check(run)
        if failure is not None:
            return failure
    if run.log_group:
        try:
            logs_client(local, run).create_log_stream(logGroupName=run.log_group, logStreamName=run.log_stream)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            return StartFailure(
                "ResourceInitializationError: failed to validate logger args: create stream has been retried 1"
                f" times: failed to create Cloudwatch log stream: {error.get('Code')}: {error.get('Message')}"
                " : exit status 1"
            )
    return None


def start(run: TaskRun, local: LocalTasks) -> None:
    """Launches the task's process, or stops the task as failed to start (``start_failure``)."""
    failure = start_failure(run, local)
    if failure is None:
        launch(run, local)
        return
    run.start_failure = failure
    run.stop_reason = failure.reason
    try:
        mark_stopped(run.task_arn, run)
    finally:
        ended(run, local)


def ended(run: TaskRun, local: LocalTasks) -> None:
    """Tells ``local.on_exit`` the task has stopped, then releases whoever waits on ``run.finished`` (even when
    the observer fails)."""
    try:
        if local.on_exit is not None:
            local.on_exit(run)
    finally:
        run.finished.set()


def put_task_output(run: TaskRun, local: LocalTasks) -> None:
    """The task's output into its log stream, one event per line, as the awslogs driver writes it. A refused or
    failed write loses the output, as it does on AWS, and leaves the task as it is."""
    if not run.log_group or run.start_failure is not None:
        return
    try:
        lines = run.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return
    now_ms = int(time.time() * 1000)
    events = [{"timestamp": now_ms, "message": line} for line in lines if line]
    client = logs_client(local, run)
    with contextlib.suppress(ClientError):
        for first in range(0, len(events), 1000):  # PutLogEvents takes at most 10,000 events and 1 MiB
            client.put_log_events(
                logGroupName=run.log_group, logStreamName=run.log_stream, logEvents=events[first : first + 1000]
            )


def launch(run: TaskRun, local: LocalTasks) -> None:
    """Starts the task's process; output goes to ``run.log_path``."""
    run.log_path.parent.mkdir(parents=True, exist_ok=True)
    with run.log_path.open("wb") as log:
        run.process = subprocess.Popen(  # noqa: S603 - the task definition's own command
            run.command, env=run.environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    if run.number in local.kill_at:
        threading.Timer(local.kill_after_s, _kill, args=(run, signal.SIGKILL, "fault: task killed")).start()


def _kill(run: TaskRun, sig: signal.Signals, reason: str) -> None:
    process = run.process
    if process is None or process.poll() is not None:
        return
    run.stop_reason = reason
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def stop(run: TaskRun, reason: str) -> None:
    """SIGTERM, then SIGKILL after a grace period, as ECS StopTask does."""
    _kill(run, signal.SIGTERM, reason)
    if run.process is not None:
        try:
            run.process.wait(timeout=KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            _kill(run, signal.SIGKILL, reason)
            run.process.wait()


def watch(run: TaskRun, local: LocalTasks, execution_stopped: Callable[[], bool]) -> None:
    """Waits for the process and records its end. Stops it when a StopTask reaches moto's ECS, and calls
    StopTask itself when the execution is stopped (Step Functions' documented best-effort stop); a state
    timeout alone leaves it running, as on AWS. Runs in its own thread; ``run.finished`` is set once moto's
    ECS backend shows the task STOPPED."""
    process = run.process
    assert process is not None
    try:
        while process.poll() is None:
            requested = stop_requested(run.task_arn)
            if requested is not None:
                stop(run, requested)
                break
            if execution_stopped():
                request_stop(run.task_arn, "Execution stopped by AWS Step Functions")
            time.sleep(0.05)
        run.exit_code = exit_code_of(process.wait())
        run.stopped = time.monotonic()
        put_task_output(run, local)
        with contextlib.suppress(KeyError):  # the local AWS was reset under it: nothing to mark
            mark_stopped(run.task_arn, run)
    finally:
        ended(run, local)


def new_log_path(local: LocalTasks, number: int) -> Path:
    directory = local.log_dir or Path(tempfile.gettempdir()) / f"bamboohr-moodle-sync-tasks-{os.getpid()}"
    return directory / f"task-{number:04d}.log"


def mark_stopped(task_arn: str, run: TaskRun) -> None:
    """Writes the task's end into moto's ECS backend, as the ECS agent reports it on AWS."""
    task = ecs_task(task_arn)
    now = dt.datetime.now(dt.UTC)
    stopped_by_request = task.desired_status == "STOPPED" and run.start_failure is None
    if run.start_failure is not None:
        task.stop_code, task.stopped_reason = run.start_failure.stop_code, run.start_failure.reason
    elif stopped_by_request:
        task.stop_code, task.stopped_reason = "UserInitiated", run.stop_reason or task.stopped_reason
    else:
        task.stop_code, task.stopped_reason = "EssentialContainerExited", "Essential container in task exited"
    task.last_status = "STOPPED"
    task.desired_status = "STOPPED"
    task.stopping_at = task.stopped_at = task.execution_stopped_at = now
    for container in task.containers:
        container.last_status = "STOPPED"
        container.exitCode = run.exit_code  # None (left out of DescribeTasks) when it never started
        if run.start_failure is not None:
            container.reason = run.start_failure.reason
        container.task_arn = task_arn  # moto fills in the task definition's ARN here


def stop_all(local: LocalTasks) -> None:
    """Stops every task process still running (teardown: nothing outlives the offline run)."""
    for run in local.runs:
        if run.process is not None and run.process.poll() is None:
            request_stop(run.task_arn, "The offline run ended")
            run.finished.wait(KILL_GRACE_S * 3)
