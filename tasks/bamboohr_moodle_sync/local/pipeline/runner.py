"""``bamboohr-moodle-sync local-run``: the whole pipeline offline, one execution as the scheduler starts it.

moto serves AWS (from template.yaml and statemachine/sync.asl.json), the emulators serve BambooHR and
Moodle seeded with a backlog, and every ``Run Batch`` runs ``bamboohr-moodle-sync batch`` as a process.
It prints a progress line per batch, then the SNS message, the path through the states, the counters and
the Moodle end state; it writes the history and a graph of the path under ``--output``. Exit 0 iff the
execution (the last of a continue-as-new chain) SUCCEEDED.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeVar

from bamboohr_moodle_sync.errors import ConfigError
from bamboohr_moodle_sync.http import RETRY_STATUSES, WRITE_RETRY_STATUSES
from bamboohr_moodle_sync.local.aws import ecs_api, fargate, iam_enforcement
from bamboohr_moodle_sync.local.aws.fargate import TaskRun
from bamboohr_moodle_sync.local.aws.stack import load_template
from bamboohr_moodle_sync.local.moodle.emulator import MoodleEmulator
from bamboohr_moodle_sync.local.pipeline import drift, graph
from bamboohr_moodle_sync.local.pipeline.offline import TEMPLATE, Options, Pipeline, running_pipeline
from bamboohr_moodle_sync.local.pipeline.webhooks import run_demo as webhook_demo
from bamboohr_moodle_sync.local.server import EmulatorServer, Faults
from bamboohr_moodle_sync.mapping import COHORT_PREFIX, load_mapping
from bamboohr_moodle_sync.operations.render import row_from, row_line
from bamboohr_moodle_sync.state import FULL_PREFIX

FAULTS_HELP = (
    "bamboohr-503=RATE, moodle-503=RATE, moodle-down-at-batch=K, kill-task-at-batch=K, latency-ms=MS, "
    "moodle-mail-delay-ms=MS (each created user's password mail, inside the create call), "
    "task-fails-to-start-at-batch=K, ecs-capacity-error-at-batch=K, ecs-no-task-placed-at-batch=K, "
    "ecs-client-error-at-batch=K (for these and kill-task-at-batch, K counts RunTask calls, retries included), "
    "webhook-bad-signature=K (with --webhooks: the K-th edit's delivery is signed with another key)"
)
WEBHOOK_FAULT = "webhook-bad-signature"
# How Fargate fails (local/aws/ecs_api.py, local/aws/fargate.py), by --fault name.
RUN_TASK_FAULTS = {
    "ecs-capacity-error-at-batch": ecs_api.CAPACITY_ERROR,
    "ecs-no-task-placed-at-batch": ecs_api.NO_TASK_PLACED,
    "ecs-client-error-at-batch": ecs_api.CLIENT_ERROR,
}


N = TypeVar("N", int, float)


def accepted(low: float, high: float | None) -> str:
    return f"from {low} to {high}" if high is not None else f"{low} or more"


def fault_value(name: str, value: str, kind: type[N], low: N, high: N | None = None) -> N:
    """``value`` of ``--fault name=value`` as ``kind`` within [low, high]; a ValueError that names both otherwise."""
    try:
        return ranged(kind, low, high)(value)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f"--fault {name}={value}: {exc}") from None


def parse_fault(text: str, options: Options) -> None:
    """Applies one ``--fault NAME=VALUE`` to ``options``; a ValueError naming the fault when the name is unknown
    or the value out of its range."""
    name, _, value = text.partition("=")
    if name == "bamboohr-503":
        options.bamboohr_faults.error_rate = fault_value(name, value, float, 0, 1)
    elif name == "moodle-503":
        options.moodle_faults.error_rate = fault_value(name, value, float, 0, 1)
    elif name == "moodle-down-at-batch":
        options.moodle_down_at_batch = fault_value(name, value, int, 1)
    elif name == "kill-task-at-batch":
        options.kill_task_at_batch = options.kill_task_at_batch | {fault_value(name, value, int, 1)}
    elif name == "latency-ms":
        options.bamboohr_faults.latency_s = options.moodle_faults.latency_s = fault_value(name, value, int, 0) / 1000
    elif name == "moodle-mail-delay-ms":
        options.moodle_faults.mail_delay_s = fault_value(name, value, int, 0) / 1000
    elif name == "task-fails-to-start-at-batch":
        options.start_faults[fault_value(name, value, int, 1)] = fargate.IMAGE_PULL_FAILURE
    elif name in RUN_TASK_FAULTS:
        options.run_task_faults[fault_value(name, value, int, 1)] = RUN_TASK_FAULTS[name]
    else:
        raise ValueError(f"unknown fault {text!r}; known: {FAULTS_HELP}")


def ranged(kind: type[N], low: N, high: N | None = None) -> Callable[[str], N]:
    """An argparse ``type``: ``kind`` within [low, high]; argparse names the option in its error."""

    def convert(text: str) -> N:
        what = "an integer" if kind is int else "a number"
        try:
            number = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"give {what} {accepted(low, high)}, not {text!r}") from None
        if not math.isfinite(number) or number < low or (high is not None and number > high):
            raise argparse.ArgumentTypeError(f"give {what} {accepted(low, high)}, not {text!r}")
        return number

    return convert


def template_range(parameter: str) -> tuple[int, int | None]:
    """template.yaml's MinValue and MaxValue of a Number parameter: the range a deployment accepts."""
    spec = load_template(TEMPLATE)["Parameters"][parameter]
    return int(spec["MinValue"]), int(spec["MaxValue"]) if "MaxValue" in spec else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bamboohr-moodle-sync local-run", description=__doc__.splitlines()[0])
    batch_size, max_batches = (template_range(name) for name in ("BatchSize", "MaxBatchesPerExecution"))
    parser.add_argument(
        "--employees", type=ranged(int, 0), default=1000, help="BambooHR backlog to drain (default 1000)"
    )
    parser.add_argument(
        "--batch-size", type=ranged(int, *batch_size), default=200, help="BATCH_SIZE of each task (default 200)"
    )
    parser.add_argument(
        "--max-batches-per-execution",
        type=ranged(int, *max_batches),
        default=500,
        help="continue as new after this many batches (default 500)",
    )
    parser.add_argument(
        "--max-suspensions",
        type=ranged(int, template_range("MaxSuspensions")[0]),
        help="MaxSuspensions of the deployed stack (default: the template's 50; the guard also allows "
        "MaxSuspensionsPercent of the active accounts the sync manages)",
    )
    parser.add_argument(
        "--allow-mass-suspend",
        action="store_true",
        help='start the execution with input {"allowMassSuspend": true}: the suspension guard is lifted for it',
    )
    parser.add_argument(
        "--mode",
        choices=("incremental", "full"),
        default="incremental",
        help="full: after the incremental run, seed drift in Moodle (a rename and a reactivation by hand, an "
        "account of an employee BambooHR no longer has, a contractor left out by a [scope] added to the mapping) "
        'and run a full reconciliation, input {"mode": "full"}, as the reconcile schedule starts it',
    )
    parser.add_argument(
        "--mapping",
        type=Path,
        metavar="FILE",
        help="the tasks' MAPPING_FILE, e.g. tasks/mapping.toml, the one the image carries (default: the demo's, "
        "with two profile fields and two cohort rules)",
    )
    parser.add_argument("--fault", action="append", default=[], metavar="NAME=VALUE", help=FAULTS_HELP)
    parser.add_argument(
        "--webhooks",
        action="store_true",
        help="after the drain, edit employees in BambooHR: its signed webhooks reach the local receiver, which "
        "starts the sync; reports each edit's time to Moodle (docs/webhooks.md)",
    )
    parser.add_argument(
        "--time-scale",
        type=ranged(float, 0.0001, 1),
        default=1.0,
        help="multiply the ASL's Retry intervals (e.g. 0.01; default 1)",
    )
    parser.add_argument("--output", type=Path, default=Path("out"), help="history, graph and task logs (default out/)")
    parser.add_argument("--bamboohr-url", help="a real BambooHR API URL (forces DRY_RUN=1)")
    parser.add_argument(
        "--bamboohr-key", default=os.environ.get("BAMBOOHR_API_KEY"), help="its API key (default: $BAMBOOHR_API_KEY)"
    )
    parser.add_argument("--moodle-url", help="a real Moodle site URL (forces DRY_RUN=1)")
    parser.add_argument(
        "--moodle-token", default=os.environ.get("MOODLE_TOKEN"), help="its web-service token (default: $MOODLE_TOKEN)"
    )
    return parser


def options_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Options:
    options = Options(
        employees=args.employees,
        batch_size=args.batch_size,
        max_batches_per_execution=args.max_batches_per_execution,
        bamboohr_faults=Faults(seed=1),
        moodle_faults=Faults(seed=2),
        time_scale=args.time_scale,
        output=args.output,
        max_suspensions=args.max_suspensions,
        allow_mass_suspend=args.allow_mass_suspend,
    )
    if args.mapping is not None:
        options.mapping = mapping_text(args.mapping, parser)
    for fault in args.fault:
        try:
            if fault.partition("=")[0] != WEBHOOK_FAULT:  # webhook_forgeries reads those
                parse_fault(fault, options)
        except ValueError as exc:
            parser.error(str(exc))
    try:
        prepare_output(args.output)
    except OSError as exc:
        parser.error(f"argument --output: cannot write to {args.output} ({exc.strerror or exc})")
    if bool(args.bamboohr_url) != bool(args.bamboohr_key) or bool(args.moodle_url) != bool(args.moodle_token):
        parser.error("give --bamboohr-url with --bamboohr-key, and --moodle-url with --moodle-token")
    if args.bamboohr_url:
        options.real_bamboohr = (args.bamboohr_url, args.bamboohr_key)
    if args.moodle_url:
        options.real_moodle = (args.moodle_url, args.moodle_token)
    return options


def mapping_text(path: Path, parser: argparse.ArgumentParser) -> str:
    """The text of the mapping file ``path``, refused before anything starts when the tasks would refuse it."""
    try:
        load_mapping(path)
        return path.read_text(encoding="utf-8")
    except ConfigError as exc:
        parser.error(f"argument --mapping: {exc}")


OUTPUTS = ("history.json", "graph.html", "iam.json")
TASK_LOGS = "tasks/task-*.log"


def webhook_forgeries(args: argparse.Namespace, parser: argparse.ArgumentParser) -> frozenset[int]:
    """The edits (counted from 1) whose delivery ``--fault webhook-bad-signature=K`` signs with another key."""
    try:
        forged = frozenset(
            fault_value(WEBHOOK_FAULT, value, int, 1)
            for name, _, value in (fault.partition("=") for fault in args.fault)
            if name == WEBHOOK_FAULT
        )
    except ValueError as exc:
        parser.error(str(exc))
    if forged and not args.webhooks:
        parser.error(f"--fault {WEBHOOK_FAULT} needs --webhooks")
    return forged


def prepare_output(output: Path) -> None:
    """A writable ``output`` without an earlier run's files: its history, graph and task logs are removed."""
    output.mkdir(parents=True, exist_ok=True)
    for stale in [*(output / name for name in OUTPUTS), *output.glob(TASK_LOGS)]:
        stale.unlink(missing_ok=True)
    probe = output / ".writable"
    probe.touch()
    probe.unlink()


class Progress:
    """One line per finished task: batch n of N, a bar, records done, exit code, elapsed."""

    def __init__(self, batch_size: int, out: TextIO = sys.stderr) -> None:
        self.batch_size = batch_size
        self.out = out
        self.started = time.monotonic()
        self.pipeline: Pipeline | None = None

    def __call__(self, run: TaskRun) -> None:
        elapsed = time.monotonic() - self.started
        prefix = FULL_PREFIX if run.environment.get("SYNC_MODE") == "full" else ""
        window = self.pipeline.item(f"{prefix}window#{run.environment.get('SINCE', '')}") if self.pipeline else None
        total = int(window["total"]["N"]) if window and "total" in window else 0
        done = int(window["batches"]["N"]) if window and "batches" in window else 0
        of = max(1, math.ceil(total / self.batch_size)) if total else 0
        records = min(total, done * self.batch_size)
        bar = "#" * round(20 * done / of) if of else ""
        line = f"batch {done} of {of or '?'} [{bar:<20}] {records}/{total} records"
        if not window and not run.exit_code:
            line = (
                f"task {run.number}: dry run, the plan is in {run.log_path}"
                if run.environment.get("DRY_RUN") == "1"
                else f"task {run.number}: nothing to sync since {run.environment.get('SINCE', '?')}"
            )
        if run.exit_code:
            why = run.stop_reason or " | ".join(run.stderr_tail(1)) or "no output"
            line = f"task {run.number} exited {run.exit_code}: {why}"
        if run.start_failure is not None:
            line = f"task {run.number} never started ({run.start_failure.stop_code}): {run.start_failure.reason}"
        self.out.write(f"{line}  ({elapsed:5.1f} s)\n")
        self.out.flush()


def report(pipeline: Pipeline, chain: list[dict[str, Any]], out: TextIO = sys.stdout) -> None:
    """The SNS messages, the path through the states, the counters and the Moodle end state."""
    for message in pipeline.sns_messages():
        out.write(f"\n== SNS: {message['Subject']}\n{message['Message']}\n")
    histories = [(execution["executionArn"], pipeline.history(execution["executionArn"])) for execution in chain]
    for arn, events in histories:
        steps: list[str] = []
        for name in graph.path_of(events):
            if steps and steps[-1].split(" x")[0] == name:
                count = int(steps[-1].split(" x")[1]) + 1 if " x" in steps[-1] else 2
                steps[-1] = f"{name} x{count}"
            else:
                steps.append(name)
        out.write(f"\n== Path of {arn.rsplit(':', 1)[-1]}: " + " -> ".join(steps) + "\n")
    last = chain[-1]
    out.write(f"\n== Execution: {last['status']} ({len(chain)} execution(s) in the chain)\n")
    if last.get("output"):
        out.write(json.dumps(json.loads(last["output"]).get("counters", json.loads(last["output"])), indent=2) + "\n")
    if last.get("error"):
        out.write(f"error: {last['error']}\ncause: {last.get('cause', '')}\n")  # in plain words (Describe Failure)
    users = pipeline.moodle_users()
    if pipeline.moodle is not None:
        by_auth = Counter(str(u.get("auth")) for u in users)
        suspended = sum(1 for u in users if u.get("suspended"))
        out.write(f"\n== Moodle: {len(users)} accounts, {suspended} suspended, by auth {dict(by_auth)}\n")
        out.write(cohorts_summary(pipeline.moodle.emulator))
    watermark = pipeline.watermark()
    out.write(f"== Watermark: {watermark}\n")
    full = pipeline.watermark(FULL_PREFIX)
    out.write(f"== Full reconciliation's watermark: {full}\n" if full else "")
    running = {"BambooHR": pipeline.bamboohr, "Moodle": pipeline.moodle}
    summaries = [requests_summary(name, emulator.server) for name, emulator in running.items() if emulator]
    out.write(f"== Requests: {'; '.join(summaries)}\n" if summaries else "")
    out.write(iam_summary(pipeline.options.output))
    definition = json.loads(pipeline.deployment.definition)
    page = graph.write(pipeline.options.output, definition, histories)
    out.write(f"== Graph: {page}\n")


def cohorts_summary(moodle: MoodleEmulator) -> str:
    """Each cohort with its member count, owned ones (``bamboohr:`` idnumbers) first; empty when there are none."""
    cohorts = sorted(moodle.cohorts(), key=lambda c: (not c["idnumber"].startswith(COHORT_PREFIX), c["name"]))
    if not cohorts:
        return ""
    counted = [
        (c["idnumber"].startswith(COHORT_PREFIX), f"{c['name']} {len(moodle.cohort_members(c['id']))}") for c in cohorts
    ]
    owned = [text for is_owned, text in counted if is_owned]
    others = [text for is_owned, text in counted if not is_owned]
    line = f"== Moodle cohorts owned by the sync ({len(owned)}): {', '.join(owned) or 'none'}"
    return line + (f"; not owned, left alone: {', '.join(others)}" if others else "") + "\n"


def iam_summary(output: Path) -> str:
    """Every IAM decision of the run into ``iam.json``; one line on how many calls each role made, and denials."""
    enforcement = iam_enforcement.current()
    if enforcement is None:
        return ""
    verdicts = list(enforcement.verdicts)
    (output / "iam.json").write_text(json.dumps([vars(v) for v in verdicts], indent=1) + "\n", encoding="utf-8")
    by_role = Counter(v.role.rsplit("/", 1)[-1] for v in verdicts)
    denied = [v for v in verdicts if v.decision != "allowed"]
    line = f"== IAM: {len(verdicts)} requests evaluated ({', '.join(f'{r} {n}' for r, n in sorted(by_role.items()))})"
    if denied:
        first = denied[0]
        line += f"; {len(denied)} denied, first: {first.role} {first.action} on {first.resource} ({first.decision})"
    return f"{line}; every decision in {output / 'iam.json'}\n"


ALWAYS_RETRIED = RETRY_STATUSES & WRITE_RETRY_STATUSES  # resent by the task's client, reads and writes alike


def requests_summary(name: str, server: EmulatorServer) -> str:
    """How many requests an emulator answered, and how many of them with a status the task's client retries."""
    retried = sum(1 for entry in server.requests if entry.status in ALWAYS_RETRIED)
    statuses = "/".join(map(str, sorted(ALWAYS_RETRIED)))
    return f"{name} answered {len(server.requests)}, {retried} of them with {statuses} (retried by the task)"


def main(argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv))
    options = options_from(args, parser)
    forged = webhook_forgeries(args, parser)
    progress = Progress(options.batch_size)
    options.on_task_exit = progress
    try:
        with running_pipeline(options) as pipeline:
            try:
                return run(pipeline, progress, webhooks=args.webhooks, forged=forged, full=args.mode == "full")
            except KeyboardInterrupt:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
                for task in pipeline.tasks.runs:
                    if task.exit_code is None:
                        fargate.stop(task, "Task stopped: local-run was interrupted")
                raise
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: everything is stopped; task logs so far are in {options.output / 'tasks'}", file=sys.stderr
        )
        return 130
    except iam_enforcement.AccessDenied as exc:  # CreateStateMachine refused the role, as AWS would
        print(f"deploy refused: {exc}", file=sys.stderr)
        return 1


def run(
    pipeline: Pipeline,
    progress: Progress,
    webhooks: bool = False,
    forged: frozenset[int] = frozenset(),
    full: bool = False,
) -> int:
    """One execution as the scheduler starts it, followed to the end of its chain, then the report; with
    ``full``, then drift seeded in Moodle (``drift``) and a full reconciliation, reported the same way; with
    ``webhooks``, then edits in BambooHR that its webhook delivers to the local receiver (docs/webhooks.md)."""
    progress.pipeline = pipeline
    options = pipeline.options
    if pipeline.bamboohr is not None:
        print(f"BambooHR emulator: {pipeline.bamboohr.api_url} ({options.employees} employees)", file=sys.stderr)
    if pipeline.moodle is not None:
        print(f"Moodle emulator: {pipeline.moodle.url}", file=sys.stderr)
    contractor = None
    if full and pipeline.bamboohr is not None and pipeline.moodle is not None:
        contractor = drift.contractor_before_the_first_run(pipeline.bamboohr.emulator)
    if not run_execution(pipeline, {}):
        return 1
    if full:
        if pipeline.bamboohr is not None and pipeline.moodle is not None:
            mapping = options.output / "mapping.toml" if drift.can_add_scope(options.mapping) else None
            seeded = drift.seed_drift(pipeline.bamboohr.emulator, pipeline.moodle.emulator, mapping, contractor)
            print("Drift seeded for the full reconciliation:\n  " + "\n  ".join(seeded.lines()), file=sys.stderr)
        progress.started = time.monotonic()
        if not run_execution(pipeline, {"mode": "full"}):
            return 1
    if webhooks and pipeline.bamboohr is not None and pipeline.moodle is not None:
        print("Webhooks: editing employees in BambooHR after the drain", file=sys.stderr)
        webhook_demo(pipeline, forged)
        sys.stdout.write(iam_summary(options.output))  # again: now with the receiver's decisions
    return 0


def run_execution(pipeline: Pipeline, execution_input: dict[str, Any]) -> bool:
    """Starts one execution (``allowMassSuspend`` with ``--allow-mass-suspend``), follows its chain, reports it;
    whether it SUCCEEDED."""
    options = pipeline.options
    given = execution_input | ({"allowMassSuspend": True} if options.allow_mass_suspend else {})
    execution_arn = pipeline.start(given)
    print(
        f"Started {execution_arn}" + (" (full reconciliation)" if given.get("mode") == "full" else ""), file=sys.stderr
    )
    chain = pipeline.follow_chain(execution_arn, timeout_s=24 * 3600)
    if options.real_bamboohr or options.real_moodle:  # the plan first: the run's own counters are all zero
        report_dry_run(pipeline.tasks.runs)
    report(pipeline, chain)
    return bool(chain[-1]["status"] == "SUCCEEDED")


def report_dry_run(runs: Sequence[TaskRun], out: TextIO = sys.stdout, shown: int = 20) -> None:
    """What a dry run would do: the preview each task logged (``bamboohr-moodle-sync preview``'s engine and rows);
    nothing was written anywhere."""
    for run in runs:
        lines = run.log_path.read_text(encoding="utf-8", errors="replace").splitlines() if run.log_path.exists() else []
        plans = [json.loads(line) for line in lines if line.startswith("{") and '"dry run: planned' in line]
        for plan in plans:
            counts = ", ".join(f"{count} {name}" for name, count in plan["counts"].items())
            guard = plan.get("guard") or {}
            stop = " The suspension guard WOULD STOP this window." if guard.get("would_stop") else ""
            out.write(f"\n== Dry run, nothing written. The window would be: {counts}.{stop}\n")
            rows = [row_from(row) for row in plan["plan"]]
            changed = [row for row in rows if row.action != "unchanged"]
            for row in changed[:shown]:
                out.write(row_line(row) + "\n")
            if len(changed) > shown:
                out.write(
                    f"(+{len(changed) - shown} more in {run.log_path}; `bamboohr-moodle-sync preview` shows all)\n"
                )
