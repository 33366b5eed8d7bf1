"""The whole pipeline on one machine: local AWS from template.yaml, both emulators, tasks as processes.

``running_pipeline`` is what ``local-run`` and the integration tests share; ``Pipeline`` answers the
questions they ask (start an execution as the scheduler would, follow a continue-as-new chain, read the
watermark, the SNS messages, the Moodle end state).
"""

from __future__ import annotations

import json
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bamboohr_moodle_sync.local.aws import ecs_api, fargate, iam_enforcement, interpreter, stack
from bamboohr_moodle_sync.local.aws.motoserver import LocalAws, running_moto
from bamboohr_moodle_sync.local.bamboohr.emulator import RunningBambooHR, running_bamboohr
from bamboohr_moodle_sync.local.moodle.emulator import RunningMoodle, running_moodle
from bamboohr_moodle_sync.local.server import Faults
from bamboohr_moodle_sync.mapping import load_mapping
from bamboohr_moodle_sync.models import RecordFailure

REPO_ROOT = Path(__file__).resolve().parents[4]
TEMPLATE = REPO_ROOT / "template.yaml"
# An image in the bootstrap stack's repository, as infra/README.md pushes it: the execution role's ECR
# permissions are checked against it. Locally the task runs as a process, so nothing is pulled.
LOCAL_IMAGE = f"{stack.ACCOUNT_ID}.dkr.ecr.{stack.REGION}.amazonaws.com/bamboohr-moodle-sync:local"
DEMO_MAPPING = """\
[profile_fields]
jobtitle = "jobTitle"
hiredate = { from = "hireDate", type = "datetime" }

[cohorts]
department = "Department: {value}"
location = "Location: {value}"

[cohort_settings]
leavers = "remove"
"""
"""The demo's mapping (``MAPPING_FILE`` of every task): two profile fields and two cohort rules."""
RENAMED_DEPARTMENT = ("Customer Care", "Customer Success")  # what an earlier sync knew -> what BambooHR says now
HAND_MADE_COHORT = ("Mentors", "mentors")  # (name, idnumber): no bamboohr: prefix, never touched by the sync
RENAMED_MEMBERS = 30  # accounts in the renamed cohort: the rename trips no guard, whatever the demo's size


@dataclass
class Options:
    employees: int = 1000
    batch_size: int = 200
    max_batches_per_execution: int = 500
    bamboohr_faults: Faults = field(default_factory=Faults)
    moodle_faults: Faults = field(default_factory=Faults)
    moodle_down_at_batch: int | None = None
    kill_task_at_batch: frozenset[int] = frozenset()
    run_task_faults: dict[int, ecs_api.RunTaskFault] = field(default_factory=dict)  # by RunTask number
    start_faults: dict[int, fargate.StartFailure] = field(default_factory=dict)  # by RunTask number
    batch_timeout_s: int | None = None  # BatchTimeoutSeconds (the template's default otherwise)
    max_suspensions: int | None = None  # MaxSuspensions (the template's default otherwise)
    allow_mass_suspend: bool = False  # the execution's input {"allowMassSuspend": true}
    time_scale: float = 1.0  # multiplies the ASL's Retry intervals
    adopt_accounts: int = 3  # hand-made Moodle accounts matching employees, for the task to adopt
    previous_sync: bool = True  # Moodle already holds accounts from an earlier sync: some stale, leavers, returners
    mapping: str | None = DEMO_MAPPING  # MAPPING_FILE's text (None: the default mapping, no cohorts)
    output: Path = Path("out")
    template: Path = TEMPLATE
    real_bamboohr: tuple[str, str] | None = None  # (api url, key): forces DRY_RUN=1
    real_moodle: tuple[str, str] | None = None  # (url, token): forces DRY_RUN=1
    on_task_exit: Callable[[fargate.TaskRun], None] | None = None


def wait_for_execution(sfn: Any, execution_arn: str, timeout_s: float = 600) -> dict[str, Any]:
    """``describe_execution`` once it is no longer RUNNING; a clear TimeoutError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise TimeoutError(f"execution {execution_arn} still RUNNING after {timeout_s:.0f} s")


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every history event of the execution, across pages."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


@dataclass
class Pipeline:
    local: LocalAws
    deployment: stack.Deployment
    tasks: fargate.LocalTasks
    bamboohr: RunningBambooHR | None
    moodle: RunningMoodle | None
    options: Options

    def client(self, service: str) -> Any:
        return self.local.client(service)

    def start(self, execution_input: dict[str, Any] | None = None, name: str | None = None) -> str:
        """Starts one execution as EventBridge Scheduler does, with the schedule's role (input ``{}`` unless given;
        input mode "full" with the reconcile schedule's role, as that schedule starts it)."""
        enforcement = iam_enforcement.current()
        credentials = enforcement.scheduler if enforcement is not None else None
        if enforcement is not None and (execution_input or {}).get("mode") == "full":
            credentials = enforcement.reconcile_scheduler
        environment = credentials.environment() if credentials is not None else {}
        sfn = self.local.session().client(
            "stepfunctions",
            endpoint_url=self.local.endpoint_url,
            aws_access_key_id=environment.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=environment.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=environment.get("AWS_SESSION_TOKEN"),
        )
        arn: str = sfn.start_execution(
            stateMachineArn=self.deployment.state_machine_arn,
            name=name or f"local-{uuid.uuid4().hex[:12]}",
            input=json.dumps(execution_input or {}),
        )["executionArn"]
        return arn

    def describe(self, execution_arn: str) -> dict[str, Any]:
        described: dict[str, Any] = self.client("stepfunctions").describe_execution(executionArn=execution_arn)
        return described

    def wait(self, execution_arn: str, timeout_s: float = 600) -> dict[str, Any]:
        return wait_for_execution(self.client("stepfunctions"), execution_arn, timeout_s)

    def follow_chain(self, execution_arn: str, timeout_s: float = 600) -> list[dict[str, Any]]:
        """Waits for the execution and every execution it continued as; answers them in order."""
        chain = [self.wait(execution_arn, timeout_s)]
        while chain[-1]["status"] == "SUCCEEDED":
            child = json.loads(chain[-1].get("output") or "{}").get("childExecution")
            if not child:
                break
            chain.append(self.wait(child, timeout_s))
        return chain

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return execution_history(self.client("stepfunctions"), execution_arn)

    def item(self, pk: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = (
            self.client("dynamodb")
            .get_item(TableName=self.deployment.table_name, Key={"pk": {"S": pk}}, ConsistentRead=True)
            .get("Item")
        )
        return found

    def watermark(self, prefix: str = "") -> tuple[str, int] | None:
        """(since, offset) of the incremental watermark, or with ``prefix`` ``full#`` the full run's."""
        item = self.item(f"{prefix}watermark")
        return (item["since"]["S"], int(item["offset"]["N"])) if item else None

    def sns_messages(self) -> list[dict[str, str]]:
        """Every message published to the topic since the last call (Subject and Message)."""
        sqs = self.client("sqs")
        messages: list[dict[str, str]] = []
        while True:
            received = sqs.receive_message(QueueUrl=self.deployment.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not received:
                return messages
            for message in received:
                envelope = json.loads(message["Body"])
                messages.append({"Subject": envelope.get("Subject", ""), "Message": envelope["Message"]})
                sqs.delete_message(QueueUrl=self.deployment.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def moodle_users(self) -> list[dict[str, Any]]:
        return self.moodle.emulator.users() if self.moodle else []


def _adoptable_accounts(bamboohr: RunningBambooHR, moodle: RunningMoodle, count: int) -> None:
    """Accounts made by hand before the first run: same e-mail as an active employee, no idnumber."""
    active = [e for e in bamboohr.emulator.employees() if e.get("status") == "Active" and e.get("workEmail")]
    for person in active[:count]:
        email = str(person["workEmail"])
        moodle.emulator.add_user(
            email.split("@")[0] + ".byhand", str(person.get("firstName")), str(person.get("lastName")), email=email
        )


def _previously_synced_accounts(bamboohr: RunningBambooHR, moodle: RunningMoodle) -> None:
    """Accounts an earlier sync left: every 10th active employee's with a stale department (-> updated),
    every 25th's suspended (-> reactivated), every 2nd leaver's still active (-> suspended)."""
    mapping = load_mapping(None)
    in_snapshot_order = sorted(bamboohr.emulator.employees(), key=lambda e: (e["lastChanged"] or "", e["id"] or ""))
    for index, employee in enumerate(in_snapshot_order):
        desired = mapping.desired_user(employee)
        taken = {u["email"].lower() for u in moodle.emulator.users()} | {u["username"] for u in moodle.emulator.users()}
        if isinstance(desired, RecordFailure) or {desired.username, desired.email.lower()} & taken:
            continue  # Moodle keeps usernames and (by default) e-mails unique
        fields = dict(desired.fields)
        if not desired.active and index % 2 == 0:
            suspended = False
        elif desired.active and index % 25 == 0:
            suspended = True
        elif desired.active and index % 10 == 0:
            suspended, fields["department"] = False, "Before The Reorganisation"
        else:
            continue
        moodle.emulator.add_user(
            fields.pop("username"),
            fields.pop("firstname"),
            fields.pop("lastname"),
            fields.pop("email"),
            suspended=suspended,
            **fields,
        )


def _previous_cohorts(bamboohr: RunningBambooHR, moodle: RunningMoodle) -> None:
    """Cohorts an earlier sync (and an admin) left, for the demo mapping's rules: a hand-made cohort with members;
    the department cohort of before a rename, holding that department's accounts; a mover still in the cohort of
    an old department; a leaver still in their owned cohorts. Together well below the cohort guard's default at any
    ``--employees``: the renamed cohort holds at most ``RENAMED_MEMBERS`` of its department's accounts."""
    site = moodle.emulator
    employees = {e["id"]: e for e in bamboohr.emulator.employees()}
    synced = [(u, employees[u["idnumber"]]) for u in site.users() if u["idnumber"] in employees]
    mentors = site.add_cohort(*HAND_MADE_COHORT)
    for user, _ in synced[:3]:
        site.add_cohort_member(mentors, user["id"])
    old, new = RENAMED_DEPARTMENT
    before_rename = site.add_cohort(f"Department: {old}", f"bamboohr:department:{old}")
    renamed = [u for u, e in synced if e.get("department") == new and e.get("status") == "Active"]
    for user in renamed[:RENAMED_MEMBERS]:  # the rest of the department joins its new cohort only
        site.add_cohort_member(before_rename, user["id"])
    active = [(u, e) for u, e in synced if e.get("status") == "Active" and e.get("department") != new]
    leavers = [(u, e) for u, e in synced if e.get("status") == "Inactive" and not u["suspended"]]
    if active:  # the mover: still in the cohort of the department they left
        user, employee = active[0]
        left = next(d for d in ("Legal", "Finance") if d != employee.get("department"))
        site.add_cohort_member(site.add_cohort(f"Department: {left}", f"bamboohr:department:{left}"), user["id"])
    if leavers:  # the leaver: in the cohorts of their department and location (leavers = "remove")
        user, employee = leavers[0]
        for rule in ("department", "location"):
            value = str(employee.get(rule) or "")
            cohort = next((c["id"] for c in site.cohorts() if c["idnumber"] == f"bamboohr:{rule}:{value}"), None)
            if value:
                site.add_cohort_member(
                    cohort or site.add_cohort(f"{rule.title()}: {value}", f"bamboohr:{rule}:{value}"), user["id"]
                )


@contextmanager
def running_pipeline(options: Options, local: LocalAws | None = None) -> Iterator[Pipeline]:
    """Brings everything up (reusing ``local`` if given, after a reset) and tears it down after the block."""
    with ExitStack() as resources:
        if local is None:
            local = resources.enter_context(running_moto())
        else:
            local.reset()
        interpreter.set_time_scale(options.time_scale)
        resources.callback(interpreter.set_time_scale, 1.0)
        extra_env: dict[str, str] = {}
        bamboohr = moodle = None
        if options.real_bamboohr is None:
            bamboohr = resources.enter_context(running_bamboohr(options.employees, options.bamboohr_faults))
            api_url, api_key, domain = bamboohr.api_url, bamboohr.api_key, bamboohr.emulator.company_domain
        else:
            (api_url, api_key), domain = options.real_bamboohr, "local"
        if options.real_moodle is None:
            moodle = resources.enter_context(running_moodle(options.moodle_faults))
            moodle_url, token = moodle.url, moodle.token
        else:
            moodle_url, token = options.real_moodle
        extra_env["BAMBOOHR_API_URL"] = api_url
        if options.real_bamboohr or options.real_moodle:
            extra_env["DRY_RUN"] = "1"
            extra_env["LOG_PERSONAL_DATA"] = "1"  # the plan's names and values, in task logs on this machine only
        if options.mapping is not None:
            options.output.mkdir(parents=True, exist_ok=True)
            mapping_file = options.output / "mapping.toml"
            mapping_file.write_text(options.mapping, encoding="utf-8")
            extra_env["MAPPING_FILE"] = str(mapping_file.resolve())
        if bamboohr and moodle:
            _adoptable_accounts(bamboohr, moodle, options.adopt_accounts)
            if options.previous_sync:
                _previously_synced_accounts(bamboohr, moodle)
                if options.mapping is not None and "cohorts" in tomllib.loads(options.mapping):
                    _previous_cohorts(bamboohr, moodle)
        parameters = {
            "ImageUri": LOCAL_IMAGE,
            "BambooHRCompanyDomain": domain,
            "MoodleUrl": moodle_url,
            "BatchSize": str(options.batch_size),
            "MaxBatchesPerExecution": str(options.max_batches_per_execution),
        }
        if options.batch_timeout_s is not None:
            parameters["BatchTimeoutSeconds"] = str(options.batch_timeout_s)
        if options.max_suspensions is not None:
            parameters["MaxSuspensions"] = str(options.max_suspensions)
        deployment = stack.deploy(local, options.template, parameters, {"bamboohr": api_key, "moodle": token})
        iam_enforcement.enforce(deployment)
        resources.callback(iam_enforcement.configure, None)
        tasks = fargate.LocalTasks(
            endpoint_url=local.endpoint_url,
            extra_env=extra_env,
            kill_at=options.kill_task_at_batch,
            run_task_faults=options.run_task_faults,
            start_faults=options.start_faults,
            start_checks=[iam_enforcement.execution_role_check],
            log_dir=options.output / "tasks",
            on_launch=_moodle_outage(moodle, options.moodle_down_at_batch),
            on_exit=options.on_task_exit,
        )
        fargate.configure(tasks)
        resources.callback(fargate.configure, None)
        resources.callback(fargate.stop_all, tasks)  # first: no task process outlives the run
        yield Pipeline(local, deployment, tasks, bamboohr, moodle, options)


def _moodle_outage(moodle: RunningMoodle | None, at_batch: int | None) -> Callable[[fargate.TaskRun], None] | None:
    """Takes Moodle down (500 to every request) from the ``at_batch``-th task launch on."""
    if moodle is None or at_batch is None:
        return None

    def on_launch(run: fargate.TaskRun) -> None:
        if run.number == at_batch:
            # 500, not 503: the task's client retries 503 for about a minute before giving up; 500 fails at once.
            moodle.server.faults.error_status = 500
            moodle.server.faults.down_from_request = moodle.server.request_count + 1

    return on_launch
