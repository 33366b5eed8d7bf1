"""IAM enforced offline: every AWS call a template principal makes is authorised against that principal's policies.

The principals and where their calls are checked:

- the state machine role: the interpreter's service integrations call the local AWS with this role's
  assumed-role credentials (``interpreter``), so each call (and what AWS authorises with it: ``iam:PassRole`` of
  the task roles and ``ecs:TagResource`` on RunTask, ``kms:GenerateDataKey``/``kms:Decrypt`` on publishing to an
  encrypted topic) is checked by the server hook below; the ``.sync`` managed rule's ``events:*`` actions are
  checked when a ``.sync`` state starts;
- the task execution role: the local Fargate checks the image pull (``ecr:*``) and writes the task's output with
  this role's credentials (``logs:CreateLogStream``, ``logs:PutLogEvents``) before the container starts;
- the task role: the batch process gets this role's credentials, so its Secrets Manager and DynamoDB calls are
  checked by the server hook;
- the schedules' roles (SAM generates one per ScheduleV2 event): the offline run starts executions with the
  schedule's, and full runs (input mode "full") with the reconcile schedule's.

Each role is assumed as its service principal, so its trust policy is evaluated too. Policies are read from the
moto IAM backend, as ``aws.deploy`` put them there from template.yaml. Calls made with any other credentials (the
runner, the tests, the local ECS agent) are the operator's and are not checked. A denied call answers
``AccessDeniedException`` (``AuthorizationError`` for SNS) with AWS's wording, naming the principal, the action and
the resource. A call of an enforced principal that this module cannot map to IAM requests, or a policy the
evaluator cannot decide, fails the call too: nothing is silently allowed.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from moto.core.exceptions import JsonRESTError, _RESTError

from bamboohr_moodle_sync.local.aws import fargate, iam_policy
from bamboohr_moodle_sync.local.aws.iam_policy import CannotDecide, Decision, Request
from bamboohr_moodle_sync.local.aws.stack import Deployment

ECS_TASKS = "ecs-tasks.amazonaws.com"
STATES = "states.amazonaws.com"
SCHEDULER = "scheduler.amazonaws.com"
ECS_SYNC_RULE = "StepFunctionsGetEventsForECSTaskRule"
_IAM_PREFIX = {"stepfunctions": "states"}  # moto's service name -> IAM's action prefix


class AccessDenied(Exception):
    """A principal's request that its policies do not allow (or that the evaluator could not decide)."""

    def __init__(self, message: str, principal: str, action: str, resource: str) -> None:
        super().__init__(message)
        self.message, self.principal, self.action, self.resource = message, principal, action, resource


@dataclass(frozen=True)
class Principal:
    role_arn: str
    session_arn: str  # arn:aws:sts::<account>:assumed-role/<role>/<session>

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


@dataclass(frozen=True)
class Verdict:
    """One evaluated request, for the run's record (``out/iam.json``) and the tests."""

    role: str
    action: str
    resource: str
    decision: str


@dataclass
class Enforcement:
    """The principals whose calls are checked, and every decision taken."""

    account: str
    region: str
    partition: str = "aws"
    principals: dict[str, Principal] = field(default_factory=dict)  # access key id -> principal
    verdicts: list[Verdict] = field(default_factory=list)
    partition_key: str = "pk"  # the state table's, for dynamodb:LeadingKeys of a PutItem
    state_machine: Credentials | None = None  # what the interpreter's integrations call AWS with
    scheduler: Credentials | None = None  # what the schedule starts executions with
    reconcile_scheduler: Credentials | None = None  # what the reconcile schedule starts full runs with
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ principals
    def check_trust(self, role_arn: str, service: str) -> None:
        """Raises AccessDenied unless the role's trust policy lets ``service`` assume it for this account."""
        from moto.iam.models import iam_backends

        role = iam_backends[self.account][self.partition].get_role_by_arn(role_arn)
        trust = json.loads(role.assume_role_policy_document)
        request = Request(
            "sts:AssumeRole", role_arn, {"aws:SourceAccount": self.account}, principal={"Service": service}
        )
        self._decide(Principal(role_arn, service), [trust], request)

    def assume(self, role_arn: str, service: str, session_name: str) -> Credentials:
        """``sts:AssumeRole`` by ``service`` (its trust policy evaluated), registering the session as enforced."""
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends

        self.check_trust(role_arn, service)
        role = iam_backends[self.account][self.partition].get_role_by_arn(role_arn)
        assumed = sts_backends[self.account][self.partition].assume_role(
            region_name=self.region,
            role_session_name=session_name,
            role_arn=role_arn,
            policy="",
            duration=3600,
            external_id="",
        )
        session_arn = f"arn:{self.partition}:sts::{self.account}:assumed-role/{role.name}/{session_name}"
        principal = Principal(role_arn, session_arn)
        with self._lock:
            self.principals[assumed.access_key_id] = principal
        return Credentials(assumed.access_key_id, assumed.secret_access_key, assumed.session_token)

    def principal_for(self, access_key_id: str) -> Principal | None:
        with self._lock:
            return self.principals.get(access_key_id)

    # ------------------------------------------------------------------ decisions
    def authorize(self, principal: Principal, requests: Iterable[Request]) -> None:
        """Raises AccessDenied for the first request the principal's identity policies do not allow."""
        documents = self._policies(principal.role_name)
        for request in requests:
            self._decide(principal, documents, request)

    def _decide(self, principal: Principal, documents: Sequence[Mapping[str, Any]], request: Request) -> None:
        try:
            decision = iam_policy.evaluate(documents, request)
        except CannotDecide as exc:
            self._record(principal, request, f"undecidable: {exc}")
            raise AccessDenied(
                f"cannot evaluate {request.action} on {request.resource} for {principal.session_arn}: {exc}",
                principal.role_arn,
                request.action,
                request.resource,
            ) from exc
        self._record(principal, request, decision.value)
        if decision is not Decision.ALLOWED:
            message = iam_policy.denial_message(principal.session_arn, request, decision)
            raise AccessDenied(message, principal.role_arn, request.action, request.resource)

    def _record(self, principal: Principal, request: Request, decision: str) -> None:
        with self._lock:
            self.verdicts.append(Verdict(principal.role_arn, request.action, request.resource, decision))

    def denials(self) -> list[Verdict]:
        with self._lock:
            return [v for v in self.verdicts if v.decision != Decision.ALLOWED.value]

    def _policies(self, role_name: str) -> list[dict[str, Any]]:
        from moto.iam.models import iam_backends

        backend = iam_backends[self.account][self.partition]
        documents = []
        for name in backend.list_role_policies(role_name):
            _, document = backend.get_role_policy(role_name, name)
            documents.append(json.loads(document) if isinstance(document, str) else document)
        attached, _ = backend.list_attached_role_policies(role_name)
        for policy in attached:
            default = next(v for v in policy.versions if v.is_default)
            documents.append(json.loads(default.document))
        return documents

    # ------------------------------------------------------------------ ARNs
    def arn(self, service: str, resource: str, region: str | None = None) -> str:
        region = self.region if region is None else region
        return f"arn:{self.partition}:{service}:{region}:{self.account}:{resource}"

    def sync_rule_requests(self) -> list[Request]:
        """What ``ecs:runTask.sync`` needs besides RunTask: the managed rule that reports the task's end."""
        rule = self.arn("events", f"rule/{ECS_SYNC_RULE}")
        return [Request(f"events:{a}", rule) for a in ("PutTargets", "PutRule", "DescribeRule")]

    def image_pull_requests(self, image: str) -> list[Request]:
        """The ECS agent's ECR calls for ``<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@digest]``."""
        host, _, path = image.partition("/")
        parts = host.split(".")
        if len(parts) < 6 or parts[1:3] != ["dkr", "ecr"]:
            return []  # not an ECR image: pulled without the execution role
        repository = path.split("@")[0].split(":")[0]
        arn = f"arn:{self.partition}:ecr:{parts[3]}:{parts[0]}:repository/{repository}"
        layer_actions = ("BatchCheckLayerAvailability", "GetDownloadUrlForLayer", "BatchGetImage")
        return [Request("ecr:GetAuthorizationToken", "*"), *(Request(f"ecr:{a}", arn) for a in layer_actions)]

    def log_stream_arn(self, group: str, stream: str) -> str:
        return self.arn("logs", f"log-group:{group}:log-stream:{stream}")

    # ------------------------------------------------------------------ requests of an API call
    def requests_for(self, service: str, operation: str, params: Mapping[str, Any]) -> list[Request]:
        """The IAM requests AWS authorises for one API call; CannotDecide for a call this module does not know."""
        prefix = _IAM_PREFIX.get(service, service)
        mapper = _MAPPERS.get(f"{prefix}:{operation}")
        if mapper is None:
            raise CannotDecide(f"{prefix}:{operation} is not mapped to IAM requests (iam_enforcement._MAPPERS)")
        requests: list[Request] = mapper(self, params)
        return requests


def _table(e: Enforcement, name: str) -> str:
    return name if name.startswith("arn:") else e.arn("dynamodb", f"table/{name}")


def _leading_keys(e: Enforcement, item: Mapping[str, Any]) -> dict[str, list[str]]:
    """``dynamodb:LeadingKeys``: the partition key value the request names (from its Key, or a Put's Item)."""
    value = item.get(e.partition_key)
    return {"dynamodb:LeadingKeys": [str(next(iter(value.values())))]} if isinstance(value, Mapping) and value else {}


def _dynamodb_item(operation: str) -> Any:
    def mapper(e: Enforcement, p: Mapping[str, Any]) -> list[Request]:
        context = _leading_keys(e, p.get("Key") or p.get("Item") or {})
        return [Request(f"dynamodb:{operation}", _table(e, p["TableName"]), context)]

    return mapper


_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _transact_write(e: Enforcement, params: Mapping[str, Any]) -> list[Request]:
    requests = []
    for item in params.get("TransactItems", []):
        ((kind, body),) = item.items()
        context = _leading_keys(e, body.get("Key") or body.get("Item") or {})
        requests.append(Request(f"dynamodb:{_TRANSACT_ACTIONS[kind]}", _table(e, body["TableName"]), context))
    return requests


def _secret(e: Enforcement, params: Mapping[str, Any]) -> list[Request]:
    from moto.secretsmanager.models import secretsmanager_backends

    secret_id = str(params["SecretId"])
    store = secretsmanager_backends[e.account][e.region].secrets
    arn = store[secret_id].arn if secret_id in store else e.arn("secretsmanager", f"secret:{secret_id}")
    return [Request("secretsmanager:GetSecretValue", arn)]


def _publish(e: Enforcement, params: Mapping[str, Any]) -> list[Request]:
    from moto.sns.models import sns_backends

    topic_arn = str(params["TopicArn"])
    requests = [Request("sns:Publish", topic_arn)]
    topic = sns_backends[e.account][e.region].topics.get(topic_arn)
    key = topic.kms_master_key_id if topic is not None else ""
    if key:  # publishing to an encrypted topic uses the publisher's permissions on its key
        key_arn = key if key.startswith("arn:") else e.arn("kms", key if key.startswith("alias/") else f"key/{key}")
        requests += [Request("kms:GenerateDataKey", key_arn), Request("kms:Decrypt", key_arn)]
    return requests


def _cluster(e: Enforcement, params: Mapping[str, Any]) -> str:
    cluster = str(params.get("cluster") or "default")
    return cluster if cluster.startswith("arn:") else e.arn("ecs", f"cluster/{cluster}")


def _task_arn(e: Enforcement, cluster_arn: str, task: str) -> str:
    return task if task.startswith("arn:") else e.arn("ecs", f"task/{cluster_arn.rsplit('/', 1)[-1]}/{task}")


def _run_task(e: Enforcement, params: Mapping[str, Any]) -> list[Request]:
    from moto.ecs.models import ecs_backends

    cluster = _cluster(e, params)
    definition = ecs_backends[e.account][e.region].describe_task_definition(str(params["taskDefinition"]))
    context = {"ecs:cluster": cluster}
    requests = [Request("ecs:RunTask", definition.arn, context)]
    overrides = params.get("overrides") or {}
    for role in (
        overrides.get("taskRoleArn") or definition.task_role_arn,
        overrides.get("executionRoleArn") or definition.execution_role_arn,
    ):
        if role:
            requests.append(Request("iam:PassRole", role, {"iam:PassedToService": ECS_TASKS}))
    if params.get("propagateTags") or params.get("tags"):  # tag-on-create: the new task is tagged as it starts
        new_task = _task_arn(e, cluster, uuid.uuid4().hex)
        requests.append(Request("ecs:TagResource", new_task, {"ecs:CreateAction": "RunTask", **context}))
    return requests


def _tasks(action: str) -> Any:
    def mapper(e: Enforcement, params: Mapping[str, Any]) -> list[Request]:
        cluster = _cluster(e, params)
        tasks = params.get("tasks") or [params.get("task")]
        return [Request(f"ecs:{action}", _task_arn(e, cluster, str(t)), {"ecs:cluster": cluster}) for t in tasks]

    return mapper


def _start_execution(e: Enforcement, params: Mapping[str, Any]) -> list[Request]:
    return [Request("states:StartExecution", str(params["stateMachineArn"]))]


def _log_stream(action: str) -> Any:
    return lambda e, p: [Request(f"logs:{action}", e.log_stream_arn(p["logGroupName"], p["logStreamName"]))]


_MAPPERS: dict[str, Any] = {
    **{f"dynamodb:{op}": _dynamodb_item(op) for op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem")},
    "dynamodb:TransactWriteItems": _transact_write,
    "secretsmanager:GetSecretValue": _secret,
    "sns:Publish": _publish,
    "ecs:RunTask": _run_task,
    "ecs:DescribeTasks": _tasks("DescribeTasks"),
    "ecs:StopTask": _tasks("StopTask"),
    # On Fargate ListTasks names no container instance: authorised against "*", with the cluster as context.
    "ecs:ListTasks": lambda e, p: [Request("ecs:ListTasks", "*", {"ecs:cluster": _cluster(e, p)})],
    "states:StartExecution": _start_execution,
    "logs:CreateLogStream": _log_stream("CreateLogStream"),
    "logs:PutLogEvents": _log_stream("PutLogEvents"),
}


def managed_rule_denial(enforcement: Enforcement, role_arn: str, definition: str) -> str | None:
    """CreateStateMachine's check: a definition with an ECS ``.sync`` task needs its role to manage the rule.

    AWS answers ``AccessDeniedException: '<role>' is not authorized to create managed-rule.`` at create time.
    """
    if "ecs:runTask.sync" not in definition:
        return None
    try:
        enforcement.authorize(Principal(role_arn, role_arn), enforcement.sync_rule_requests())
    except AccessDenied as exc:
        return f"'{role_arn}' is not authorized to create managed-rule. ({exc.action} on {exc.resource})"
    return None


def enforce(deployment: Deployment) -> Enforcement:
    """Starts enforcing for one deployed stack: Step Functions assumes the state machine's role, Scheduler the
    schedule's (SAM generates it for the ScheduleV2 event).

    Raises ``AccessDenied`` where AWS's CreateStateMachine would have refused the role (the ``.sync`` rule).
    """
    _, _, _, region, account, _ = deployment.state_machine_arn.split(":", 5)
    enforcement = Enforcement(account, region)
    role = deployment.state_machine_role_arn
    denial = managed_rule_denial(enforcement, role, deployment.definition)
    if denial is not None:
        raise AccessDenied(denial, role, "events:PutRule", ECS_SYNC_RULE)
    enforcement.state_machine = enforcement.assume(role, STATES, "local-execution")
    schedule_roles = [arn for logical, arn in deployment.roles.items() if logical.endswith("ScheduleRole")]
    for arn in schedule_roles:
        enforcement.scheduler = enforcement.assume(arn, SCHEDULER, "local-schedule")
    for arn in [arn for logical, arn in deployment.roles.items() if logical.endswith("ReconcileRole")]:
        enforcement.reconcile_scheduler = enforcement.assume(arn, SCHEDULER, "local-reconcile-schedule")
    configure(enforcement)
    return enforcement


def state_machine_client(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's ``boto_client_for``, signing with the state machine role's session when enforcement is on."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    enforcement = _current
    if enforcement is None or enforcement.state_machine is None:
        return boto_client.boto_client_for(region=region, service=service, state_credentials=state_credentials)
    import boto3
    from botocore.config import Config
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port

    credentials = enforcement.state_machine
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=region,
        **({} if botocore_stubber.enabled else {"endpoint_url": f"http://localhost:{moto_server_port()}"}),
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=Config(parameter_validation=False, retries={"max_attempts": 0, "total_max_attempts": 1}),
    )


# ---------------------------------------------------------------------------------------------- the server hook
_current: Enforcement | None = None
_installed = False


def configure(enforcement: Enforcement | None) -> None:
    """Sets (or clears) the process-wide enforcement the server hook and the local integrations read."""
    global _current
    _current = enforcement


def current() -> Enforcement | None:
    return _current


class _SnsAuthorizationError(_RESTError):
    """SNS's (query protocol) XML error, with the RequestId botocore and the interpreter read."""

    code = 403

    def __init__(self, message: str) -> None:
        super().__init__("AuthorizationError", message)
        from xmltodict import unparse

        error = {"Type": "Sender", "Code": "AuthorizationError", "Message": message}
        self.description = unparse({"ErrorResponse": {"Error": error, "RequestId": str(uuid.uuid4())}})


def _params_of(response: Any) -> dict[str, Any]:
    raw = response.raw_body
    if raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    return {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in response.querystring.items()}


def check_call(response: Any) -> None:
    """Authorises one request the moto server received, when it was signed by an enforced principal."""
    enforcement = _current
    if enforcement is None:
        return
    principal = enforcement.principal_for(response.get_access_key())
    if principal is None:
        return
    service = str(response.service_name)
    operation = response._get_action()
    params = _params_of(response)
    try:
        requests = enforcement.requests_for(service, operation, params)
        enforcement.authorize(principal, requests)
        if f"{service}:{operation}" == "ecs:RunTask":
            _check_task_roles(enforcement, requests)
    except CannotDecide as exc:
        raise JsonRESTError("AccessDeniedException", f"{principal.session_arn}: {exc}") from exc
    except AccessDenied as exc:
        if service == "sns":
            raise _SnsAuthorizationError(exc.message) from exc
        raise JsonRESTError("AccessDeniedException", exc.message) from exc


def _check_task_roles(enforcement: Enforcement, requests: Sequence[Request]) -> None:
    """RunTask refuses a task or execution role that ECS cannot assume (its trust policy), as AWS does."""
    for request in requests:
        if request.action != "iam:PassRole":
            continue
        try:
            enforcement.check_trust(request.resource, ECS_TASKS)
        except AccessDenied as exc:
            raise JsonRESTError(
                "InvalidParameterException",
                f"ECS was unable to assume the role '{request.resource}' that was provided for this task. Please "
                "verify that the role being passed has the proper trust relationship and permissions and that your "
                "IAM user has permissions to pass this role.",
            ) from exc


def task_role_environment(definition: Mapping[str, Any], overrides: Mapping[str, Any], task_arn: str) -> dict[str, str]:
    """The task role's credentials for the container, as the ECS agent hands them over ({} when not enforcing)."""
    enforcement = _current
    role = overrides.get("taskRoleArn") or definition.get("taskRoleArn")
    if enforcement is None or not role:
        return {}
    return enforcement.assume(str(role), ECS_TASKS, task_arn.rsplit("/", 1)[-1]).environment()


def execution_role_check(run: fargate.TaskRun) -> fargate.StartFailure | None:
    """A ``fargate`` start check: the ECS agent assumes the execution role, pulls the image with it (ECR), and the
    awslogs driver then writes with it (``run.agent_credentials``). A refused pull stops the task as AWS does."""
    enforcement = _current
    if enforcement is None or not run.execution_role_arn:
        return None
    task_id = run.task_arn.rsplit("/", 1)[-1]
    credentials = enforcement.assume(run.execution_role_arn, ECS_TASKS, task_id)
    run.agent_credentials = credentials.environment()
    principal = enforcement.principal_for(credentials.access_key_id)
    assert principal is not None
    try:
        enforcement.authorize(principal, enforcement.image_pull_requests(run.image))
    except AccessDenied as exc:
        if exc.action == "ecr:GetAuthorizationToken":
            return fargate.StartFailure(
                "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval"
                " failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s):"
                f" AccessDeniedException: {exc.message}"
            )
        return fargate.StartFailure(
            f"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref"
            f" {run.image}: denied: {exc.message}"
        )
    return None


def install() -> None:
    """Hooks ``check_call`` into moto's request handling (once per process)."""
    global _installed
    if _installed:
        return
    from moto.core.responses import BaseResponse

    original = BaseResponse._authenticate_and_authorize_normal_action

    def authorize(self: Any, resource: str = "*") -> None:
        original(self, resource)
        check_call(self)

    BaseResponse._authenticate_and_authorize_normal_action = authorize  # type: ignore[method-assign]
    _install_client_factory()
    _installed = True


def _install_client_factory() -> None:
    """Every interpreter module that imported moto's ``boto_client_for`` gets ``state_machine_client``."""
    import importlib
    import pkgutil
    import sys

    from moto.stepfunctions.parser.asl.component.state.exec.state_task import service
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for  # stays in its own module: state_machine_client falls back to it
    for info in pkgutil.iter_modules(service.__path__, f"{service.__name__}."):
        importlib.import_module(info.name)
    for name, module in list(sys.modules.items()):
        in_interpreter = name.startswith("moto.stepfunctions.parser") and module is not boto_client
        if in_interpreter and getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = state_machine_client  # type: ignore[attr-defined]


__all__ = [
    "AccessDenied",
    "Credentials",
    "Enforcement",
    "Principal",
    "Verdict",
    "check_call",
    "configure",
    "current",
    "enforce",
    "execution_role_check",
    "install",
    "managed_rule_denial",
    "state_machine_client",
    "task_role_environment",
]
