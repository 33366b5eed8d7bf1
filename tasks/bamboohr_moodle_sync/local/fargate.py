"""The project's ``ecs:runTask.sync`` integration for moto's Step Functions interpreter: Fargate as a subprocess.

moto's own ECS integration passes the ASL's PascalCase parameters to boto3 unconverted and never checks exit
codes. This one behaves as Step Functions does on AWS:

1. converts the state's parameters with botocore's RunTask shape and calls RunTask on the local moto server
   (the task shows up in moto's ECS backend, ``StartedBy: "AWS Step Functions"``);
2. runs the container as a local process: the task definition's command (or ``LocalTasks.command``) with the
   container's environment, then the state's ContainerOverrides, plus what it needs to reach the local AWS;
3. on exit marks the ECS task STOPPED (``StopCode: EssentialContainerExited``, ``Containers[].ExitCode``) and
   returns the DescribeTasks entry with PascalCase keys; a non-zero exit fails the state with
   ``States.TaskFailed`` and the task description as the JSON ``Cause``;
4. when the state times out (or the execution stops) the process is killed and the task stopped.

``LocalTasks`` is the process-wide configuration (moto builds a fresh state object per state, so it cannot
be passed in): endpoint, extra environment, fault hooks and observers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
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

DEFAULT_COMMAND: tuple[str, ...] = (sys.executable, "-m", "bamboohr_moodle_sync.cli", "batch")
KILL_GRACE_S = 2.0


@dataclass
class TaskRun:
    """One launched task: what ran, with which environment, and how it ended."""

    number: int  # 1-based launch count in this process (retries count)
    task_arn: str
    command: list[str]
    environment: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    exit_code: int | None = None
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
    """How tasks run locally. ``kill_at`` holds launch numbers whose process is SIGKILLed ``kill_after_s``
    after start (exit code 137, as ECS reports an OOM-killed or stopped container)."""

    endpoint_url: str
    region: str = "us-east-1"
    command: Sequence[str] | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    kill_at: frozenset[int] = frozenset()
    kill_after_s: float = 0.0
    log_dir: Path | None = None
    on_launch: Callable[[TaskRun], None] | None = None
    on_exit: Callable[[TaskRun], None] | None = None
    runs: list[TaskRun] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def next_number(self) -> int:
        with self._lock:
            return len(self.runs) + 1

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


def watch(run: TaskRun, local: LocalTasks, is_running: Callable[[], bool], timeout_s: float | None) -> None:
    """Waits for the process and records its end; stops it when the state gives up on it (timeout, execution
    stopped). Runs in its own thread; ``run.finished`` is set once moto's ECS backend shows the task STOPPED."""
    process = run.process
    assert process is not None
    deadline = None if timeout_s is None else run.started + timeout_s
    try:
        while process.poll() is None:
            if not is_running() or (deadline is not None and time.monotonic() > deadline):
                stop(run, "Task stopped by Step Functions: the state timed out or the execution ended")
                break
            time.sleep(0.05)
        run.exit_code = exit_code_of(process.wait())
        run.stopped = time.monotonic()
        mark_stopped(run.task_arn, run)
    finally:
        try:
            if local.on_exit is not None:
                local.on_exit(run)
        finally:
            run.finished.set()


def new_log_path(local: LocalTasks, number: int) -> Path:
    directory = local.log_dir or Path(tempfile.gettempdir()) / f"bamboohr-moodle-sync-tasks-{os.getpid()}"
    return directory / f"task-{number:04d}.log"


def mark_stopped(task_arn: str, run: TaskRun) -> None:
    """Writes the task's end into moto's ECS backend, as the ECS agent reports it on AWS."""
    from moto.ecs.models import ecs_backends

    _, _, _, region, account, resource = task_arn.split(":", 5)
    cluster_name = resource.split("/")[1]
    task: Any = ecs_backends[account][region].tasks[cluster_name][task_arn]
    now = dt.datetime.now(dt.UTC)
    killed_by_us = run.stop_reason.startswith("Task stopped by Step Functions")
    task.last_status = "STOPPED"
    task.desired_status = "STOPPED"
    task.stop_code = "UserInitiated" if killed_by_us else "EssentialContainerExited"
    task.stopped_reason = run.stop_reason if killed_by_us else "Essential container in task exited"
    task.stopping_at = task.stopped_at = task.execution_stopped_at = now
    for container in task.containers:
        container.last_status = "STOPPED"
        container.exitCode = run.exit_code
        container.task_arn = task_arn  # moto fills in the task definition's ARN here


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
