"""Change-to-Moodle latency with BambooHR webhooks (issue 14): measured offline, modelled for AWS.

Offline: the whole pipeline (moto's Step Functions running the real ASL, the batch task as local processes, both
emulators) drains its first load; then the BambooHR emulator's registered webhook posts each edit, signed, to the
real receiver behind a local endpoint. Measured from the edit to the Moodle emulator showing it: single changes
made while nothing runs, and a bulk edit. The local Fargate "start" is a process spawn (about a second), so the
offline numbers show the orchestration's own cost, not AWS's.

AWS (modelled): receiver + the debounce wait (uniform over the slot) + Step Functions' states before the batch +
a Fargate start (uniform over 30 to 60 s, shared/reference/stepfunctions.md) + the batch's work (bench/model.py's
task time, per employee), sampled with a fixed seed. The schedule alone waits uniform over its period instead.
"""

from __future__ import annotations

import math
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bamboohr_moodle_sync import webhook
from bamboohr_moodle_sync.local.bamboohr.webhooks import WebhookSender
from bamboohr_moodle_sync.local.pipeline.offline import Options, Pipeline, running_pipeline
from bamboohr_moodle_sync.local.pipeline.webhooks import local_webhooks, serving, synced_employees
from bench import model

RECEIVER_S = 0.3  # a warm Lambda verifying and writing once; a cold start with Powertools adds about a second
COLD_START_S = 1.2
STATES_S = 0.5  # Wait For Debounce Slot's end to Run Batch: Acquire Lock, Read Watermark
TASK_START_S = 2.0  # the container's Python, imports and secret reads before the first request
FARGATE_START_RANGE_S = (30.0, 60.0)
SAMPLES = 20_000
TARGET_P95_S = 120.0


def table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join([*lines, *("| " + " | ".join(str(c) for c in row) + " |" for row in rows)]) + "\n"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50_s": round(percentile(values, 50), 2), "p95_s": round(percentile(values, 95), 2), "n": len(values)}


def _wait_until_idle(pipeline: Pipeline, timeout_s: float) -> None:
    sfn = pipeline.client("stepfunctions")
    for execution in sfn.list_executions(stateMachineArn=pipeline.deployment.state_machine_arn)["executions"]:
        pipeline.wait(execution["executionArn"], timeout_s)


def _until_in_moodle(pipeline: Pipeline, wanted: dict[str, str], started: float, timeout_s: float) -> list[float]:
    """Seconds from ``started`` until each employee's account has the wanted last name."""
    moodle = pipeline.moodle
    assert moodle is not None
    seen: dict[str, float] = {}
    while len(seen) < len(wanted):
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{len(wanted) - len(seen)} edits did not reach Moodle within {timeout_s:.0f} s")
        for user in moodle.emulator.users():
            key = str(user.get("idnumber") or "")
            if key in wanted and key not in seen and user.get("lastname") == wanted[key]:
                seen[key] = time.monotonic() - started
        time.sleep(0.05)
    return list(seen.values())


def measure_offline(employees: int, batch_size: int, singles: int, bulk: int, debounce_s: int) -> dict[str, Any]:
    level = webhook.logger.log_level
    webhook.logger.setLevel("WARNING")  # one line per delivery would drown the bench's progress
    try:
        return _measure_offline(employees, batch_size, singles, bulk, debounce_s)
    finally:
        webhook.logger.setLevel(level)


def _measure_offline(employees: int, batch_size: int, singles: int, bulk: int, debounce_s: int) -> dict[str, Any]:
    timeout_s = 600.0
    with tempfile.TemporaryDirectory() as out:
        options = Options(employees=employees, batch_size=batch_size, time_scale=1.0, output=Path(out))
        with running_pipeline(options) as pipeline:
            bamboohr = pipeline.bamboohr
            assert bamboohr is not None
            pipeline.follow_chain(pipeline.start(), timeout_s=timeout_s)
            ids = synced_employees(pipeline)
            local = local_webhooks(pipeline, debounce_seconds=debounce_s)
            single: list[float] = []
            with serving(local.receiver) as url:
                bamboohr.emulator.webhook = WebhookSender(url, local.key)
                for i, employee_id in enumerate(ids[:singles]):
                    bamboohr.emulator.advance(60)
                    started = time.monotonic()
                    bamboohr.emulator.update(employee_id, lastName=f"Single-{i}")
                    single += _until_in_moodle(pipeline, {employee_id: f"Single-{i}"}, started, timeout_s)
                    _wait_until_idle(pipeline, timeout_s)
                bamboohr.emulator.advance(60)
                edited = ids[singles : singles + bulk]
                started = time.monotonic()
                for employee_id in edited:
                    bamboohr.emulator.update(employee_id, lastName="Bulk-Edit")
                bulk_latencies = _until_in_moodle(pipeline, dict.fromkeys(edited, "Bulk-Edit"), started, timeout_s)
                deliveries = len(bamboohr.emulator.webhook.deliveries)
                bamboohr.emulator.webhook = None
            _wait_until_idle(pipeline, timeout_s)
            sfn = pipeline.client("stepfunctions")
            executions = sfn.list_executions(stateMachineArn=pipeline.deployment.state_machine_arn)["executions"]
    return {
        "employees": employees,
        "batch_size": batch_size,
        "debounce_s": debounce_s,
        "single": _summary(single),
        "bulk": {**_summary(bulk_latencies), "changes": len(edited)},
        "deliveries": deliveries,
        "webhook_executions": sum(1 for e in executions if e["name"].startswith("webhook-")),
    }


def model_aws(inputs: model.Inputs, batch_size: int, debounce_s: float, bulk: int, period_s: float) -> dict[str, Any]:
    """Latency quantiles for one change and for each change of a ``bulk`` edit (sent within one slot)."""
    rng = random.Random(14)
    per_employee_s = model.task_seconds(inputs, batch_size) / batch_size

    def fargate() -> float:
        return rng.uniform(*FARGATE_START_RANGE_S)

    def receiver() -> float:
        return RECEIVER_S + (COLD_START_S if rng.random() < 0.1 else 0.0)

    single = [
        receiver() + rng.uniform(0, debounce_s) + STATES_S + fargate() + TASK_START_S + per_employee_s
        for _ in range(SAMPLES)
    ]
    bulk_samples: list[float] = []
    for _ in range(SAMPLES // 50):
        head = receiver() + rng.uniform(0, debounce_s) + STATES_S
        batches = math.ceil(bulk / batch_size)
        elapsed = head
        for k in range(batches):
            in_batch = min(batch_size, bulk - k * batch_size)
            elapsed += fargate() + TASK_START_S + in_batch * per_employee_s
            # each change of batch k counts as in Moodle when its task ends (conservative)
            bulk_samples += [elapsed] * in_batch
    schedule = [rng.uniform(0, period_s) + STATES_S + fargate() + TASK_START_S + per_employee_s for _ in range(SAMPLES)]
    return {
        "debounce_s": debounce_s,
        "single": _summary(single),
        "bulk": {**_summary(bulk_samples), "changes": bulk},
        "schedule_only": _summary(schedule),
        "target_p95_s": TARGET_P95_S,
        "met": percentile(single, 95) <= TARGET_P95_S,
    }


def measure(plan: tuple[int, int, int, int, int], inputs: model.Inputs, period_s: float) -> dict[str, Any]:
    employees, batch_size, singles, bulk, debounce_s = plan
    return {
        "offline": measure_offline(employees, batch_size, singles, bulk, debounce_s),
        "aws": model_aws(inputs, 200 if 200 in inputs.requests_per_batch else batch_size, 30.0, 500, period_s),
    }


def section(r: dict[str, Any] | None) -> str:
    if not r:
        return ""
    off, aws = r["offline"], r["aws"]
    rows = [
        ["offline, one change (nothing running)", off["single"]["n"], off["single"]["p50_s"], off["single"]["p95_s"]],
        [
            f"offline, bulk edit of {off['bulk']['changes']}",
            off["bulk"]["n"],
            off["bulk"]["p50_s"],
            off["bulk"]["p95_s"],
        ],
        ["AWS model, one change", "model", aws["single"]["p50_s"], aws["single"]["p95_s"]],
        [f"AWS model, bulk edit of {aws['bulk']['changes']}", "model", aws["bulk"]["p50_s"], aws["bulk"]["p95_s"]],
        ["AWS model, hourly schedule alone", "model", aws["schedule_only"]["p50_s"], aws["schedule_only"]["p95_s"]],
    ]
    verdict = "met" if aws["met"] else "MISSED"
    return (
        "## 1d. Change to Moodle with webhooks\n\n"
        + table(["scenario", "samples", "p50 (s)", "p95 (s)"], rows)
        + f"\nGoal: p95 of one change on AWS at most {aws['target_p95_s']:.0f} s: **{verdict}**. Offline the debounce "
        f"is {off['debounce_s']} s and a local Fargate start is a process spawn; on AWS the debounce is "
        f"{aws['debounce_s']:.0f} s and a Fargate start 30 to 60 s. The bulk edit's {off['bulk']['changes']} "
        f"deliveries started {off['webhook_executions'] - off['single']['n']} execution(s), at most one per "
        f"{off['debounce_s']} s debounce slot the deliveries spanned: a slot's first delivery starts one, the others "
        "join that slot, or mark a pending window once an execution holds the lock. Method: bench/webhooks.py.\n"
    )
