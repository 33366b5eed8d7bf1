"""The offline counterpart of the console's execution graph: history JSON plus a self-contained HTML page.

Layout (deterministic for a given ASL): the main flow, reachable from StartAt without a Catch, runs down the
left in rows by distance, each state under the state that first leads to it; the error handling that only a
Catch leads to goes to the right: a column for the handlers that return to the flow (Retry Batch?, Skip
Overlapping Run) beside the state that catches, and a last column for the failure path (the states from which
only Next leads to a Fail state). Untaken Catch edges are not drawn, so they cannot fan across the page; a
taken one is red and dashed.

Each box shows how often the execution entered the state and is coloured by its outcome: ``ok`` (green, never
failed), ``recovered`` (amber: failed at least once, but its last visit succeeded), ``failed`` (red: its last
visit failed, caught or not, or it is a Fail state), ``unvisited`` (grey). Each execution gets a headline
with its status, and for a failure the error and how often the failing state was entered.
"""

from __future__ import annotations

import html
import itertools
import json
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from pathlib import Path
from typing import Any

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN, LOOP_X = 210, 46, 40, 44, 20, 45
COLOURS = {"ok": "#c8e6c9", "recovered": "#ffe0b2", "failed": "#ef9a9a", "unvisited": "#eeeeee"}
STATUS_COLOURS = {"SUCCEEDED": "#2e7d32", "FAILED": "#c62828", "TIMED_OUT": "#c62828", "ABORTED": "#6d4c41"}
STROKES = {"failed": 'stroke="#b71c1c" stroke-width="2"', "other": 'stroke="#555"'}
_FAILURE_EVENTS = {"TaskFailed", "TaskTimedOut", "ExecutionFailed", "FailStateEntered", "ExecutionTimedOut"}
_SUCCESS_EVENTS = {"TaskSucceeded", "MapStateSucceeded"}


def transitions(definition: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each state's possible next states, in ASL order (Choices, Next, Default, then Catch)."""
    edges: dict[str, list[str]] = {}
    for name, state in definition["States"].items():
        edges[name] = list(dict.fromkeys(flow_targets(state) + catch_targets(state)))
    return edges


def flow_targets(state: Mapping[str, Any]) -> list[str]:
    targets = [choice["Next"] for choice in state.get("Choices", [])]
    return targets + [state[key] for key in ("Next", "Default") if key in state]


def catch_targets(state: Mapping[str, Any]) -> list[str]:
    return [catch["Next"] for catch in state.get("Catch", [])]


def layout(definition: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """(column, row) per state: the main flow on the left, Catch handlers, then the failure path on the right."""
    states = definition["States"]
    flow = {name: flow_targets(state) for name, state in states.items()}
    positions: dict[str, tuple[int, int]] = {}
    taken: set[tuple[int, int]] = set()

    def place(name: str, column: int, row: int) -> None:
        while (column, row) in taken:
            column += 1
        positions[name] = (column, row)
        taken.add((column, row))

    place(definition["StartAt"], 0, 0)
    queue = deque([definition["StartAt"]])
    while queue:  # the main flow: breadth first over Next/Default/Choices, each child under its parent
        current = queue.popleft()
        for target in flow[current]:
            if target not in positions:
                place(target, positions[current][0], positions[current][1] + 1)
                queue.append(target)
    handlers_column = max((column for column, _ in positions.values()), default=0) + 1
    failure_path = _failure_path(states, set(positions))
    for name in list(positions):  # handlers beside the state that catches into them, in row order
        for target in catch_targets(states[name]):
            if target not in positions and target not in failure_path:
                place(target, handlers_column, positions[name][1])
                _place_below(target, flow, positions, place, exclude=failure_path)
    failure_column = max(column for column, _ in positions.values()) + 1
    roots = [n for n in states if n in failure_path and not any(n in flow[p] for p in failure_path)]
    for root in roots:
        if root not in positions:
            place(root, failure_column, 0)
            _place_below(root, flow, positions, place)
    last_row = max(row for _, row in positions.values()) + 1
    for name in states:  # unreachable states, if any, go last
        if name not in positions:
            place(name, 0, last_row)
    return positions


def _failure_path(states: Mapping[str, Any], main: set[str]) -> set[str]:
    """States off the main flow from which Next alone leads to a Fail state."""
    found: set[str] = set()
    for name in states:
        current: str | None = name
        seen: set[str] = set()
        while current is not None and current not in seen and current not in main:
            seen.add(current)
            if states[current]["Type"] == "Fail":
                found |= seen
                break
            current = states[current].get("Next")
    return found


def _place_below(
    start: str,
    flow: Mapping[str, list[str]],
    positions: dict[str, tuple[int, int]],
    place: Callable[[str, int, int], None],
    exclude: Set[str] = frozenset(),
) -> None:
    """The states the flow from ``start`` reaches and nothing placed yet, each under its parent."""
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for target in flow[current]:
            if target not in positions and target not in exclude:
                place(target, positions[current][0], positions[current][1] + 1)
                queue.append(target)


def path_of(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """The states entered, in order."""
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def outcomes(events: Sequence[Mapping[str, Any]]) -> dict[str, tuple[int, str]]:
    """Visit count and outcome (``ok``, ``recovered``, ``failed``) per visited state."""
    visits: Counter[str] = Counter()
    ever_failed: set[str] = set()
    last_failed: dict[str, bool] = {}
    current = None
    for event in events:
        if "stateEnteredEventDetails" in event:
            current = event["stateEnteredEventDetails"]["name"]
            visits[current] += 1
            last_failed[current] = event["type"] == "FailStateEntered"
        elif current is None:
            continue
        elif event["type"] in _FAILURE_EVENTS:
            last_failed[current] = True
        elif event["type"] in _SUCCESS_EVENTS:
            last_failed[current] = False  # a Retry inside the visit succeeded
        if current is not None and last_failed.get(current):
            ever_failed.add(current)
    result = {}
    for name, count in visits.items():
        outcome = "failed" if last_failed[name] else "recovered" if name in ever_failed else "ok"
        result[name] = (count, outcome)
    return result


def headline(events: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """The execution's status and a sentence about it, from its history."""
    seen = outcomes(events)
    for event in reversed(events):
        kind = event["type"]
        if kind == "ExecutionSucceeded":
            recovered = [name for name, (_, outcome) in seen.items() if outcome == "recovered"]
            return "SUCCEEDED", "SUCCEEDED" + (f", after errors in {', '.join(recovered)}" if recovered else "")
        if kind in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            status = {"ExecutionFailed": "FAILED", "ExecutionTimedOut": "TIMED_OUT"}.get(kind, "ABORTED")
            details: Mapping[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            ends = {e["stateEnteredEventDetails"]["name"] for e in events if e["type"] == "FailStateEntered"}
            failed = [
                f"{name} failed, entered {n}x" for name, (n, o) in seen.items() if o == "failed" and name not in ends
            ]
            return status, f"{status} ({details.get('error') or kind}): {'; '.join(failed)}"
    return "RUNNING", "still running"


def _edge(source: tuple[float, float], target: tuple[float, float], style: str) -> str:
    """Down to a lower row: bottom to top; otherwise side to side, or, back up the same column, an arc on the left."""
    (x1, y1), (x2, y2) = source, target
    if y2 > y1:
        d = f"M{x1:.0f},{y1 + BOX_H / 2:.0f} L{x2:.0f},{y2 - BOX_H / 2:.0f}"
    elif x2 != x1:
        sign = 1 if x2 > x1 else -1
        d = f"M{x1 + sign * BOX_W / 2:.0f},{y1:.0f} L{x2 - sign * BOX_W / 2:.0f},{y2:.0f}"
    else:
        left1, left2 = x1 - BOX_W / 2, x2 - BOX_W / 2
        bend = min(left1, left2) - LOOP_X
        d = f"M{left1:.0f},{y1:.0f} C{bend:.0f},{y1:.0f} {bend:.0f},{y2:.0f} {left2:.0f},{y2:.0f}"
    return f'<path d="{d}" fill="none" {style} marker-end="url(#arrow)"/>'


def render_svg(definition: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> str:
    positions = layout(definition)
    seen = outcomes(events)
    taken = set(itertools.pairwise(path_of(events)))

    def centre(name: str) -> tuple[float, float]:
        col, row = positions[name]
        return MARGIN + LOOP_X + col * (BOX_W + GAP_X) + BOX_W / 2, MARGIN + row * (BOX_H + GAP_Y) + BOX_H / 2

    width = MARGIN * 2 + LOOP_X + (max(c for c, _ in positions.values()) + 1) * (BOX_W + GAP_X)
    height = MARGIN * 2 + (max(r for _, r in positions.values()) + 1) * (BOX_H + GAP_Y)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        'font-size="13"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>'
    ]
    for source, state in definition["States"].items():
        flow = flow_targets(state)
        for target in flow:
            bold = (source, target) in taken
            style = 'stroke="#333" stroke-width="3"' if bold else 'stroke="#c4c4c4" stroke-width="1"'
            parts.append(_edge(centre(source), centre(target), style))
        for target in catch_targets(state):
            if (source, target) in taken and target not in flow:
                style = 'stroke="#c62828" stroke-width="3" stroke-dasharray="7 4" class="caught"'
                parts.append(_edge(centre(source), centre(target), style))
    for name, state in definition["States"].items():
        x, y = centre(name)
        count, outcome = seen.get(name, (0, "unvisited"))
        label = html.escape(name) + (f" x{count}" if count else "")
        title = html.escape(f"{name} ({state['Type']}): {outcome}, entered {count} times")
        parts.append(
            f'<g class="state {outcome}" data-state="{html.escape(name)}"><title>{title}</title>'
            f'<rect x="{x - BOX_W / 2:.0f}" y="{y - BOX_H / 2:.0f}" width="{BOX_W}" height="{BOX_H}" '
            f'rx="{BOX_H / 2 if state["Type"] == "Choice" else 6}" fill="{COLOURS[outcome]}" '
            f"{STROKES['failed' if outcome == 'failed' else 'other']}/>"
            f'<text x="{x:.0f}" y="{y + 5:.0f}" text-anchor="middle">{label}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def render_html(
    title: str, definition: Mapping[str, Any], executions: Sequence[tuple[str, Sequence[Mapping[str, Any]]]]
) -> str:
    """One graph per execution of a chain (continue-as-new), each under its headline, with a legend."""
    legend = " ".join(
        f'<span style="background:{colour};padding:2px 8px;border:1px solid #555">{name}</span>'
        for name, colour in COLOURS.items()
    )
    legend += (
        " &nbsp; x<i>n</i>: times entered; bold: the path taken; "
        '<span style="color:#c62828">red dashed</span>: an error caught (untaken Catch edges are not drawn)'
    )
    sections = []
    for arn, events in executions:
        status, sentence = headline(events)
        colour = STATUS_COLOURS.get(status, "#555")
        sections.append(
            f'<h2 class="execution {status.lower()}" style="color:{colour}">{html.escape(arn.rsplit(":", 1)[-1])}: '
            f"{html.escape(sentence)}</h2>{render_svg(definition, events)}"
        )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='font-family:sans-serif'><h1>{html.escape(title)}</h1><p>{legend}</p>"
        f"{''.join(sections)}</body></html>"
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
