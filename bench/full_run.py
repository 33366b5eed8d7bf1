"""A full reconciliation (``SYNC_MODE=full``, issue 12) of N employees at the default BATCH_SIZE, and its cost.

A first load is drained in-process as in section 1, then a full run over the same BambooHR and Moodle (every
employee listed, every account checked: all of them come out ``unchanged``, the daily run's usual case); the
full run's requests are counted on each emulator. The AWS model is section 5's, with this run's measured batch
time and requests and no create work: a steady full run writes nothing. ``python -m bench.full_run`` measures
this section alone and merges it into ``bench/results/results.json`` (then ``python -m bench.run --render``).
"""

from __future__ import annotations

import json
import math
import re
import statistics
import sys
from collections.abc import Sequence
from typing import Any

import boto3
from moto import mock_aws

from bench import history, model
from bench.harness import Drain, drain_batches
from bench.services import FAKE_AWS, create_table, emulators, environment, quiet_task_logs

WINDOWS = (1_000, 10_000)
DAILY = re.compile(r"cron\(\d+ \d+ \* \* \? \*\)")


def measure(windows: Sequence[int], batch_size: int, inputs: dict[str, Any]) -> dict[str, Any]:
    """Each window's full run, measured and modelled; ``inputs`` are section 5's model inputs."""
    quiet_task_logs()
    schedule = history.template_defaults().get("ReconcileScheduleExpression", "")
    runs_per_month = 30 if DAILY.fullmatch(schedule) else None
    runs = []
    for employees in windows:
        with (
            emulators(employees) as services,
            mock_aws(),
            environment({**FAKE_AWS, **services.task_env(batch_size)}),
        ):
            create_table(boto3.client("dynamodb"))
            drain_batches(services, Drain(employees, batch_size, 0.0))  # the first load
            with environment({"SYNC_MODE": "full"}):
                full = drain_batches(services, Drain(employees, batch_size, 0.0))
        runs.append(full.as_dict() | {"aws": aws_model(full, inputs, runs_per_month)})
    return {"batch_size": batch_size, "schedule": schedule, "runs_per_month": runs_per_month, "runs": runs}


def aws_model(full: Drain, inputs: dict[str, Any], runs_per_month: int | None) -> dict[str, Any]:
    """Section 5's drain model for this full run: Fargate start and measured work per batch, no creates."""
    requests = (full.bamboohr_requests + full.moodle_requests) / full.batches
    work = statistics.median(full.batch_s[1:] or full.batch_s) + requests * (model.RTT_S + model.MOODLE_REQUEST_S)
    per_batch_s = model.FARGATE_START_S + work
    freeze_s = full.employees * float(inputs["freeze_s_per_employee"])
    drain_s = full.batches * per_batch_s + freeze_s
    executions = math.ceil(full.batches / int(inputs["max_batches_per_execution"]))
    transitions = (
        executions * float(inputs["transitions_per_execution"])
        + full.batches * float(inputs["transitions_per_batch"])
        + math.floor(drain_s / (float(inputs["lock_ttl_s"]) / 2))
    )
    billed_s = full.batches * max(model.FARGATE_MIN_BILLED_S, per_batch_s) + freeze_s
    rate = float(inputs["vcpu"]) * model.VCPU_HOUR + float(inputs["memory_gb"]) * model.GB_HOUR
    cost = billed_s * rate / 3600 + transitions * model.TRANSITION
    return {
        "task_work_s": round(work, 2),
        "drain_s": round(drain_s, 1),
        "transitions": round(transitions),
        "cost_per_run": round(cost, 5),
        "cost_per_month": round(cost * runs_per_month, 3) if runs_per_month else None,
    }


def section(measured: dict[str, Any] | None) -> str:
    """BENCHMARKS.md's section: the full reconciliation at the default batch size."""
    if not measured:
        return ""
    every = f"{measured['runs_per_month']} runs a month" if measured["runs_per_month"] else "per run only"
    rows = []
    for run in measured["runs"]:
        aws = run["aws"]
        rows.append(
            f"| {run['employees']:,} | {run['batches']:,} | {run['bamboohr_requests']:,} | "
            f"{run['moodle_requests']:,} | {run['per_employee']:.4f} | {run['counts'].get('unchanged', 0):,} | "
            f"{run['wall_s']:.1f} | {aws['task_work_s']} | {aws['drain_s'] / 60:.1f} | {aws['cost_per_run']:.4f} | "
            f"{aws['cost_per_month'] if aws['cost_per_month'] is not None else '-'} |"
        )
    first = measured["runs"][0]
    return "\n".join(
        [
            "## 1e. A full reconciliation\n",
            "A first load drained in-process as in section 1, then a full run (`SYNC_MODE=full`, "
            "`bench/full_run.py`) over the same BambooHR and Moodle at BATCH_SIZE "
            f"{measured['batch_size']}: every employee listed again and every account checked, all `unchanged` "
            "(the daily run's usual case). AWS drain time and cost use section 5's model with this run's "
            f"measured batch time and requests; a month is the default `ReconcileScheduleExpression` "
            f"`{measured['schedule']}` ({every}).\n",
            "| employees | batches | BambooHR req. | Moodle req. | total/emp. | unchanged | in-process (s) | "
            "task work (s) | AWS drain (min) | $ a run | $ a month |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "**Why.** The window is frozen from one change list since `INITIAL_SINCE` plus one `core_user_get_users` "
            "call (criterion `auth`) for the accounts BambooHR no longer has; the guard then counts the whole window "
            "once. Each batch costs what an incremental batch of the same employees costs: one custom report and one "
            "bulk idnumber lookup, a username and an e-mail lookup only for the employees without an account (here "
            "the generator's invalid records, which fail every run), and no write when nothing drifted: "
            f"{first['per_employee']:.4f} requests per employee at {first['employees']:,}. On AWS the time is "
            "Fargate starts (45 s a batch), so a full run costs what a first load of the same size costs in batches, "
            "without Moodle's create work.\n",
        ]
    )


def main(argv: Sequence[str]) -> int:
    """Measure this section alone and merge it into bench/results/results.json."""
    path = history.REPO / "bench" / "results" / "results.json"
    results = json.loads(path.read_text())
    batch_size = int(results["template"]["BatchSize"])
    windows = tuple(int(n) for n in argv) or WINDOWS
    results["full_run"] = measure(windows, batch_size, results["model"]["inputs"])
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"bench: full run merged into {path}; `python -m bench.run --render` rewrites BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
