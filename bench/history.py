"""History events and state transitions per batch, from one offline execution of statemachine/sync.asl.json.

The local pipeline (moto's Step Functions interpreter, tasks as processes, both emulators) runs a small
backlog; the history is cut at each ``Run Batch`` entry, so a batch's cost is every event from one
``Run Batch`` to the next (the loop's read, choice and lock extension included).
"""

from __future__ import annotations

import itertools
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
HISTORY_LIMIT = 25_000
RUN_BATCH = "Run Batch"


def template_defaults(template: Path = REPO / "template.yaml") -> dict[str, str]:
    """Parameters' defaults from template.yaml (its CloudFormation tags are skipped, not resolved)."""
    document = yaml.load(template.read_text(), Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader
    parameters = document.get("Parameters") or {}
    return {name: str(spec["Default"]) for name, spec in parameters.items() if "Default" in spec}


class _TemplateLoader(yaml.SafeLoader):
    pass


_TemplateLoader.add_multi_constructor("!", lambda _loader, _suffix, _node: None)


def measure(employees: int, batch_size: int) -> dict[str, Any]:
    """Run one execution over ``employees`` new hires in batches of ``batch_size``; count its history."""
    from bamboohr_moodle_sync.local.pipeline.offline import Options, running_pipeline

    with tempfile.TemporaryDirectory() as scratch:
        options = Options(employees=employees, batch_size=batch_size, time_scale=0.001, output=Path(scratch))
        started = time.perf_counter()
        with running_pipeline(options) as pipeline:
            chain = pipeline.follow_chain(pipeline.start(), timeout_s=600)
            events = pipeline.history(chain[0]["executionArn"])
        wall_s = time.perf_counter() - started
    run = {"employees": employees, "batch_size": batch_size, "status": chain[-1]["status"], "wall_s": round(wall_s, 2)}
    return run | per_batch(events)


def per_batch(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Events and transitions between consecutive ``Run Batch`` entries, and around the loop."""
    starts = [i for i, e in enumerate(events) if _entered(e) == RUN_BATCH]
    if len(starts) < 2:
        raise RuntimeError(f"the execution ran {len(starts)} batch(es); per-batch counts need at least 2")
    spans = [events[a:b] for a, b in itertools.pairwise(starts)]
    event_counts = [len(span) for span in spans]
    transitions = [sum(1 for e in span if _entered(e)) for span in spans]
    fixed = events[: starts[0]] + events[starts[-1] :]
    return {
        "batches": len(starts),
        "events_total": len(events),
        "events_per_batch": event_counts,
        "events_per_batch_median": statistics.median(event_counts),
        "transitions_per_batch": transitions,
        "transitions_per_batch_median": statistics.median(transitions),
        "states_per_batch": sorted({str(_entered(e)) for e in spans[0] if _entered(e)}),
        "events_outside_loop": len(fixed),
        "transitions_outside_loop": sum(1 for e in fixed if _entered(e)),
        "event_types_per_batch": [e["type"] for e in spans[0]],
    }


def drain_capacity(events_per_batch: float, batch_size: int, defaults: dict[str, str]) -> dict[str, Any]:
    """The largest backlog one execution drains before it continues as new, and what bounds it."""
    max_batches = int(defaults.get("MaxBatchesPerExecution", "0") or 0)
    by_history = int(HISTORY_LIMIT // events_per_batch) if events_per_batch else 0
    batches = min(b for b in (max_batches, by_history) if b) if (max_batches or by_history) else 0
    return {
        "max_batches_per_execution": max_batches,
        "batches_by_history_limit": by_history,
        "batches_per_execution": batches,
        "employees_per_execution": batches * batch_size,
        "bound": "MaxBatchesPerExecution" if max_batches and max_batches <= by_history else "history limit",
    }


def _entered(event: dict[str, Any]) -> str | None:
    if not re.search(r"StateEntered$", event.get("type", "")):
        return None
    return str(event.get("stateEnteredEventDetails", {}).get("name"))
