"""``sync-one EMPLOYEE_ID``: one employee now, outside any window, with the batch's mapping, plan and writes.

It takes the lock for its few seconds (refused while a drain holds it), so it never races a batch, and it
leaves the watermark, the window and the retry list alone.
"""

from __future__ import annotations

import uuid

from ..models import Change
from ..preview import Row, rows_of
from ..state import LockHeld
from .changes import Outcome
from .target import Target

LOCK_SECONDS = 300  # longer than one employee's lookups and writes with every retry


def sync_one(target: Target, employee_id: str, dry_run: bool) -> Outcome:
    batch = target.batch()
    entry = [Change("", employee_id, "Retry")]
    if dry_run:
        (row,) = rows_of(entry, batch.plan_slice(entry))
        return Outcome(_words(row, "would"), before=None, after=row.as_dict())
    try:
        lock = target.store.take_lock(f"sync-one:{employee_id}:{uuid.uuid4().hex[:8]}", LOCK_SECONDS)
    except LockHeld as exc:
        return Outcome(f"refused: {exc}; a drain is running, try again when it is done", refused=True)
    try:
        planned = batch.plan_slice(entry)
        (row,) = rows_of(entry, planned)
        failures = batch.write(planned.plan)
    finally:
        target.store.release_lock(lock)
    if failures:
        row = Row(row.id, row.name, "fail", failures[0].reason)
    failed = row.action == "fail"
    return Outcome(_words(row, "did"), done=not failed, refused=failed, after=row.as_dict())


def _words(row: Row, tense: str) -> str:
    changes = "; ".join(f"{name}: {before!r} -> {after!r}" for name, (before, after) in row.changes.items())
    detail = row.reason or changes or "nothing to change"
    return f"employee {row.id}: {tense} {row.action}: {detail}"
