"""The domain's value types, shared by the clients, the pure core and the state store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

ChangeAction = Literal["Inserted", "Updated", "Deleted", "Retry"]
"""BambooHR's change actions, plus ``Retry``: an employee carried over from an earlier window's failures."""

Employee = Mapping[str, "str | None"]
"""One employee's BambooHR field values by field name (``id`` always present)."""


def utc_timestamp(value: str, *, naive_is_utc: bool = False) -> str:
    """ISO-8601 with any offset (``Z``, ``+hh:mm``, ``+hhmm``) -> ``YYYY-MM-DDTHH:MM:SSZ`` in UTC.

    The one form the state table and the snapshot hold: it sorts lexically in time order. A value
    without an offset is UTC when ``naive_is_utc``, else a ``ValueError``, as is anything unreadable.
    """
    text = value.strip()
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and text[-6] != ":":
        text = f"{text[:-2]}:{text[-2:]}"  # +hhmm -> +hh:mm
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        if not naive_is_utc:
            raise ValueError(f"{value!r} has no UTC offset; write it like 2026-01-01T00:00:00Z")
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


"""One employee's BambooHR field values by field name (``id`` always present)."""


@dataclass(frozen=True, slots=True, order=True)
class Change:
    """One entry of BambooHR's change list. Ordering is ``(last_changed, employee_id)``, the snapshot order."""

    last_changed: str
    employee_id: str
    action: ChangeAction


SETTLE_S = 120
"""How far BambooHR's clock must be past ``latest`` before that second counts as settled: longer than a
request may take (connect and read timeouts, 70 s) plus clock skew between BambooHR's servers."""


@dataclass(frozen=True, slots=True)
class ChangeList:
    """Who changed since a point in time; ``latest`` is the greatest ``lastChanged`` (None when empty);
    ``read_at`` is BambooHR's clock when it answered (its ``Date`` header, UTC), None when unknown."""

    latest: str | None
    changes: list[Change]
    read_at: str | None = None

    def next_since(self) -> str | None:
        """Where the next window starts: one second past ``latest`` once the list was read ``SETTLE_S`` after
        it, else ``latest`` itself.

        ``lastChanged`` has whole seconds and ``since`` may be inclusive, so starting at ``latest`` lists that
        second's employees again (harmless, but a drained window would never be empty). Once BambooHR's own
        clock was well past that second when it answered, every later change has a later ``lastChanged``.
        """
        if self.latest is None or self.read_at is None:
            return self.latest
        latest = datetime.fromisoformat(self.latest)
        if datetime.fromisoformat(self.read_at) - latest < timedelta(seconds=SETTLE_S):
            return self.latest
        return (latest + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class MoodleUser:
    """A Moodle account as ``core_user_get_users_by_field`` describes it."""

    id: int
    username: str
    suspended: bool
    auth: str
    fields: Mapping[str, str] = field(default_factory=dict)
    """Profile fields by Moodle name (email, firstname, lastname, idnumber, department, institution, ...)."""

    @property
    def idnumber(self) -> str:
        return self.fields.get("idnumber", "")

    @property
    def email(self) -> str:
        return self.fields.get("email", "")


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """A record the batch could not sync; it is counted, logged and retried next window.

    ``reason`` names fields, employee ids and Moodle user ids, never a person's data; the values behind it
    (an e-mail address, Moodle's debuginfo) go in ``personal``, logged only with ``LOG_PERSONAL_DATA=1``.
    """

    employee_id: str
    reason: str
    personal: str = ""


def with_retries(changed: ChangeList, carried: Sequence[Change]) -> ChangeList:
    """The change list plus earlier failures not already in it, in snapshot order; its ``latest`` is where the
    next window starts (``ChangeList.next_since``)."""
    listed = {c.employee_id for c in changed.changes}
    extra = {c.employee_id: c for c in carried if c.employee_id not in listed}
    return ChangeList(changed.next_since(), sorted(changed.changes + list(extra.values())))
