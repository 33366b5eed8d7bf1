"""``approve``, ``reset`` and ``unlock``: the operator's three changes to the state, each with its refusals.

Each returns an ``Outcome``: what it did (or would do without ``--yes``), the state before and after, and
whether it was refused. The state store's conditions make every change safe against a run that moves first.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from ..models import utc_timestamp
from ..preview import Preview, preview_window
from ..state import NO_WATERMARK, LockHeld, StaleBatch, Watermark
from .render import summary_text
from .target import Target


@dataclass
class Outcome:
    message: str
    done: bool = False
    refused: bool = False
    before: Any = None
    after: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "refused": self.refused,
            "message": self.message,
            "before": self.before,
            "after": self.after,
            **self.extra,
        }


def _mark(watermark: Watermark | None) -> dict[str, Any] | None:
    return {"since": watermark.since, "offset": watermark.offset} if watermark else None


def approve(target: Target, yes: bool, full: bool = False) -> Outcome:
    """Let the window the guard stopped through: bound to its since and its frozen change list (freeze id);
    ``full``: the full reconciliation's window, and the execution it starts is a full one."""
    store = target.store.full() if full else target.store
    full_batch = target.batch(sync_mode="full") if full else None
    watermark = store.read_watermark()
    if watermark is None and full_batch is not None:  # a first full run has no watermark yet: it froze at the start
        watermark = Watermark(full_batch.settings.initial_since, 0, NO_WATERMARK)
    snapshot = store.read_snapshot(watermark.since) if watermark else None
    if watermark is None or watermark.offset != 0 or snapshot is None or snapshot.version != watermark.version:
        return Outcome(
            "nothing to approve: no window is frozen at the watermark (the guard stops a frozen window)",
            refused=True,
            before=_mark(watermark),
        )
    batch = full_batch or target.batch()
    preview: Preview = preview_window(batch, watermark)
    summary = summary_text(preview)
    extra: dict[str, Any] = {"summary": preview.summary()}
    if not preview.would_stop:
        why = "it is already approved" if preview.approved else "the guards let it through"
        return Outcome(f"{summary}\nnothing to approve: {why}", refused=True, before=_mark(watermark), extra=extra)
    if not yes:
        return Outcome(f"{summary}\nadd --yes to let exactly this window through", before=_mark(watermark), extra=extra)
    try:
        store.approve(snapshot)
    except StaleBatch as exc:
        return Outcome(f"refused: {exc}; look again with preview", refused=True, extra=extra)
    message = f"{summary}\napproved window {snapshot.since} (freeze {snapshot.freeze_id})"
    if target.sfn is not None and target.state_machine_arn:
        started = target.sfn.start_execution(
            stateMachineArn=target.state_machine_arn, input=json.dumps({"mode": "full"} if full else {})
        )
        extra["execution"] = started["executionArn"]
        message += f"; started {started['executionArn']}\n{target.console_link(started['executionArn'])}"
    else:
        message += "; run `bamboohr-moodle-sync batch` to sync it" + (" with SYNC_MODE=full" if full else "")
    return Outcome(message, done=True, before=_mark(watermark), after=_mark(watermark), extra=extra)


def reset(target: Target, since: str, yes: bool, now: float | None = None) -> Outcome:
    """Start a new window at ``since`` (offset 0); refused while a live lock is held."""
    store = target.store
    try:
        new_since = utc_timestamp(since)
    except ValueError as exc:
        return Outcome(f"--since: {exc}", refused=True)
    before = store.read_watermark()
    after = {"since": new_since, "offset": 0}
    lock = store.read_lock()
    if lock is not None and lock.live(time.time() if now is None else now):
        return Outcome(
            f"refused: a live lock is held by {lock.owner} until {lock.expires_at}; wait for it, or "
            "`unlock` once its execution is not running",
            refused=True,
            before=_mark(before),
            after=after,
        )
    if not yes:
        return Outcome(
            f"would move the watermark from {_words(before)} to since {new_since} offset 0; add --yes",
            before=_mark(before),
            after=after,
        )
    try:
        store.reset_watermark(before, new_since)
    except LockHeld as exc:
        return Outcome(f"refused: {exc}", refused=True, before=_mark(before), after=after)
    except StaleBatch:
        return Outcome(
            "refused: the watermark moved meanwhile; look again with status",
            refused=True,
            before=_mark(before),
            after=after,
        )
    return Outcome(
        f"watermark moved from {_words(before)} to since {new_since} offset 0",
        done=True,
        before=_mark(before),
        after=after,
    )


def unlock(target: Target, yes: bool, now: float | None = None) -> Outcome:
    """Clear the lock, only when its execution is not running (``--stack``) or it has expired."""
    lock = target.store.read_lock()
    if lock is None:
        return Outcome("the lock is free: nothing to clear", refused=True)
    before = {"owner": lock.owner, "expires_at": lock.expires_at}
    running = target.execution_running(lock.owner)
    live = lock.live(time.time() if now is None else now)
    if running:
        return Outcome(
            f"refused: execution {lock.owner} holds the lock and is still running",
            refused=True,
            before=before,
            after=before,
        )
    if live and running is None:
        return Outcome(
            f"refused: the lock of {lock.owner} is live until {lock.expires_at} and whether it still "
            "runs is unknown (give --stack to ask Step Functions)",
            refused=True,
            before=before,
            after=before,
        )
    if not yes:
        return Outcome(
            f"would clear the lock of {lock.owner} (until {lock.expires_at}); add --yes", before=before, after=None
        )
    if not target.store.release_lock(lock):
        return Outcome("refused: the lock changed meanwhile; look again with status", refused=True, before=before)
    return Outcome(f"cleared the lock of {lock.owner}", done=True, before=before, after=None)


def _words(watermark: Watermark | None) -> str:
    if watermark is None or watermark.version == NO_WATERMARK:
        return "none (INITIAL_SINCE)"
    return f"since {watermark.since} offset {watermark.offset}"
