"""One batch, end to end: find the window's change list, slice it, plan, write to Moodle, commit.

    1. Start from the watermark (or SINCE/OFFSET; a start that no longer matches it is a stale task: exit 0).
    2. At offset 0, freeze the window: BambooHR's change list since ``since`` plus the retry list, ordered by
       (lastChanged, id); then the mass-suspension guard counts the whole frozen window (``guard``) and stops
       it unless an operator approved that very freeze. Later batches, and a rerun of this one, read that
       frozen snapshot, so offsets stay stable while BambooHR changes. A dry run plans the whole window
       without freezing it (``preview``, the engine of ``bamboohr-moodle-sync preview``).
    3. One custom report for the slice's field values (what ``eligibility`` reads included), bulk Moodle lookups
       (by idnumber; by username and, ignoring case, by e-mail for the employees whose own account does not hold
       theirs: ``lookups``), a pure plan (who should have an account today: ``eligibility``), bulk writes.
    4. One conditional transaction moves the watermark with the counters and the failed ids.

Every step before 4 is safe to repeat: Moodle writes are planned against what Moodle holds now.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from .bamboohr import BambooHRClient
from .cohorts import RemovalsVerdict, missing_functions, removals_message, window_removals
from .cohorts import plan_for as cohort_plan_for
from .cohorts import write_plan as write_memberships
from .config import Settings
from .eligibility import Eligibility, today_in
from .errors import CohortRemovalsBlocked, ConfigError, MassSuspensionBlocked, SyncError
from .full_window import drift_samples, full_window
from .guard import GuardVerdict, assess, stop_message
from .http import RETRIES
from .log import logger
from .lookups import accounts_for
from .mapping import FieldMapping
from .models import Change, RecordFailure, with_retries
from .moodle import MoodleClient
from .plan import AccountIndex, Plan, PlannedSlice, batch_members, create_payload, plan_batch
from .preview import preview_window
from .state import NO_WATERMARK, FreezeLost, Snapshot, StaleBatch, StateStore, Watermark

Outcome = Literal["committed", "final", "stale", "dry-run", "empty"]


@dataclass
class BatchResult:
    outcome: Outcome
    start: Watermark
    end: Watermark
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[RecordFailure] = field(default_factory=list)


@dataclass
class Batch:
    settings: Settings
    bamboohr: BambooHRClient
    moodle: MoodleClient
    store: StateStore
    mapping: FieldMapping
    log: Callable[..., None] = logger.info
    clock: Callable[[], datetime] | None = None
    """Now, for the date rules; None: BambooHR's clock at its latest answer, else this machine's."""

    def eligibility(self) -> Eligibility:
        """Who should have an account today, in ``SYNC_TIMEZONE``. Without ``clock`` the day is BambooHR's (its
        ``Date`` header): the HR system's own day, which is also an emulator's moved clock offline."""
        now = self.clock() if self.clock else self.bamboohr.server_time or datetime.now(UTC)
        today = today_in(now, self.settings.sync_timezone)
        return Eligibility(self.mapping.scope, today, self.settings.provision_days_before_start)

    def run(self) -> BatchResult:
        start = self._starting_point()
        if start is None:  # SINCE/OFFSET that the watermark has left: start is what was asked for, end the watermark
            return BatchResult("stale", self._asked_for(), self._watermark_or_initial())
        log_context = {"since": start.since, "offset": start.offset}
        logger.append_keys(**log_context)  # on every line of this batch, the clients' warnings included
        if self.settings.dry_run:
            return self._dry_run(start, log_context)

        try:
            snapshot, in_memory = self._window(start)
        except StaleBatch as exc:
            self.log("another run moved the watermark first; nothing to do", extra={**log_context, "detail": str(exc)})
            return BatchResult("stale", start, start)
        if in_memory is not None:
            batch = in_memory[start.offset : start.offset + self._size]
        else:
            batch = self.store.read_changes(snapshot, start.offset, self._size)
        consumed = start.offset + len(batch)
        final = consumed >= snapshot.total
        next_since = start.since if self.full else snapshot.latest or start.since  # a full run starts over
        end = Watermark(next_since, 0) if final else Watermark(start.since, consumed)
        if not batch and start == end:
            self.log("nothing changed in this window", extra={**log_context, "total": snapshot.total})
            return BatchResult("empty", start, end)

        plan = self._plan(batch)
        failures = self.write(plan)
        counts = _with_write_failures(plan, failures)
        all_failures = plan.failures + failures
        self._log_records(plan, all_failures, log_context)
        actions = {c.employee_id: c.action for c in batch}
        failed = [Change("", f.employee_id, actions.get(f.employee_id, "Retry")) for f in all_failures]
        reasons = {f.employee_id: f.reason for f in all_failures}
        samples = drift_samples(plan, all_failures) if self.full else None
        try:
            self.store.commit_batch(start, end, snapshot, counts, failed, reasons, samples)
        except StaleBatch as exc:
            self.log(
                "another run committed this batch first; nothing more to do", extra={**log_context, "detail": str(exc)}
            )
            return BatchResult("stale", start, start, counts, all_failures)
        self.log(
            "batch committed",
            extra={
                **log_context,
                "next_since": end.since,
                "next_offset": end.offset,
                "total": snapshot.total,
                "counts": counts,
                "retried_requests": dict(RETRIES),
            },
        )
        return BatchResult("final" if final else "committed", start, end, counts, all_failures)

    def _dry_run(self, start: Watermark, log_context: dict[str, object]) -> BatchResult:
        """Plan the rest of the window, every batch of it, as ``preview`` does; write nothing, freeze nothing."""

        result = preview_window(self, start)
        self.log(
            "dry run: planned, nothing written",
            extra={
                **log_context,
                "counts": result.counts,
                "guard": result.guard.as_dict() if result.guard else None,
                "plan": [(row if self.settings.log_personal_data else row.redacted()).as_dict() for row in result.rows],
            },
        )
        return BatchResult("dry-run", start, start, result.counts)

    def _log_records(self, plan: Plan, failures: Sequence[RecordFailure], context: dict[str, object]) -> None:
        """One line per skipped and per failed record: employee id and reason (values only with LOG_PERSONAL_DATA)."""
        for employee_id, reason in plan.skipped:
            self.log("record skipped", extra={**context, "employee_id": employee_id, "reason": reason})
        for employee_id, reason in plan.warnings:
            self.log("record warning", extra={**context, "employee_id": employee_id, "reason": reason})
        for failure in failures:
            extra = {**context, "employee_id": failure.employee_id, "reason": failure.reason}
            if self.settings.log_personal_data and failure.personal:
                extra["personal"] = failure.personal
            self.log("record not synced", extra=extra)

    @property
    def full(self) -> bool:
        """A full reconciliation (``SYNC_MODE=full``): ``full_window``, on the store's own ``full#`` items."""
        return self.settings.sync_mode == "full"

    @property
    def _size(self) -> int:
        return self.settings.batch_size

    def _asked_for(self) -> Watermark:
        current = self._watermark_or_initial()
        offset = current.offset if self.settings.offset is None else self.settings.offset
        return Watermark(self.settings.since or current.since, offset)

    def _watermark_or_initial(self) -> Watermark:
        return self.store.read_watermark() or Watermark(self.settings.initial_since, 0)

    def _starting_point(self) -> Watermark | None:
        """The batch's start (the current watermark, with its version); None for a stale task."""
        current = self.store.read_watermark()
        wanted_since = self.settings.since
        wanted_offset = self.settings.offset
        if current is None:
            return Watermark(wanted_since or self.settings.initial_since, wanted_offset or 0, NO_WATERMARK)
        wanted = Watermark(wanted_since or current.since, current.offset if wanted_offset is None else wanted_offset)
        if wanted != current:
            self.log(
                "stale task: the watermark has moved on, nothing to do",
                extra={"since": wanted.since, "offset": wanted.offset, "watermark": [current.since, current.offset]},
            )
            return None
        return current

    def _window(self, start: Watermark) -> tuple[Snapshot, list[Change] | None]:
        """The frozen snapshot of the window (freezing it at offset 0), and its entries when held in memory.

        At offset 0 only a snapshot frozen at this very watermark (a retried first batch) is reused; one
        left by an earlier, unfinished window at the same since is replaced.
        """
        snapshot = self.store.read_snapshot(start.since)
        if snapshot is not None and start.offset != 0:
            return snapshot, None
        if snapshot is not None and snapshot.version == start.version:  # a rerun of the first batch, or approved
            entries = self.store.read_changes(snapshot, 0, snapshot.total)
            self._guard(entries, snapshot)
            self._guard_cohorts(entries, snapshot)
            return snapshot, entries
        if start.offset != 0:
            raise SyncError(
                f"the change list of window {start.since} is gone (expired?): "
                "reset the watermark's offset to 0 to start the window again"
            )
        if self.full:  # everyone: the retry list stays for the incremental run
            carried, frozen = [], full_window(self.bamboohr, self.moodle, self.settings)
        else:
            carried = self.store.read_retry_entries()
            frozen = with_retries(self.bamboohr.changed_since(start.since), carried)
        if not frozen.changes:  # nothing to freeze: the next run asks BambooHR again
            return Snapshot(start.since, frozen.latest, len(frozen.changes)), frozen.changes
        self.log("window frozen", extra={"since": start.since, "total": len(frozen.changes), "latest": frozen.latest})
        try:
            snapshot = self.store.save_snapshot(start, frozen, carried)
            entries = frozen.changes
        except FreezeLost:
            adopted = self.store.read_snapshot(start.since)
            if adopted is None:
                raise StaleBatch(f"window {start.since} was frozen and finished by another run") from None
            self.log("another task froze this window first; using its change list", extra={"since": start.since})
            snapshot, entries = adopted, self.store.read_changes(adopted, 0, adopted.total)
        self._guard(entries, snapshot)
        self._guard_cohorts(entries, snapshot)
        return snapshot, entries

    def _guard_cohorts(self, window: Sequence[Change], snapshot: Snapshot) -> None:
        """With ``[cohorts]``: the token's service must offer the cohort functions (else exit 2 naming them), and a
        window that would remove more owned memberships than ``MAX_COHORT_REMOVALS`` stops before it writes."""
        if not self.mapping.cohorts:
            return
        missing = missing_functions(self.moodle)
        if missing:
            raise ConfigError(
                f"the Moodle token's service lacks {', '.join(missing)}, which [cohorts] in MAPPING_FILE needs: "
                "add them to the service (Site administration > Server > Web services > External services)"
            )
        verdict = self.removals_verdict(window, snapshot)
        if verdict is not None and verdict.approved:
            self.log("an operator approved this window's cohort removals", extra={"since": snapshot.since})
        if verdict is not None and verdict.would_stop:
            message = removals_message(verdict.removals, snapshot.since, self.settings)
            self._record_stop(snapshot, message)
            raise CohortRemovalsBlocked(message)

    def removals_verdict(self, window: Sequence[Change], snapshot: Snapshot | None) -> RemovalsVerdict | None:
        """What the cohort guard says of a whole window (None without ``[cohorts]`` or when
        ``ALLOW_COHORT_REMOVALS`` lifts it); nothing is written."""
        if not self.mapping.cohorts or self.settings.allow_cohort_removals:
            return None
        removals = window_removals(window, self.bamboohr, self.moodle, self.mapping, self.eligibility)
        verdict = RemovalsVerdict(removals, self.settings.max_cohort_removals)
        if verdict.would_stop and snapshot is not None and self.store.is_approved(snapshot):
            return RemovalsVerdict(removals, verdict.limit, approved=True)
        return verdict

    def guard_verdict(self, window: Sequence[Change], snapshot: Snapshot | None) -> GuardVerdict | None:
        """What the guard says of a whole window (None when ``ALLOW_MASS_SUSPEND`` lifts it); nothing is written."""
        if self.settings.allow_mass_suspend:
            return None
        verdict = assess(window, self.bamboohr, self.moodle, self.settings, self.eligibility)
        if verdict.would_stop and snapshot is not None and self.store.is_approved(snapshot):
            return GuardVerdict(verdict.would_suspend, verdict.limit, verdict.managed_active, approved=True)
        return verdict

    def _guard(self, window: Sequence[Change], snapshot: Snapshot) -> None:
        """Stop a frozen window that would suspend too many active accounts, before anything is written."""
        verdict = self.guard_verdict(window, snapshot)
        if verdict is not None and verdict.approved:
            self.log("an operator approved this window's suspensions", extra={"since": snapshot.since})
        if verdict is not None and verdict.would_stop:
            message = stop_message(verdict, snapshot.since, self.settings)
            self._record_stop(snapshot, message)
            raise MassSuspensionBlocked(message)

    def _record_stop(self, snapshot: Snapshot, message: str) -> None:
        """Keep a guard stop's summary where the state machine's failure report reads it; failing that, the stop
        still stands (its exit code and the task log say the same)."""
        try:
            self.store.record_guard_stop(snapshot.since, message)
        except Exception as exc:  # the report is best effort; the stop is not
            self.log("could not record the guard stop for the failure report", extra={"detail": str(exc)})

    def _plan(self, batch: Sequence[Change]) -> Plan:
        return self.plan_slice(batch).plan

    def plan_slice(self, batch: Sequence[Change]) -> PlannedSlice:
        """Plan one slice of the window against what BambooHR and Moodle hold now; nothing is written."""
        present = [c.employee_id for c in batch if c.action != "Deleted"]
        employees = self.bamboohr.employees(present, self.mapping.source_fields) if present else {}
        desired = [d for e in employees.values() if not isinstance(d := self.mapping.desired_user(e), RecordFailure)]
        found = accounts_for(self.moodle, batch, desired)
        rules = self.eligibility()
        plan = plan_batch(batch, employees, AccountIndex(found), self.mapping, rules)
        if self.mapping.cohorts:
            members = batch_members(plan, employees, AccountIndex(found), self.mapping, rules)
            plan.memberships = cohort_plan_for(self.moodle, self.mapping, members)
        return PlannedSlice(plan, dict(employees), found)

    def write(self, plan: Plan) -> list[RecordFailure]:
        failures: list[RecordFailure] = []
        created: list[tuple[str, int]] = []
        if plan.creates:
            created, create_failures = self.moodle.create_users(
                [create_payload(u, self.settings.moodle_auth) for u in plan.creates]
            )
            failures += create_failures
        if plan.updates:
            by_user_id = {str(u.user_id): u.employee_id for u in plan.updates}
            for failure in self.moodle.update_users([u.payload() for u in plan.updates]):
                failures.append(RecordFailure(by_user_id.get(failure.employee_id, failure.employee_id), failure.reason))
        if self.mapping.cohorts:  # after the accounts: a new account's memberships need its id
            failures += write_memberships(self.moodle, plan.memberships, dict(created)).failures
        return failures


def _with_write_failures(plan: Plan, failures: Sequence[RecordFailure]) -> dict[str, int]:
    """The plan's counts, with each record Moodle refused moved from its planned outcome to ``failed``."""
    counts = plan.counts()
    for employee_id in dict.fromkeys(f.employee_id for f in failures):  # an account and a cohort failure: once
        counts[plan.outcome_of(employee_id)] -= 1
        counts["failed"] += 1
    return counts
