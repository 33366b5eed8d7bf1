"""``make bench [ARGS=--quick]``: measure, model, and write results.json, the plots and BENCHMARKS.md.

python -m bench.run            full run (about 10 minutes on 2 cores): BENCHMARKS.md at the repo root
python -m bench.run --quick    tiny sizes, a few seconds: a smoke test of the harness
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import (
    asl,
    cohorts,
    full_run,
    harness,
    history,
    lookups,
    model,
    plots,
    reference,
    report,
    rss,
    slow_mail,
    webhooks,
)
from bench.services import emulators

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"round_trips": 0.1, "speedup": 10.0, "rss_mb": 200.0, "events_per_batch": 14, "lookups_per_s": 2000.0}
DEFAULT_BATCH_SIZE = 200


@dataclass(frozen=True)
class Plan:
    mode: str
    windows: tuple[int, ...]  # round trips
    sizes: tuple[int, ...]
    wall_window: int
    latencies_ms: tuple[float, ...]
    wall_repeats: int
    reference_limit: int | None  # None: the reference syncs the whole window
    rss_windows: tuple[int, ...]
    history: tuple[int, int] | None  # (employees, batch size) of the offline execution; None: computed
    model_windows: tuple[int, ...] = (1_000, 10_000, 100_000)
    lookups: tuple[int, tuple[int, ...], int, int, float] = (1_000, (1, 4), 2_000, 3, 10.0)  # see lookups.measure
    slow_mail: tuple[int, int, float, float] = (1_000, 200, 6.0, 0.6)  # see slow_mail.measure
    cohorts: tuple[int, tuple[int, ...]] = (10_000, (200, 500, 1_000))  # see cohorts.measure
    webhooks: tuple[int, int, int, int, int] = (600, 200, 5, 500, 2)  # see webhooks.measure_offline
    full_run: tuple[int, ...] = full_run.WINDOWS  # employees of each full reconciliation measured


FULL = Plan(
    "full", (1_000, 10_000), (50, 100, 200, 500, 1_000), 1_000, (0.0, 20.0), 3, None, (10_000, 100_000), (60, 10)
)
QUICK = Plan(
    "quick",
    (240,),
    (40, 200),
    60,
    (0.0, 5.0),
    1,
    30,
    (300,),
    None,
    lookups=(50, (1, 2), 100, 1, 5.0),
    slow_mail=(130, 130, 6.0, 0.5),
    cohorts=(120, (60,)),
    webhooks=(20, 10, 1, 5, 1),
    full_run=(60,),
)


def measure(plan: Plan, progress: Any) -> dict[str, Any]:
    started = time.perf_counter()
    results: dict[str, Any] = {"meta": _meta(plan)}

    progress("round trips")
    results["round_trips"] = [harness.drain(n, b).as_dict() for n in plan.windows for b in plan.sizes]

    progress("slow mail")
    results["slow_mail"] = slow_mail.measure(*plan.slow_mail)

    progress("cohorts and profile fields")
    results["cohorts"] = cohorts.measure(*plan.cohorts)

    progress("wall time")
    results["wall_time"] = _wall_time(plan)

    progress("lookups")
    results["lookups"] = lookups.measure(*plan.lookups)

    progress("memory")
    runs = [rss.measure(n, DEFAULT_BATCH_SIZE if n > DEFAULT_BATCH_SIZE else max(n // 3, 1)) for n in plan.rss_windows]
    results["rss"] = {"baseline_mb": rss.baseline_mb(), "runs": runs}

    progress("history")
    results["history"] = _history(plan)

    defaults = history.template_defaults()
    results["template"] = {
        k: defaults.get(k)
        for k in (
            "BatchSize",
            "MaxBatchesPerExecution",
            "TaskCpu",
            "TaskMemory",
            "BatchTimeoutSeconds",
            "LockTtlSeconds",
            "ScheduleExpression",
        )
    }
    results["targets"] = _targets(results)
    inputs = _model_inputs(results, plan, defaults)
    results["model"] = {
        "inputs": {k: v for k, v in inputs.__dict__.items()},
        "constants": {
            k: getattr(model, k)
            for k in (
                "FARGATE_START_S",
                "FARGATE_MIN_BILLED_S",
                "VCPU_HOUR",
                "GB_HOUR",
                "TRANSITION",
                "RTT_S",
                "MOODLE_REQUEST_S",
                "MOODLE_USER_S",
            )
        },
        "drains": [model.drain(inputs, n, b) for n in plan.model_windows for b in plan.sizes],
        "steady_state": {str(b): model.steady_state(inputs, b) for b in plan.sizes},
    }
    results["recommendation"] = model.recommend(
        inputs, list(plan.sizes), TARGETS["round_trips"], largest=max(plan.model_windows), typical=10_000
    )
    progress("full reconciliation")
    results["full_run"] = full_run.measure(plan.full_run, int(defaults["BatchSize"]), results["model"]["inputs"])
    progress("webhooks")
    results["webhooks"] = webhooks.measure(plan.webhooks, inputs, inputs.schedule_period_s)
    results["history"]["capacity"] = history.drain_capacity(
        results["history"]["events_per_batch_median"], results["recommendation"]["batch_size"], defaults
    )
    results["meta"]["duration_s"] = round(time.perf_counter() - started, 1)
    return results


def _wall_time(plan: Plan) -> dict[str, Any]:
    runs = []
    for latency in plan.latencies_ms:
        batch_runs = []
        for _ in range(plan.wall_repeats):
            with emulators(plan.wall_window, latency / 1000) as services:
                batch_runs.append(harness.drain_window(services, plan.wall_window, DEFAULT_BATCH_SIZE, latency))
        with emulators(plan.wall_window, latency / 1000) as services:
            ref = reference.sync_per_record(services, latency, plan.reference_limit)
        batch_s = statistics.median(d.wall_s for d in batch_runs)
        runs.append(
            {
                "latency_ms": latency,
                "batch_s": round(batch_s, 3),
                "batch_runs_s": [round(d.wall_s, 3) for d in batch_runs],
                "batch_requests": batch_runs[0].bamboohr_requests + batch_runs[0].moodle_requests,
                "reference_s": round(ref.extrapolated_wall_s, 3),
                "reference": ref.as_dict(),
                "ratio": round(ref.extrapolated_wall_s / batch_s, 2),
            }
        )
    return {"employees": plan.wall_window, "batch_size": DEFAULT_BATCH_SIZE, "runs": runs}


def _history(plan: Plan) -> dict[str, Any]:
    computed = asl.loop_cost()
    if plan.history is None:
        return computed | {"measured": False, "why": "--quick computes it; the full run executes the state machine"}
    try:
        return history.measure(*plan.history) | {"measured": True, "computed_check": computed}
    except Exception as exc:  # the offline runner is optional for the rest of the benchmark
        return computed | {"measured": False, "why": f"offline execution failed: {type(exc).__name__}: {exc}"}


def _targets(results: dict[str, Any]) -> dict[str, Any]:
    largest = max(d["employees"] for d in results["round_trips"])
    at_default = [d for d in results["round_trips"] if d["batch_size"] == DEFAULT_BATCH_SIZE]
    row = max(at_default, key=lambda d: d["employees"]) if at_default else None
    round_trips = row["per_employee"] if row else None
    slowest = max(results["wall_time"]["runs"], key=lambda r: r["latency_ms"])
    peak = max(r["peak_mb"] for r in results["rss"]["runs"])
    events = results["history"]["events_per_batch_median"]
    lookup_rate, lookup_where = lookups.headline(results["lookups"])
    return {
        "round_trips": _target(round_trips, TARGETS["round_trips"], "<=", f"B={DEFAULT_BATCH_SIZE}, {largest:,} emp."),
        "speedup": _target(slowest["ratio"], TARGETS["speedup"], ">=", f"{slowest['latency_ms']:g} ms latency"),
        "rss": _target(peak, TARGETS["rss_mb"], "<=", f"{max(r['employees'] for r in results['rss']['runs']):,} emp."),
        "events_per_batch": _target(
            events, TARGETS["events_per_batch"], "<=", "measured" if results["history"]["measured"] else "computed"
        ),
        "lookups": _target(lookup_rate, TARGETS["lookups_per_s"], ">=", lookup_where),
    }


def _target(value: float | None, limit: float, op: str, where: str) -> dict[str, Any]:
    met = value is not None and (value <= limit if op == "<=" else value >= limit)
    return {"value": value, "limit": limit, "op": op, "where": where, "met": met}


def _model_inputs(results: dict[str, Any], plan: Plan, defaults: dict[str, str]) -> model.Inputs:
    largest = max(plan.windows)
    rows = {d["batch_size"]: d for d in results["round_trips"] if d["employees"] == largest}
    big = max(results["rss"]["runs"], key=lambda r: r["employees"])
    freeze = max(big["first_batch"]["wall_s"] - big["later_batch"]["wall_s"], 0.0) / big["employees"]
    hist = results["history"]
    per_batch = float(hist["transitions_per_batch_median"])
    outside = float(hist.get("transitions_outside_loop", per_batch + 5))
    return model.Inputs(
        local_batch_s={b: r["median_batch_s"] for b, r in rows.items()},
        requests_per_batch={b: (r["bamboohr_requests"] + r["moodle_requests"]) / r["batches"] for b, r in rows.items()},
        round_trips_per_employee={b: r["per_employee"] for b, r in rows.items()},
        freeze_s_per_employee=freeze,
        transitions_per_batch=per_batch,
        transitions_per_execution=outside - per_batch,
        events_per_batch=float(hist["events_per_batch_median"]),
        vcpu=int(defaults.get("TaskCpu", "512")) / 1024,
        memory_gb=int(defaults.get("TaskMemory", "1024")) / 1024,
        max_batches_per_execution=int(defaults.get("MaxBatchesPerExecution", "500")),
        lock_ttl_s=float(defaults.get("LockTtlSeconds", "7200")),
        batch_timeout_s=float(defaults.get("BatchTimeoutSeconds", "900")),
        schedule_period_s=_period_s(defaults.get("ScheduleExpression", "rate(1 hour)")),
    )


def _period_s(expression: str) -> float:
    found = re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", expression.strip())
    if not found:
        return 3600.0
    return int(found[1]) * {"minute": 60, "hour": 3600, "day": 86400}[found[2]]


def _meta(plan: Plan) -> dict[str, Any]:
    return {
        "mode": plan.mode,
        "plan": plan.__dict__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, measures nothing useful")
    parser.add_argument("--out", type=Path, help="results directory (default bench/results, or bench/results/quick)")
    parser.add_argument("--markdown", type=Path, help="report path (default BENCHMARKS.md; quick: in --out)")
    parser.add_argument("--render", action="store_true", help="no measuring: plots and report from results.json")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    out = args.out or REPO / "bench" / "results" / ("quick" if args.quick else "")
    markdown = args.markdown or (out / "BENCHMARKS.md" if args.quick else REPO / "BENCHMARKS.md")
    out.mkdir(parents=True, exist_ok=True)

    def progress(step: str) -> None:
        print(f"bench: {step}", file=sys.stderr, flush=True)

    if args.render:
        results = json.loads((out / "results.json").read_text())
    else:
        results = measure(plan, progress)
        (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    images = plots.all_plots(results, out)
    markdown.write_text(report.render(results, images, markdown.parent))
    for name, t in results["targets"].items():
        verdict = "met" if t["met"] else "MISSED"
        progress(f"{name}: {t['value']} ({t['op']} {t['limit']}, {t['where']}): {verdict}")
    progress(
        f"recommended BATCH_SIZE {results['recommendation']['batch_size']}; wrote {out / 'results.json'}, {markdown}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
