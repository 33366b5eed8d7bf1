"""The offline counterpart of the console's execution graph: history JSON plus a self-contained HTML page.

States are laid out in layers by their distance from StartAt along the ASL's transitions (Next, Default,
Choices, Catch), in definition order within a layer: deterministic for a given ASL. Each box shows how
often the execution path entered the state and is coloured by outcome: green (left normally), amber
(failed at least once but went on: retried or caught), red (failed and never left), grey (not visited).
"""

from __future__ import annotations

import html
import itertools
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 210, 46, 40, 50, 20
COLOURS = {"ok": "#c8e6c9", "recovered": "#ffe0b2", "failed": "#ffcdd2", "unvisited": "#eeeeee"}
_FAILURE_EVENTS = {"TaskFailed", "TaskTimedOut", "ExecutionFailed", "FailStateEntered", "ExecutionTimedOut"}


def transitions(definition: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each state's possible next states, in ASL order."""
    edges: dict[str, list[str]] = {}
    for name, state in definition["States"].items():
        targets = [choice["Next"] for choice in state.get("Choices", [])]
        targets += [state[key] for key in ("Next", "Default") if key in state]
        targets += [catch["Next"] for catch in state.get("Catch", [])]
        edges[name] = list(dict.fromkeys(targets))
    return edges


def layout(definition: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """(column, row) per state: row = BFS depth from StartAt; unreachable states go last."""
    edges = transitions(definition)
    depth = {definition["StartAt"]: 0}
    queue = [definition["StartAt"]]
    while queue:
        current = queue.pop(0)
        for target in edges.get(current, []):
            if target not in depth:
                depth[target] = depth[current] + 1
                queue.append(target)
    last = max(depth.values(), default=0) + 1
    positions: dict[str, tuple[int, int]] = {}
    per_row: Counter[int] = Counter()
    for name in definition["States"]:
        row = depth.get(name, last)
        positions[name] = (per_row[row], row)
        per_row[row] += 1
    return positions


def path_of(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """The states entered, in order."""
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def outcomes(events: Sequence[Mapping[str, Any]]) -> dict[str, tuple[int, str]]:
    """Visit count and outcome per visited state."""
    visits: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    exits: Counter[str] = Counter()
    current = None
    for event in events:
        if "stateEnteredEventDetails" in event:
            current = event["stateEnteredEventDetails"]["name"]
            visits[current] += 1
            if event["type"] == "FailStateEntered":
                failures[current] += 1
        elif "stateExitedEventDetails" in event:
            exits[event["stateExitedEventDetails"]["name"]] += 1
        elif event["type"] in _FAILURE_EVENTS and current is not None:
            failures[current] += 1
    result = {}
    for name, count in visits.items():
        if failures[name] and not exits[name]:
            result[name] = (count, "failed")
        elif failures[name]:
            result[name] = (count, "recovered")
        else:
            result[name] = (count, "ok")
    return result


def render_svg(definition: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> str:
    positions = layout(definition)
    seen = outcomes(events)
    path = path_of(events)
    taken = set(itertools.pairwise(path))

    def centre(name: str) -> tuple[float, float]:
        col, row = positions[name]
        return MARGIN + col * (BOX_W + GAP_X) + BOX_W / 2, MARGIN + row * (BOX_H + GAP_Y) + BOX_H / 2

    width = MARGIN * 2 + (max(c for c, _ in positions.values()) + 1) * (BOX_W + GAP_X)
    height = MARGIN * 2 + (max(r for _, r in positions.values()) + 1) * (BOX_H + GAP_Y)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        'font-size="13"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>'
    ]
    for source, targets in transitions(definition).items():
        for target in targets:
            (x1, y1), (x2, y2) = centre(source), centre(target)
            y1, y2 = (y1 + BOX_H / 2, y2 - BOX_H / 2) if y2 > y1 else (y1 - BOX_H / 2, y2 + BOX_H / 2)
            bold = (source, target) in taken
            parts.append(
                f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="{"#333" if bold else "#bbb"}" '
                f'stroke-width="{3 if bold else 1}" marker-end="url(#arrow)"/>'
            )
    for name, state in definition["States"].items():
        x, y = centre(name)
        count, outcome = seen.get(name, (0, "unvisited"))
        label = html.escape(name) + (f" x{count}" if count else "")
        title = html.escape(f"{name} ({state['Type']}): {outcome}, entered {count} times")
        parts.append(
            f'<g><title>{title}</title><rect x="{x - BOX_W / 2:.0f}" y="{y - BOX_H / 2:.0f}" width="{BOX_W}" '
            f'height="{BOX_H}" rx="{BOX_H / 2 if state["Type"] == "Choice" else 6}" fill="{COLOURS[outcome]}" '
            f'stroke="#555"/><text x="{x:.0f}" y="{y + 5:.0f}" text-anchor="middle">{label}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def render_html(
    title: str, definition: Mapping[str, Any], executions: Sequence[tuple[str, Sequence[Mapping[str, Any]]]]
) -> str:
    """One graph per execution of a chain (continue-as-new), with a legend."""
    legend = " ".join(
        f'<span style="background:{colour};padding:2px 8px;border:1px solid #555">{name}</span>'
        for name, colour in COLOURS.items()
    )
    sections = "".join(f"<h2>{html.escape(arn)}</h2>{render_svg(definition, events)}" for arn, events in executions)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='font-family:sans-serif'><h1>{html.escape(title)}</h1><p>{legend}</p>{sections}</body></html>"
    )


def write(
    output: Path, definition: Mapping[str, Any], executions: Sequence[tuple[str, Sequence[Mapping[str, Any]]]]
) -> Path:
    """Writes ``history.json`` and ``graph.html`` under ``output``; answers the page's path."""
    output.mkdir(parents=True, exist_ok=True)
    (output / "history.json").write_text(
        json.dumps([{"executionArn": arn, "events": events} for arn, events in executions], indent=2, default=str),
        encoding="utf-8",
    )
    page = output / "graph.html"
    page.write_text(render_html("bamboohr-moodle-sync: execution path", definition, executions), encoding="utf-8")
    return page
