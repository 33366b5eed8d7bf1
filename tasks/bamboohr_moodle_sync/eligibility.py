"""Who should have an account today: BambooHR's status, the mapping's ``[scope]`` and the start and end dates. Pure.

Rules, first match wins (``Eligibility.of``):

    outside [scope]                            -> leaver: no account; an active synced account is suspended
    terminationDate before today               -> leaver, even while BambooHR still says Active
    hireDate ahead (or today), PROVISION_DAYS_BEFORE_START = N set:
        more than N days ahead                 -> not yet: no account; an existing account is left as it is
        N days ahead or less                   -> active, even while BambooHR says Inactive (BambooHR keeps
                                                  future hires Inactive until their start), unless
                                                  a terminationDate before the hireDate is recorded
    otherwise                                  -> status: Inactive leaves, anything else is active

``today`` is the calendar date in ``SYNC_TIMEZONE`` (``today_in``), an input: the planner never reads a clock.
A termination date is the employee's last day: the account stays on it and is suspended from the next day
(BambooHR documents no time of day for it; the lenient reading never cuts a last day short). A terminationDate
before the hireDate belongs to an earlier employment (a rehire; BambooHR does not document whether a rehire
clears it) or to a hire withdrawn before its start: it ends nothing, and an Inactive future hire carrying one
waits for BambooHR's status instead of being provisioned early. BambooHR's empty dates
(``0000-00-00``, "", none) and an unreadable date mean no date. An already-synced future hire is not suspended:
"not yet" only holds back the creation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from .models import Employee

Standing = Literal["active", "leaver", "not_yet"]
DATE_FIELDS = ("hireDate", "terminationDate")
"""Fields the date rules read; every report asks for them (a terminated employee may still be Active)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    standing: Standing
    reason: str = ""
    """Why, when not BambooHR's status alone (no personal data): "out of scope: ...", a due date."""


@dataclass(frozen=True)
class Scope:
    """``[scope]``: BambooHR field -> values. ``include``: only employees with one of its values in any of its
    fields; ``exclude``: never employees with one of its values. Values compare exactly after trimming."""

    include: Mapping[str, frozenset[str]] = field(default_factory=dict)
    exclude: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def fields(self) -> set[str]:
        return {*self.include, *self.exclude}

    def outside(self, employee: Employee) -> str | None:
        """Why ``employee`` is outside the scope (field names and the mapping's own values only), or None."""
        for name, values in self.exclude.items():
            value = _trimmed(employee, name)
            if value in values:
                return f"{name} {value!r} is excluded"
        if self.include and not any(_trimmed(employee, name) in values for name, values in self.include.items()):
            return f"{' or '.join(self.include)} has none of the included values"
        return None


@dataclass(frozen=True)
class Eligibility:
    """The rules and the day they are judged on. ``today`` None: status and scope only (no date rules)."""

    scope: Scope = field(default_factory=Scope)
    today: date | None = None
    provision_days: int | None = None
    """``PROVISION_DAYS_BEFORE_START``; None: a future hire waits for BambooHR's status, as without dates."""

    @property
    def fields(self) -> list[str]:
        """The BambooHR fields ``of`` reads."""
        return sorted({"status", *DATE_FIELDS, *self.scope.fields})

    def of(self, employee: Employee) -> Verdict:
        outside = self.scope.outside(employee)
        if outside is not None:
            return Verdict("leaver", f"out of scope: {outside}")
        by_status = Verdict("leaver" if employee.get("status") == "Inactive" else "active")
        if self.today is None:
            return by_status
        hired, ended = read_date(employee.get("hireDate")), read_date(employee.get("terminationDate"))
        earlier = ended is not None and hired is not None and ended < hired
        if ended is not None and not earlier and ended < self.today:
            return Verdict("leaver", "terminationDate has passed")
        if self.provision_days is None or hired is None or hired < self.today:
            return by_status
        due = hired - timedelta(days=self.provision_days)
        if self.today < due:
            return Verdict("not_yet", f"starts on {hired}: account due on {due} (PROVISION_DAYS_BEFORE_START)")
        if earlier and by_status.standing == "leaver":
            return by_status  # a rehire's old date, or a hire withdrawn before its start: BambooHR's status decides
        return Verdict("active")


def read_date(value: str | None) -> date | None:
    """A BambooHR ``YYYY-MM-DD``; None for its empty forms and anything unreadable."""
    text = (value or "").strip()
    if len(text) != 10 or text == "0000-00-00":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def today_in(moment: datetime, timezone: str) -> date:
    """The calendar date ``moment`` (aware) falls on in the IANA ``timezone``."""
    return moment.astimezone(ZoneInfo(timezone)).date()


def _trimmed(employee: Employee, name: str) -> str:
    return (employee.get(name) or "").strip()
