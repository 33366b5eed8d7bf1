"""What the next run would do to every employee of the window, planned by the batch's own engine.

``preview_window`` reads the window as the next batch would (the frozen change list from the watermark's
offset, or BambooHR's change list plus the retry list when nothing is frozen), asks the guard about it,
and plans it slice by slice with ``Batch.plan_slice``, the method the batch writes from. Nothing is written
and nothing is frozen. ``rows_of`` turns one slice's plan into one row per employee: pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from .errors import SyncError
from .full_window import full_window
from .guard import GuardVerdict
from .models import Change, Employee, MoodleUser, with_retries
from .plan import COUNTERS, PlannedSlice

if TYPE_CHECKING:
    from .bamboohr import BambooHRClient
    from .cohorts import RemovalsVerdict
    from .config import Settings
    from .moodle import MoodleClient
    from .state import Snapshot, StateStore, Watermark

Value = str | int
HIDDEN = "(hidden)"  # a value a log leaves out
PROFILE = "profile_field_"  # a custom profile field's change is keyed as Moodle's user fields name it
ACTIONS = {  # a row's action -> the counter the batch adds it to
    "create": "created",
    "update": "updated",
    "suspend": "suspended",
    "reactivate": "reactivated",
    "unchanged": "unchanged",
    "skip": "skipped",
    "fail": "failed",
}
_BY_KIND = {"updated": "update", "suspended": "suspend", "reactivated": "reactivate"}


@dataclass(frozen=True)
class Row:
    """One employee of the window: what the run would do, why (skip and fail), each field before -> after
    (custom profile fields as ``profile_field_<shortname>``), and the owned cohorts it joins and leaves."""

    id: str
    name: str
    action: str
    reason: str = ""
    changes: Mapping[str, tuple[Value, Value]] = field(default_factory=dict)
    cohorts: Mapping[str, list[str]] = field(default_factory=dict)
    """{"added": [cohort names], "removed": [...]} when the mapping has ``[cohorts]`` and this employee moves."""

    def redacted(self) -> Row:
        """The row for a log: no name and no values (``LOG_PERSONAL_DATA=1`` keeps them); ids, fields, reasons stay."""
        return replace(self, name="", changes=dict.fromkeys(self.changes, (HIDDEN, HIDDEN)))

    def as_dict(self) -> dict[str, object]:
        changes = {name: list(values) for name, values in self.changes.items()}
        row: dict[str, object] = {
            "id": self.id,
            "name": self.name,
            "action": self.action,
            "reason": self.reason,
            "changes": changes,
        }
        if self.cohorts:
            row["cohorts"] = {kind: list(names) for kind, names in self.cohorts.items()}
        return row


@dataclass(frozen=True)
class Preview:
    since: str
    offset: int
    rows: list[Row]
    guard: GuardVerdict | None
    """None when the window is already under way (the guard counted it at offset 0) or the guard is lifted."""
    frozen: bool = False
    cohort_guard: RemovalsVerdict | None = None
    """The cohort guard's verdict, on the same terms (None also without ``[cohorts]``)."""
    mapping_file: str | None = None
    """The ``MAPPING_FILE`` it planned with (None: the default mapping): a deployed task plans with its image's."""

    @property
    def would_stop(self) -> bool:
        """Whether a guard, of suspensions or of cohort removals, would stop the next run."""
        return any(v is not None and v.would_stop for v in (self.guard, self.cohort_guard))

    @property
    def approved(self) -> bool:
        return any(v is not None and v.approved for v in (self.guard, self.cohort_guard))

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(COUNTERS, 0)
        for row in self.rows:
            counts[ACTIONS[row.action]] += 1
            for kind, names in row.cohorts.items():
                if f"cohort_{kind}" in counts:
                    counts[f"cohort_{kind}"] += len(names)
        return counts

    def summary(self) -> dict[str, object]:
        guard: dict[str, object] = self.guard.as_dict() if self.guard else {}
        if self.cohort_guard is not None:
            guard["cohort_removals"] = self.cohort_guard.as_dict()
        guard["would_stop"] = self.would_stop
        return {
            "since": self.since,
            "offset": self.offset,
            "entries": len(self.rows),
            "frozen": self.frozen,
            "mapping_file": self.mapping_file,
            **self.counts,
            "guard": guard,
        }

    def as_dict(self) -> dict[str, object]:
        return {"summary": self.summary(), "employees": [row.as_dict() for row in self.rows]}


class WindowPlanner(Protocol):
    """What the preview plans through: ``batch.Batch``, whose own planning the batch writes from."""

    settings: Settings
    bamboohr: BambooHRClient
    moodle: MoodleClient
    store: StateStore

    def guard_verdict(self, window: Sequence[Change], snapshot: Snapshot | None) -> GuardVerdict | None: ...

    def removals_verdict(self, window: Sequence[Change], snapshot: Snapshot | None) -> RemovalsVerdict | None: ...

    def plan_slice(self, batch: Sequence[Change]) -> PlannedSlice: ...


def preview_window(batch: WindowPlanner, start: Watermark, *, full: bool = False) -> Preview:
    """The rest of the window from ``start`` (or, ``full``, the whole window a full reconciliation would freeze
    now: ``full_window``), planned."""
    store, snapshot = batch.store, batch.store.read_snapshot(start.since)
    frozen = not full and snapshot is not None and (start.offset != 0 or snapshot.version == start.version)
    offset = 0 if full else start.offset
    if frozen and snapshot is not None:
        entries = store.read_changes(snapshot, offset, snapshot.total - offset)
    elif offset != 0:
        raise SyncError(f"the change list of window {start.since} is gone (expired?): reset the watermark")
    elif full or batch.settings.sync_mode == "full":
        entries = full_window(batch.bamboohr, batch.moodle, batch.settings).changes
    else:
        entries = with_retries(batch.bamboohr.changed_since(start.since), store.read_retry_entries()).changes
    guard = batch.guard_verdict(entries, snapshot if frozen else None) if offset == 0 else None
    cohort_guard = batch.removals_verdict(entries, snapshot if frozen else None) if offset == 0 else None
    rows: list[Row] = []
    size = batch.settings.batch_size
    for index in range(0, len(entries), size):
        part = entries[index : index + size]
        rows.extend(rows_of(part, batch.plan_slice(part)))
    mapping = str(batch.settings.mapping_file) if batch.settings.mapping_file else None
    since = batch.settings.initial_since if full else start.since
    return Preview(since, offset, rows, guard, frozen, cohort_guard, mapping)


def rows_of(changes: Sequence[Change], planned: PlannedSlice) -> list[Row]:
    """One row per employee of the slice, in change-list order."""
    plan, employees = planned.plan, planned.employees
    accounts = {user.id: user for user in planned.accounts}
    memberships: Any = getattr(plan, "memberships", None)  # owned cohorts, with [cohorts] in the mapping
    cohorts: dict[str, dict[str, list[str]]] = memberships.by_employee() if memberships is not None else {}
    rows: dict[str, Row] = {}
    for user in plan.creates:
        profile: Mapping[str, str] = getattr(user, "profile", {})
        changes_made = {name: ("", value) for name, value in user.fields.items() if value}
        changes_made |= {f"{PROFILE}{name}": ("", value) for name, value in profile.items() if value}
        rows[user.employee_id] = Row(
            user.employee_id, _name(employees.get(user.employee_id)), "create", "", changes_made
        )
    for update in plan.updates:
        account = accounts.get(update.user_id)
        recorded: Mapping[str, str] = getattr(update, "before", {})
        wanted = {**update.changes, **{f"{PROFILE}{k}": v for k, v in getattr(update, "profile", {}).items()}}
        rows[update.employee_id] = Row(
            update.employee_id,
            _name(employees.get(update.employee_id), account),
            _BY_KIND.get(update.kind, "update"),
            "",
            {name: (recorded.get(name, _current(account, name)), value) for name, value in wanted.items()},
        )
    for employee_id in plan.unchanged:
        rows[employee_id] = Row(employee_id, _name(employees.get(employee_id)), "unchanged")
    for employee_id, reason in plan.skipped:
        rows[employee_id] = Row(employee_id, _name(employees.get(employee_id)), "skip", reason)
    for failure in plan.failures:
        rows[failure.employee_id] = Row(
            failure.employee_id, _name(employees.get(failure.employee_id)), "fail", failure.reason
        )
    ordered = dict.fromkeys(c.employee_id for c in changes)
    return [replace(rows[i], cohorts=cohorts[i]) if i in cohorts else rows[i] for i in ordered if i in rows]


def _current(account: MoodleUser | None, name: str) -> Value:
    if account is None:
        return ""
    if name == "suspended":
        return int(account.suspended)
    return account.username if name == "username" else account.fields.get(name, "")


def _name(employee: Employee | None, account: MoodleUser | None = None) -> str:
    if employee is not None:
        first = employee.get("preferredName") or employee.get("firstName") or ""
        return f"{first} {employee.get('lastName') or ''}".strip()
    if account is not None:
        return f"{account.fields.get('firstname', '')} {account.fields.get('lastname', '')}".strip()
    return ""
