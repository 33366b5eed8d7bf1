"""Drain time and cost on AWS of a window of N employees at batch size B, and the default B it implies.

per task:    t(B) = measured local work per batch + requests per batch x (RTT + Moodle start-up)
                    + B x Moodle's per-user write cost (a first load: every employee is a create)
drain:       batches x (Fargate start + t(B)) + the freeze of the change list (first batch)
Fargate:     billed (start + t(B)) seconds a task, one-minute minimum, at the template's task size
Step Func.:  transitions = executions x the loop's fixed transitions + batches x transitions a batch
             (+ an Extend Lock whenever half the lock's lifetime has gone)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

FARGATE_START_S = 45.0  # typical 30 to 60 s (stepfunctions.md)
FARGATE_MIN_BILLED_S = 60.0
VCPU_HOUR = 0.04048
GB_HOUR = 0.004445
TRANSITION = 0.025 / 1000
RTT_S = 0.020  # the latency injected in the wall-time comparison, per request
MOODLE_REQUEST_S = 0.027  # Moodle's start-up per request, measured on a real Moodle 4.5 (moodle.md)
MOODLE_USER_S = 0.010  # a first load costs Moodle about 10 ms per employee at best (moodle.md)
EXTEND_LOCK_EVENTS = 5


@dataclass(frozen=True)
class Inputs:
    """What the model takes from the measurements and template.yaml."""

    local_batch_s: dict[int, float]  # B -> median in-process wall time of a steady-state batch
    requests_per_batch: dict[int, float]  # B -> BambooHR + Moodle requests per batch
    round_trips_per_employee: dict[int, float]  # B -> at the largest window measured
    freeze_s_per_employee: float  # the first batch's extra work, per employee in the window
    transitions_per_batch: float
    transitions_per_execution: float
    events_per_batch: float
    vcpu: float
    memory_gb: float
    max_batches_per_execution: int
    lock_ttl_s: float
    batch_timeout_s: float
    schedule_period_s: float


def task_seconds(inputs: Inputs, batch_size: int) -> float:
    requests = inputs.requests_per_batch[batch_size]
    return inputs.local_batch_s[batch_size] + requests * (RTT_S + MOODLE_REQUEST_S) + batch_size * MOODLE_USER_S


def drain(inputs: Inputs, employees: int, batch_size: int) -> dict[str, Any]:
    work = task_seconds(inputs, batch_size)
    batches = math.ceil(employees / batch_size)
    executions = math.ceil(batches / inputs.max_batches_per_execution)
    per_batch_s = FARGATE_START_S + work
    drain_s = batches * per_batch_s + employees * inputs.freeze_s_per_employee
    extend_locks = math.floor(drain_s / (inputs.lock_ttl_s / 2))
    transitions = executions * inputs.transitions_per_execution + batches * inputs.transitions_per_batch + extend_locks
    billed_s = batches * max(FARGATE_MIN_BILLED_S, per_batch_s) + employees * inputs.freeze_s_per_employee
    fargate = billed_s * (inputs.vcpu * VCPU_HOUR + inputs.memory_gb * GB_HOUR) / 3600
    step_functions = transitions * TRANSITION
    return {
        "employees": employees,
        "batch_size": batch_size,
        "task_work_s": round(work, 2),
        "batches": batches,
        "executions": executions,
        "drain_s": round(drain_s, 1),
        "drain_h": round(drain_s / 3600, 2),
        "start_overhead": round(FARGATE_START_S / per_batch_s, 3),
        "transitions": round(transitions),
        "cost_step_functions": round(step_functions, 5),
        "cost_fargate": round(fargate, 5),
        "cost_total": round(step_functions + fargate, 5),
        "cost_per_1000_employees": round((step_functions + fargate) * 1000 / employees, 5),
    }


def steady_state(inputs: Inputs, batch_size: int) -> dict[str, Any]:
    """A scheduled run whose window fits one batch (the usual hourly case): cost a month."""
    runs = 30 * 24 * 3600 / inputs.schedule_period_s
    one = drain(inputs, min(batch_size, 50), batch_size)
    fargate = FARGATE_MIN_BILLED_S * (inputs.vcpu * VCPU_HOUR + inputs.memory_gb * GB_HOUR) / 3600
    transitions = inputs.transitions_per_execution + inputs.transitions_per_batch
    return {
        "runs_per_month": round(runs),
        "cost_per_month": round(runs * (fargate + transitions * TRANSITION), 3),
        "run_s": one["drain_s"],
    }


def recommend(
    inputs: Inputs, sizes: list[int], target_round_trips: float, largest: int, typical: int
) -> dict[str, Any]:
    """The smallest B that meets every constraint; smaller batches keep tasks short and retries cheap."""
    verdicts = []
    for size in sorted(sizes):
        work = task_seconds(inputs, size)
        checks = {
            "round_trips": inputs.round_trips_per_employee[size] <= target_round_trips,
            "largest_backlog_in_one_execution": inputs.max_batches_per_execution * size >= largest,
            "typical_first_load_within_schedule_period": drain(inputs, typical, size)["drain_s"]
            <= inputs.schedule_period_s,
            "task_work_within_10pct_of_timeout": work <= inputs.batch_timeout_s / 10,
            "history_events_within_limit": inputs.events_per_batch * inputs.max_batches_per_execution < 25_000,
        }
        verdicts.append(
            {"batch_size": size, "task_work_s": round(work, 2), "checks": checks, "ok": all(checks.values())}
        )
    chosen = next((v["batch_size"] for v in verdicts if v["ok"]), max(sizes))
    return {"batch_size": chosen, "largest": largest, "typical": typical, "verdicts": verdicts}
