"""The state machine definition: its shape, and its behaviour executed by moto's Step Functions interpreter.

The behaviour tests run statemachine/sync.asl.json in moto with jsonata-python as the JSONata evaluator.
Two small stand-ins, installed only inside these tests, fill moto 5.2.5's integration gaps:
- `ecs:runTask.sync` runs `BatchStandIn` (it follows the task's contract on the watermark) instead of ECS;
- `states:startExecution` converts the ASL's PascalCase names to the API's, as AWS does.
The real offline ECS integration (a subprocess per task) lives in tasks/bamboohr_moodle_sync/local/.
"""

from __future__ import annotations

import copy
import json
import types
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from bamboohr_moodle_sync.local.aws import asl_validator, interpreter, jsonata_plugin
from bamboohr_moodle_sync.local.pipeline.offline import wait_for_execution
from tests.unit.sam_template import definition_text, substitute

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "sync-state"
INITIAL_SINCE = "2024-01-01T00:00:00Z"
WINDOW_END = "2024-03-01T12:00:00Z"
OTHER_OWNER = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:other:run"
# Budget for the summed retry waits of one state (not counting the attempts' own run time).
RETRY_BUDGET_SECONDS = {"Run Batch": 600}
DEFAULT_RETRY_BUDGET_SECONDS = 60


def substitution_values(max_batches: int = 500, lock_ttl: int = 7200) -> dict[str, str]:
    """DefinitionSubstitutions as the deployed template resolves them, with moto's account and region."""
    return {
        "Partition": "aws",
        "Region": REGION,
        "StackName": "bms-test",
        "StateTable": TABLE,
        "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:sync-notifications",
        "ClusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/sync",
        "TaskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/bms-test-sync:1",
        "SubnetIds": "subnet-a,subnet-b",
        "SecurityGroupIds": "sg-a",
        "AssignPublicIp": "DISABLED",
        "BatchTimeoutSeconds": "900",
        "LockTtlSeconds": str(lock_ttl),
        "MaxBatchesPerExecution": str(max_batches),
        "InitialSince": INITIAL_SINCE,
    }


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(substitute(definition_text(), substitution_values()))
    return loaded


def tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: state for name, state in definition["States"].items() if state["Type"] == "Task"}


def successors(state: dict[str, Any]) -> set[str]:
    found = {state[key] for key in ("Next", "Default") if key in state}
    found |= {rule["Next"] for rule in state.get("Choices", [])}
    found |= {catcher["Next"] for catcher in state.get("Catch", [])}
    return found


def worst_case_retry_wait(retriers: list[dict[str, Any]]) -> float:
    """Seconds spent waiting if every retrier exhausts its attempts (jitter only ever shortens a wait)."""
    total = 0.0
    for retrier in retriers:
        interval = retrier.get("IntervalSeconds", 1)
        for attempt in range(retrier.get("MaxAttempts", 3)):
            delay = interval * retrier.get("BackoffRate", 2.0) ** attempt
            total += min(delay, retrier.get("MaxDelaySeconds", delay))
    return total


# ---------------------------------------------------------------------------------------------- shape


def test_definition_parses_in_moto_asl_parser() -> None:
    program, _ = AmazonStateLanguageParser.parse(substitute(definition_text(), substitution_values()))
    assert program is not None


def test_definition_uses_jsonata(definition: dict[str, Any]) -> None:
    assert definition["QueryLanguage"] == "JSONata"


def test_every_state_is_reachable(definition: dict[str, Any]) -> None:
    reached, frontier = set(), [definition["StartAt"]]
    while frontier:
        name = frontier.pop()
        if name not in reached:
            reached.add(name)
            frontier.extend(successors(definition["States"][name]))
    assert reached == set(definition["States"])


def test_machine_has_a_comment(definition: dict[str, Any]) -> None:
    assert definition["Comment"].strip()


@pytest.mark.parametrize("name", list(tasks(json.loads(definition_text()))))
def test_every_task_has_a_comment_and_catches_every_error(definition: dict[str, Any], name: str) -> None:
    task = definition["States"][name]
    assert task["Comment"].strip()
    assert any(catcher["ErrorEquals"] == ["States.ALL"] for catcher in task["Catch"])


def test_no_retrier_blanket_retries_states_all(definition: dict[str, Any]) -> None:
    retried = [
        error for task in tasks(definition).values() for r in task.get("Retry", []) for error in r["ErrorEquals"]
    ]
    assert "States.ALL" not in retried


def test_every_retrying_retrier_is_explicit_and_bounded(definition: dict[str, Any]) -> None:
    retriers = [r for task in tasks(definition).values() for r in task.get("Retry", []) if r["MaxAttempts"] > 0]
    assert retriers
    for retrier in retriers:
        assert {"IntervalSeconds", "MaxDelaySeconds"} <= set(retrier)
        assert retrier["BackoffRate"] <= 2


@pytest.mark.parametrize("name", list(tasks(json.loads(definition_text()))))
def test_worst_case_retry_wait_is_within_budget(definition: dict[str, Any], name: str) -> None:
    budget = RETRY_BUDGET_SECONDS.get(name, DEFAULT_RETRY_BUDGET_SECONDS)
    assert worst_case_retry_wait(definition["States"][name].get("Retry", [])) <= budget


def test_run_batch_is_a_sync_ecs_task_with_a_timeout(definition: dict[str, Any]) -> None:
    run_batch = definition["States"]["Run Batch"]
    assert run_batch["Resource"].endswith(":states:::ecs:runTask.sync")
    assert "TimeoutSeconds" in run_batch


def test_run_batch_overrides_the_contract_container(definition: dict[str, Any]) -> None:
    [override] = definition["States"]["Run Batch"]["Arguments"]["Overrides"]["ContainerOverrides"]
    assert override["Name"] == "sync"
    assert [variable["Name"] for variable in override["Environment"]] == [
        "SINCE",
        "OFFSET",
        "ALLOW_MASS_SUSPEND",
        "ALLOW_COHORT_REMOVALS",
        "SYNC_MODE",
    ]


def test_run_task_errors_are_caught_before_the_states_task_failed_catcher(definition: dict[str, Any]) -> None:
    """In a Catch, States.TaskFailed matches every error but States.Timeout: an ECS error listed after it would
    reach Retry Batch? (and be rerun) instead of the catcher meant for it."""
    catchers = definition["States"]["Run Batch"]["Catch"]
    task_failed = next(i for i, c in enumerate(catchers) if "States.TaskFailed" in c["ErrorEquals"])
    caught_before = {error for catcher in catchers[:task_failed] for error in catcher["ErrorEquals"]}
    retried = {error for retrier in definition["States"]["Run Batch"]["Retry"] for error in retrier["ErrorEquals"]}
    assert retried <= caught_before


def test_a_timed_out_batch_is_stopped_before_the_failure_is_reported(definition: dict[str, Any]) -> None:
    [timeout] = [c for c in definition["States"]["Run Batch"]["Catch"] if c["ErrorEquals"] == ["States.Timeout"]]
    stop = definition["States"][timeout["Next"]]
    stop_each = definition["States"][stop["Next"]]
    [stop_task] = stop_each["ItemProcessor"]["States"].values()
    assert stop["Resource"].endswith(":states:::aws-sdk:ecs:listTasks")
    assert stop_task["Resource"].endswith(":states:::aws-sdk:ecs:stopTask")
    assert stop_each["Next"] == "Release Lock On Failure"


# ---------------------------------------------------------------------------------------------- asl-validator


@pytest.fixture(scope="module")
def deployed_definition() -> dict[str, Any]:
    if not asl_validator.VALIDATOR.exists():
        pytest.skip("asl-validator is not installed: `make validate` installs it (make test runs it first)")
    loaded: dict[str, Any] = json.loads(asl_validator.deployed_definition())
    return loaded


def broken(definition: dict[str, Any], fault: str) -> dict[str, Any]:
    changed = copy.deepcopy(definition)
    if fault == "missing Next target":
        changed["States"]["Read Watermark"]["Next"] = "Read The Watermark"
    else:  # a JSONata syntax error
        changed["States"]["Run Batch"]["Assign"]["batches"] = "{% $batches + %}"
    return changed


def test_the_deployed_definition_passes_asl_validator(deployed_definition: dict[str, Any]) -> None:
    assert asl_validator.validate(json.dumps(deployed_definition)) == []


@pytest.mark.parametrize("fault", ["missing Next target", "JSONata syntax error"])
def test_asl_validator_rejects_what_moto_accepts(deployed_definition: dict[str, Any], fault: str) -> None:
    definition = json.dumps(broken(deployed_definition, fault))
    assert asl_validator.validate(definition) != []
    with mock_aws():
        created = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name="broken", definition=definition, roleArn=f"arn:aws:iam::{ACCOUNT}:role/sync-state-machine"
        )
    assert created["stateMachineArn"]


# ---------------------------------------------------------------------------------------------- behaviour


@dataclass
class BatchStandIn:
    """Plays the batch task: each run consumes `step` entries of a window of `total` and commits the watermark.

    `exit_codes` (consumed one per run, then 0) makes runs fail; a failing run leaves the watermark untouched,
    and `commit=False` makes every run a dry run that exits 0 without moving it.
    """

    total: int = 450
    step: int = 200
    commit: bool = True
    exit_codes: list[int] = field(default_factory=list)
    runs: list[dict[str, str]] = field(default_factory=list)
    on_run: Callable[[dict[str, str]], None] | None = None
    """Called with each run's environment before it runs (e.g. to play a webhook delivery meanwhile)."""

    def __call__(self, environment: dict[str, str]) -> int:
        self.runs.append(environment)
        if self.on_run is not None:
            self.on_run(environment)
        exit_code = self.exit_codes.pop(0) if self.exit_codes else 0
        if exit_code or not self.commit:
            return exit_code
        table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
        since, offset = environment["SINCE"], int(environment["OFFSET"]) + self.step
        full = environment.get("SYNC_MODE") == "full"  # a full run: its own items, and its since never moves
        prefix = "full#" if full else ""
        samples = {"sample_updated": {"7", "12"}, "sample_suspended": {"40"}} if full else {}
        if offset >= self.total:
            table.put_item(Item={"pk": f"{prefix}watermark", "since": since if full else WINDOW_END, "offset": 0})
            table.put_item(
                Item={
                    **samples,
                    "pk": f"{prefix}window#{since}",
                    "created": 4,
                    "updated": 7,
                    "suspended": 1,
                    "cohort_added": 9,
                    "cohort_removed": 2,
                    "batches": 3,
                    "total": 450,
                }
            )
        else:
            table.put_item(Item={"pk": f"{prefix}watermark", "since": since, "offset": offset})
        return exit_code


def stand_in_ecs_service(batch: Callable[[dict[str, str]], int]) -> type[interpreter.FargateRunTask]:
    class StandInEcs(interpreter.FargateRunTask):
        """The project's runTask.sync integration with `batch` called in place of a container process."""

        def _eval_service_task(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: Any, state_credentials: Any
        ) -> None:
            [override] = normalised_parameters["overrides"]["containerOverrides"]
            exit_code = batch({item["name"]: item["value"] for item in override["environment"]})
            description = {
                "TaskArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/sync/0123",
                "LastStatus": "STOPPED",
                "StopCode": "EssentialContainerExited",
                "StoppedReason": "Essential container in task exited",
                "Containers": [{"Name": override["name"], "ExitCode": exit_code}],
            }
            env.stack.append({"Tasks": [description]})

        def _build_sync_resolver(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: Any, state_credentials: Any
        ) -> Callable[[], dict[str, Any]]:
            description: dict[str, Any] = env.stack.pop()["Tasks"][0]

            def resolve() -> dict[str, Any]:
                if description["Containers"][0]["ExitCode"] == 0:
                    return description
                raise FailureEventException(failure_event=self._task_failed(env, json.dumps(description)))

            return resolve

    return StandInEcs


@dataclass
class Pipeline:
    """The deployed pieces, in moto: table, topic (with an SQS subscriber to read messages) and state machine."""

    batch: BatchStandIn
    table: Any
    queue_url: str
    state_machine_arn: str = ""

    def start(self, execution_input: dict[str, Any] | None = None, name: str = "run-1") -> str:
        client = boto3.client("stepfunctions", region_name=REGION)
        started = client.start_execution(
            stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(execution_input or {})
        )
        arn: str = started["executionArn"]
        return arn

    def finish(self, execution_arn: str, timeout: float = 30.0) -> dict[str, Any]:
        return wait_for_execution(boto3.client("stepfunctions", region_name=REGION), execution_arn, timeout)

    def run(self, execution_input: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.finish(self.start(execution_input))

    def item(self, pk: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.table.get_item(Key={"pk": pk}).get("Item")
        return found

    def messages(self) -> list[dict[str, str]]:
        sqs = boto3.client("sqs", region_name=REGION)
        received = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in received]


@pytest.fixture
def no_retry_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries and Wait states go on at once; the waits they would have taken are recorded."""
    waits: list[float] = []
    monkeypatch.setattr(retrier_decl, "time", types.SimpleNamespace(sleep=waits.append))
    monkeypatch.setattr(WaitFunction, "_wait_interval", lambda self, env, wait_seconds: waits.append(wait_seconds))
    return waits


@pytest.fixture
def batch() -> BatchStandIn:
    return BatchStandIn()


@pytest.fixture
def make_pipeline(
    monkeypatch: pytest.MonkeyPatch, batch: BatchStandIn, no_retry_waits: list[float]
) -> Iterator[Callable[[int], Pipeline]]:
    jsonata_plugin.install()
    services: dict[str, type[Any]] = {"ecs": stand_in_ecs_service(batch), "states": interpreter.NamedStartExecution}
    original: Callable[[str], Any] = state_task_factory.state_task_service_for  # type: ignore[attr-defined]
    monkeypatch.setattr(
        state_task_factory,
        "state_task_service_for",
        lambda service_name: services[service_name]() if service_name in services else original(service_name),
    )
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        table = dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        topic_arn = sns.create_topic(Name="sync-notifications")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

        def create(max_batches: int = 500, lock_ttl: int = 7200, stack_name: str = "bms-test") -> Pipeline:
            values = substitution_values(max_batches, lock_ttl) | {"TopicArn": topic_arn, "StackName": stack_name}
            created = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
                name="bms-test-sync",
                definition=substitute(definition_text(), values),
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/sync-state-machine",
            )
            return Pipeline(batch, table, queue_url, created["stateMachineArn"])

        yield create


@pytest.fixture
def pipeline(make_pipeline: Callable[..., Pipeline]) -> Pipeline:
    return make_pipeline()


def test_missing_watermark_starts_the_first_window_at_initial_since(pipeline: Pipeline) -> None:
    pipeline.run()
    assert pipeline.batch.runs[0] == {
        "SINCE": INITIAL_SINCE,
        "OFFSET": "0",
        "ALLOW_MASS_SUSPEND": "0",
        "ALLOW_COHORT_REMOVALS": "0",
        "SYNC_MODE": "incremental",
    }


def test_batches_run_until_the_window_is_drained(pipeline: Pipeline) -> None:
    execution = pipeline.run()
    assert execution["status"] == "SUCCEEDED"
    assert [run["OFFSET"] for run in pipeline.batch.runs] == ["0", "200", "400"]
    assert pipeline.item("watermark") == {"pk": "watermark", "since": WINDOW_END, "offset": 0}


def test_success_is_reported_with_the_window_and_counters(pipeline: Pipeline) -> None:
    output = json.loads(pipeline.run()["output"])
    [message] = pipeline.messages()
    assert output["newSince"] == WINDOW_END
    assert output["counters"]["created"] == 4
    assert message["Subject"] == "[bms-test] sync OK: 4 created, 7 updated, 1 suspended, 0 failed"
    assert f"Window: {INITIAL_SINCE} (offset 0) -> {WINDOW_END}" in message["Message"]
    assert "#/v2/executions/details/arn:aws:states:" in message["Message"]


def test_success_reports_the_window_s_cohort_members_added_and_removed(pipeline: Pipeline) -> None:
    output = json.loads(pipeline.run()["output"])
    [message] = pipeline.messages()
    assert (output["counters"]["cohort_added"], output["counters"]["cohort_removed"]) == (9, 2)
    assert "  cohort members added: 9\n  cohort members removed: 2" in message["Message"]


@pytest.mark.parametrize("exit_codes", [[], [2]], ids=["success", "failure"])
def test_subjects_stay_under_100_characters(make_pipeline: Callable[..., Pipeline], exit_codes: list[int]) -> None:
    pipeline = make_pipeline(stack_name="a-stack-name-long-enough-to-push-the-subject-past-the-limit-" * 2)
    pipeline.batch.exit_codes = exit_codes
    pipeline.run()
    [message] = pipeline.messages()
    assert len(message["Subject"]) < 100  # SNS Publish: "less than 100 characters"


def test_a_window_with_nothing_to_sync_says_so(pipeline: Pipeline) -> None:
    pipeline.batch.commit = False  # the batch found nothing to commit
    pipeline.run()
    [message] = pipeline.messages()
    assert message["Subject"] == "[bms-test] sync OK: nothing to sync"
    assert "Nothing to sync" in message["Message"]
    assert "Batches in this execution" not in message["Message"]


def test_a_failed_execution_states_its_cause_in_plain_words(pipeline: Pipeline) -> None:
    pipeline.batch.exit_codes = [2]
    execution = pipeline.run()
    assert execution["cause"].startswith("Run Batch: Error: States.TaskFailed")
    assert "Stopped reason: Essential container in task exited" in execution["cause"]
    assert "Container exit code: 2 (bad configuration or refused credentials; not rerun)" in execution["cause"]
    assert '"Containers"' not in execution["cause"]  # never the raw task JSON


def entered_states(execution_arn: str) -> list[str]:
    client = boto3.client("stepfunctions", region_name=REGION)
    events = client.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def test_a_fresh_lock_is_not_renewed_between_batches(pipeline: Pipeline) -> None:
    path = entered_states(pipeline.run()["executionArn"])
    assert path.count("Run Batch") == 3
    assert "Extend Lock" not in path


def test_a_lock_past_half_its_lifetime_is_renewed_before_the_next_batch(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline(lock_ttl=0)  # every lock is already past half its lifetime
    path = entered_states(pipeline.run()["executionArn"])
    assert path.count("Extend Lock") == path.count("Run Batch") - 1 == 2


def test_lock_is_released_after_success(pipeline: Pipeline) -> None:
    pipeline.run()
    assert pipeline.item("lock") is None


def test_overlapping_execution_is_skipped_without_running_a_task(pipeline: Pipeline) -> None:
    live_lock = {"pk": "lock", "owner": OTHER_OWNER, "expires_at": "2999-01-01T00:00:00.000Z"}
    pipeline.table.put_item(Item=live_lock)
    execution = pipeline.run()
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["outcome"] == "skipped"
    assert pipeline.batch.runs == []
    assert pipeline.item("lock") == live_lock


def test_expired_lock_is_taken_over(pipeline: Pipeline) -> None:
    pipeline.table.put_item(Item={"pk": "lock", "owner": OTHER_OWNER, "expires_at": "2000-01-01T00:00:00.000Z"})
    execution = pipeline.run()
    assert execution["status"] == "SUCCEEDED"
    assert pipeline.item("watermark") == {"pk": "watermark", "since": WINDOW_END, "offset": 0}


def test_batch_that_does_not_move_the_watermark_ends_the_loop(pipeline: Pipeline) -> None:
    pipeline.batch.commit = False
    execution = pipeline.run()
    assert execution["status"] == "SUCCEEDED"
    assert len(pipeline.batch.runs) == 1


def test_allow_mass_suspend_input_reaches_every_batch(pipeline: Pipeline) -> None:
    pipeline.run({"allowMassSuspend": True})
    assert {run["ALLOW_MASS_SUSPEND"] for run in pipeline.batch.runs} == {"1"}


def test_allow_cohort_removals_input_reaches_every_batch(pipeline: Pipeline) -> None:
    pipeline.run({"allowCohortRemovals": True})
    assert {(run["ALLOW_COHORT_REMOVALS"], run["ALLOW_MASS_SUSPEND"]) for run in pipeline.batch.runs} == {("1", "0")}


def test_failed_batch_is_retried_then_fails_the_execution(pipeline: Pipeline, no_retry_waits: list[float]) -> None:
    pipeline.batch.exit_codes = [1, 1, 1]
    execution = pipeline.run()
    assert execution["status"] == "FAILED"
    assert execution["error"] == "SyncFailed.States.TaskFailed"
    assert len(pipeline.batch.runs) == 3
    assert no_retry_waits == [60, 120]


@pytest.mark.parametrize("exit_code", [2, 3])
def test_a_batch_that_a_rerun_cannot_help_fails_at_once(
    pipeline: Pipeline, no_retry_waits: list[float], exit_code: int
) -> None:
    pipeline.batch.exit_codes = [exit_code]
    execution = pipeline.run()
    assert execution["status"] == "FAILED"
    assert len(pipeline.batch.runs) == 1
    assert no_retry_waits == []
    [message] = pipeline.messages()
    assert f"Container exit code: {exit_code}" in message["Message"]


def test_failed_batch_publishes_exit_code_and_offset(pipeline: Pipeline) -> None:
    pipeline.batch.exit_codes = [0, 3]
    pipeline.run()
    [message] = pipeline.messages()
    assert message["Subject"] == "[bms-test] sync FAILED in Run Batch: States.TaskFailed"
    assert "Container exit code: 3" in message["Message"]
    assert f"Window: {INITIAL_SINCE}, offset 200" in message["Message"]


def test_a_guard_stop_publishes_the_guards_own_summary(pipeline: Pipeline) -> None:
    summary = "window X would suspend 72 active Moodle accounts (employees 4, 8, ...), more than the guard's limit"
    pipeline.table.put_item(Item={"pk": f"window#{INITIAL_SINCE}", "total": 450, "guard_stop": summary})
    pipeline.batch.exit_codes = [3]
    execution = pipeline.run()
    [message] = pipeline.messages()
    assert f"Guard: {summary}" in message["Message"]
    assert f"Guard: {summary}" in execution["cause"], "the console's failed execution says it too"


@pytest.mark.parametrize("exit_code", [1, 2])
def test_other_failures_do_not_read_a_guard_summary(pipeline: Pipeline, exit_code: int) -> None:
    pipeline.table.put_item(Item={"pk": f"window#{INITIAL_SINCE}", "total": 450, "guard_stop": "an old stop"})
    pipeline.batch.exit_codes = [exit_code] * 3
    pipeline.run()
    [message] = pipeline.messages()
    assert "Guard:" not in message["Message"]


def test_failure_releases_the_lock_and_keeps_the_watermark(pipeline: Pipeline) -> None:
    pipeline.batch.exit_codes = [0, 1, 1, 1]
    pipeline.run()
    assert pipeline.item("lock") is None
    assert pipeline.item("watermark") == {"pk": "watermark", "since": INITIAL_SINCE, "offset": 200}


def test_transient_batch_failure_is_retried_to_success(pipeline: Pipeline) -> None:
    pipeline.batch.exit_codes = [1]
    execution = pipeline.run()
    assert execution["status"] == "SUCCEEDED"
    assert [run["OFFSET"] for run in pipeline.batch.runs] == ["0", "0", "200", "400"]


def test_continues_as_new_after_the_batch_bound_and_hands_over_the_lock(
    make_pipeline: Callable[..., Pipeline],
) -> None:
    pipeline = make_pipeline(max_batches=2)
    parent = pipeline.run({"allowMassSuspend": True})
    child = pipeline.finish(parent["executionArn"].replace(":run-1", ":run-1-2"))
    assert json.loads(parent["output"])["outcome"] == "continued"
    assert child["status"] == "SUCCEEDED"
    assert json.loads(child["input"])["continuedFrom"] == parent["executionArn"]
    assert [(run["OFFSET"], run["ALLOW_MASS_SUSPEND"]) for run in pipeline.batch.runs] == [
        ("0", "1"),
        ("200", "1"),
        ("400", "1"),
    ]
    assert pipeline.item("lock") is None


def test_input_mode_full_runs_every_batch_in_full_mode_on_its_own_watermark(pipeline: Pipeline) -> None:
    pipeline.table.put_item(Item={"pk": "watermark", "since": WINDOW_END, "offset": 0})
    assert pipeline.run({"mode": "full"})["status"] == "SUCCEEDED"
    assert [(run["SYNC_MODE"], run["SINCE"], run["OFFSET"]) for run in pipeline.batch.runs] == [
        ("full", INITIAL_SINCE, "0"),
        ("full", INITIAL_SINCE, "200"),
        ("full", INITIAL_SINCE, "400"),
    ]
    assert pipeline.item("watermark") == {"pk": "watermark", "since": WINDOW_END, "offset": 0}
    assert pipeline.item("full#watermark") == {"pk": "full#watermark", "since": INITIAL_SINCE, "offset": 0}


def test_a_full_run_resumes_at_its_own_offset(pipeline: Pipeline) -> None:
    pipeline.table.put_item(Item={"pk": "full#watermark", "since": INITIAL_SINCE, "offset": 400})
    pipeline.run({"mode": "full"})
    assert [run["OFFSET"] for run in pipeline.batch.runs] == ["400"]


def test_a_full_run_reports_itself_and_a_sample_of_the_ids_per_kind_of_drift(pipeline: Pipeline) -> None:
    pipeline.run({"mode": "full"})
    [message] = pipeline.messages()
    assert message["Subject"] == "[bms-test] full sync OK: 4 created, 7 updated, 1 suspended, 0 failed"
    assert message["Message"].startswith("BambooHR to Moodle full reconciliation succeeded")
    assert "  updated: 12, 7\n  suspended: 40\n" in message["Message"]


def test_a_failed_full_run_says_it_was_one(pipeline: Pipeline) -> None:
    pipeline.batch.exit_codes = [2]
    pipeline.run({"mode": "full"})
    [message] = pipeline.messages()
    assert message["Subject"] == "[bms-test] full sync FAILED in Run Batch: States.TaskFailed"
    assert message["Message"].startswith("BambooHR to Moodle full reconciliation failed.")
    assert "the next full run resumes from it" in message["Message"]


def test_an_incremental_run_reports_no_drift_section(pipeline: Pipeline) -> None:
    pipeline.run()
    [message] = pipeline.messages()
    assert "Drift corrected" not in message["Message"]


def test_a_full_run_continued_as_new_stays_a_full_run(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline(max_batches=2)
    parent = pipeline.run({"mode": "full"})
    child = pipeline.finish(parent["executionArn"].replace(":run-1", ":run-1-2"))
    assert json.loads(child["input"])["mode"] == "full"
    assert [run["SYNC_MODE"] for run in pipeline.batch.runs] == ["full", "full", "full"]


def test_a_webhook_delivery_during_a_full_run_goes_to_an_incremental_execution(pipeline: Pipeline) -> None:
    def deliver_during_the_full_run(environment: dict[str, str]) -> None:
        if environment["SYNC_MODE"] == "full":  # the receiver marks the held lock with the delivery's time
            now = datetime.now(UTC)
            pipeline.table.update_item(
                Key={"pk": "lock"},
                UpdateExpression="SET pending_at = :at",
                ExpressionAttributeValues={":at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z")},
            )

    pipeline.batch.total, pipeline.batch.on_run = 100, deliver_during_the_full_run
    parent = pipeline.run({"mode": "full"})
    child = pipeline.finish(parent["executionArn"].replace(":run-1", ":run-1-2"))
    subjects = [message["Subject"] for message in pipeline.messages()]
    assert json.loads(child["input"])["mode"] == "incremental"
    assert [run["SYNC_MODE"] for run in pipeline.batch.runs] == ["full", "incremental"]
    assert [subject.split(":")[0] for subject in subjects] == ["[bms-test] full sync OK", "[bms-test] sync OK"]
