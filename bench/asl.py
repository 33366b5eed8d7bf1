"""History events per batch computed from statemachine/sync.asl.json, for when no execution can be run.

Per-state costs from stepfunctions.md: a ``.sync`` task 6 events, a request-response task 5, a Choice or
Pass 2. The loop is followed from ``Run Batch`` along ``Next`` to the Choice, then the Choice's branch
that leads back to ``Run Batch`` directly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ASL = Path(__file__).resolve().parents[1] / "statemachine" / "sync.asl.json"
RUN_BATCH = "Run Batch"


def state_events(state: dict[str, Any]) -> int:
    if state["Type"] == "Task":
        return 6 if str(state.get("Resource", "")).endswith(".sync") else 5
    return 2


def loop_cost(path: Path = ASL) -> dict[str, Any]:
    states = json.loads(path.read_text())["States"]
    loop, name = [], RUN_BATCH
    while name not in loop:
        loop.append(name)
        state = states[name]
        if state["Type"] == "Choice":
            branches = [c["Next"] for c in state.get("Choices", [])]
            name = RUN_BATCH if RUN_BATCH in branches else state.get("Default", RUN_BATCH)
        else:
            name = state.get("Next", RUN_BATCH)
    return {
        "states_per_batch": loop,
        "events_per_batch_median": sum(state_events(states[s]) for s in loop),
        "transitions_per_batch_median": len(loop),
        "source": "computed from the ASL",
    }
