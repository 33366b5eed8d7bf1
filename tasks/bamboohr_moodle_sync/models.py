"""The domain's value types, shared by the clients, the pure core and the state store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
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


@dataclass(frozen=True, slots=True)
class ChangeList:
    """Who changed since a point in time; ``latest`` is the greatest ``lastChanged`` (None when empty)."""

    latest: str | None
    changes: list[Change]


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
    """A record the batch could not sync; it is counted, logged and retried next window."""

    employee_id: str
    reason: str
