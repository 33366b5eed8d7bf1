"""Drain one window in-process: batches in a loop against the emulators and moto's in-process DynamoDB.

``drain`` is what round trips and the batch side of the wall-time comparison are measured with; each
batch is built from the environment exactly as the container's ``batch`` command builds it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
from moto import mock_aws

from bench.services import FAKE_AWS, Emulators, create_table, emulators, environment, quiet_task_logs

MAX_BATCHES = 100_000  # a drain that never ends is a bug in the task: stop and say so


@dataclass
class Drain:
    employees: int
    batch_size: int
    latency_ms: float
    batches: int = 0
    bamboohr_requests: int = 0
    moodle_requests: int = 0
    wall_s: float = 0.0
    batch_s: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def bamboohr_per_employee(self) -> float:
        return self.bamboohr_requests / self.employees

    @property
    def moodle_per_employee(self) -> float:
        return self.moodle_requests / self.employees

    @property
    def per_employee(self) -> float:
        return (self.bamboohr_requests + self.moodle_requests) / self.employees

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["batch_s"] = [round(s, 4) for s in self.batch_s]
        data.update(
            bamboohr_per_employee=round(self.bamboohr_per_employee, 5),
            moodle_per_employee=round(self.moodle_per_employee, 5),
            per_employee=round(self.per_employee, 5),
            first_batch_s=round(self.batch_s[0], 4) if self.batch_s else None,
            median_batch_s=round(statistics.median(self.batch_s[1:] or self.batch_s), 4) if self.batch_s else None,
        )
        return data


def drain_window(
    services: Emulators, employees: int, batch_size: int, latency_ms: float, env: Mapping[str, str] | None = None
) -> Drain:
    """Run batches until the watermark's offset is back to 0; count each emulator's requests. ``env``: more settings."""
    quiet_task_logs()
    with mock_aws(), environment({**FAKE_AWS, **services.task_env(batch_size), **(env or {})}):
        create_table(boto3.client("dynamodb"))
        return drain_batches(services, Drain(employees, batch_size, latency_ms))


def drain_batches(services: Emulators, result: Drain) -> Drain:
    """Inside a drain's AWS and settings: batches until the watermark's offset is back to 0, counted in ``result``."""
    from bamboohr_moodle_sync.wiring import build_batch

    bamboohr_before, moodle_before = services.requests()
    started = time.perf_counter()
    while result.batches < MAX_BATCHES:
        batch_started = time.perf_counter()
        outcome = build_batch().run()
        result.batch_s.append(time.perf_counter() - batch_started)
        result.batches += 1
        for name, value in outcome.counts.items():
            result.counts[name] = result.counts.get(name, 0) + value
        if outcome.outcome not in ("committed", "final"):
            raise RuntimeError(f"batch {result.batches} ended {outcome.outcome!r}, not committed")
        if outcome.end.offset == 0:
            break
    else:
        raise RuntimeError(f"the window did not drain in {MAX_BATCHES} batches")
    result.wall_s = time.perf_counter() - started
    bamboohr_after, moodle_after = services.requests()
    result.bamboohr_requests = bamboohr_after - bamboohr_before
    result.moodle_requests = moodle_after - moodle_before
    return result


def drain(employees: int, batch_size: int, latency_ms: float = 0.0) -> Drain:
    """A fresh BambooHR with ``employees`` hires and an empty Moodle: a first load, the largest window."""
    with emulators(employees, latency_ms / 1000) as services:
        return drain_window(services, employees, batch_size, latency_ms)
