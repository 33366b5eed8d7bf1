"""``status``: the watermark and its window, the lock, the window's counters, the retry list, the last executions;
the full reconciliation's own watermark, window and counters once one ran."""

from __future__ import annotations

import time
from typing import Any

from ..state import StateStore
from .target import Target

EXECUTIONS_SHOWN = 5


def status(target: Target, now: float | None = None) -> dict[str, Any]:
    store = target.store
    lock = store.read_lock()
    reasons = store.read_retry_reasons()
    retry = [
        {"id": c.employee_id, "reason": reasons.get(c.employee_id, "")}
        for c in sorted(store.read_retry_entries(), key=lambda c: c.employee_id)
    ]
    full = progress(store.full())
    result: dict[str, Any] = {
        **progress(store),
        "lock": None,
        "retry": retry,
        "full_run": full if full["watermark"] is not None else None,
    }
    if lock is not None:
        result["lock"] = {
            "owner": lock.owner,
            "expires_at": lock.expires_at,
            "live": lock.live(time.time() if now is None else now),
            "running": target.execution_running(lock.owner),
        }
    if target.sfn is not None and target.state_machine_arn:
        listed = target.sfn.list_executions(stateMachineArn=target.state_machine_arn, maxResults=EXECUTIONS_SHOWN)
        result["executions"] = [
            {
                "name": e.get("name") or e["executionArn"].rsplit(":", 1)[-1],  # moto's interpreter leaves it out
                "status": e["status"],
                "start": e["startDate"].isoformat(),
                "stop": e["stopDate"].isoformat() if e.get("stopDate") else None,
                "link": target.console_link(e["executionArn"]),
            }
            for e in listed["executions"]
        ]
    return result


def progress(store: StateStore) -> dict[str, Any]:
    """Where one kind of run stands (the incremental one, or with ``store.full()`` the full reconciliation): its
    watermark, its frozen window, the window's counters, and a guard's stop summary."""
    watermark = store.read_watermark()
    since = watermark.since if watermark else None
    snapshot = store.read_snapshot(since) if since else None
    return {
        "watermark": {"since": since, "offset": watermark.offset} if watermark else None,
        "window": {"frozen": snapshot is not None, "entries": snapshot.total, "done": watermark.offset}
        if snapshot is not None and watermark is not None
        else None,
        "counters": store.read_counters(since) if since else {},
        # A guard stops a window at its first batch, before anything is written; the summary stays until it moves.
        "guard_stop": store.read_guard_stop(watermark.since)
        if watermark is not None and snapshot is not None and watermark.offset == 0
        else None,
    }


def status_text(result: dict[str, Any]) -> str:
    watermark, window, lock = result["watermark"], result["window"], result["lock"]
    lines = [
        f"watermark: since {watermark['since']}, offset {watermark['offset']}"
        if watermark
        else "watermark: none yet (the first window starts at INITIAL_SINCE)"
    ]
    if window:
        lines.append(f"window: {window['entries']} entries frozen, {window['done']} done")
    if lock is None:
        lines.append("lock: free")
    else:
        running = {True: ", its execution is running", False: ", its execution is not running", None: ""}
        state = "live" if lock["live"] else "expired"
        lines.append(f"lock: {state}, held by {lock['owner']} until {lock['expires_at']}{running[lock['running']]}")
    counters = result["counters"]
    if counters:
        lines.append("counters so far: " + ", ".join(f"{name} {value}" for name, value in counters.items()))
    if result.get("guard_stop"):
        lines.append(f"stopped by a guard: {result['guard_stop']}")
    full = result.get("full_run")
    if full:
        state = f"{full['window']['done']} of {full['window']['entries']} done" if full["window"] else "not under way"
        lines.append(f"full reconciliation: {state}")
        if full["counters"]:
            lines.append("  its counters: " + ", ".join(f"{name} {value}" for name, value in full["counters"].items()))
        if full.get("guard_stop"):
            lines.append(f"  stopped by a guard: {full['guard_stop']}")
    lines.append(f"retry list: {len(result['retry'])} employee(s)")
    lines += [f"  {entry['id']}: {entry['reason'] or '(no reason recorded)'}" for entry in result["retry"]]
    for execution in result.get("executions", []):
        lines.append(
            f"execution {execution['name']}: {execution['status']}, {execution['start']} -> "
            f"{execution['stop'] or 'running'}  {execution['link']}"
        )
    return "\n".join(lines)
