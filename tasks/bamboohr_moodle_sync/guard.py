"""The mass-suspension guard: how many active Moodle accounts a window would suspend, against a limit that
grows with the company: ``max(MAX_SUSPENSIONS, MAX_SUSPENSIONS_PERCENT % of the active accounts the sync
manages)``. A first load with its leavers passes; a feed that marks a tenth of the company inactive stops.
A leaver is whoever the planner suspends (``eligibility``): Inactive, Deleted, outside ``[scope]`` or past the
terminationDate.

The accounts the sync manages are the active Moodle accounts with an idnumber and the sync's ``MOODLE_AUTH``,
together with the window's active employees (who have, or are about to get, one). That count costs one
``core_user_get_users`` call, made only when the window exceeds ``MAX_SUSPENSIONS``. Accounts of another auth
are not counted, so the limit errs on the strict side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .bamboohr import BambooHRClient
from .config import Settings
from .eligibility import Eligibility
from .full_window import full_flag
from .models import Change
from .moodle import MoodleClient

STATUS_REPORT_CHUNK = 1_000  # employee ids per status report when the guard counts a window
SAMPLE = 10  # employee ids a guard stop names


@dataclass(frozen=True)
class GuardVerdict:
    would_suspend: list[str]
    """Employee ids whose active account the window would suspend, sorted."""
    limit: int
    managed_active: int | None = None
    """The base of the percentage; None when the window stayed within ``MAX_SUSPENSIONS`` (not counted)."""
    approved: bool = False

    @property
    def would_stop(self) -> bool:
        return len(self.would_suspend) > self.limit and not self.approved

    def as_dict(self) -> dict[str, object]:
        return {
            "would_stop": self.would_stop,
            "would_suspend": len(self.would_suspend),
            "limit": self.limit,
            "managed_active": self.managed_active,
            "approved": self.approved,
            "sample": self.would_suspend[:SAMPLE],
        }


def suspension_limit(fixed: int, percent: float, managed_active: int) -> int:
    return max(fixed, int(managed_active * percent // 100))


def assess(
    window: Sequence[Change],
    bamboohr: BambooHRClient,
    moodle: MoodleClient,
    settings: Settings,
    eligibility: Callable[[], Eligibility] = Eligibility,
) -> GuardVerdict:
    """Count the active accounts the whole window would suspend; nothing is written. ``eligibility`` gives the
    rules once BambooHR has answered (its clock may decide the day); the default is BambooHR's status alone."""
    fields = eligibility().fields
    deleted = [c.employee_id for c in window if c.action == "Deleted"]
    others = sorted({c.employee_id for c in window if c.action != "Deleted"})
    leaving, staying = set(deleted), set[str]()
    for index in range(0, len(others), STATUS_REPORT_CHUNK):
        statuses = bamboohr.employees(others[index : index + STATUS_REPORT_CHUNK], fields)
        rules = eligibility()
        for employee_id, employee in statuses.items():
            standing = rules.of(employee).standing
            if standing != "not_yet":
                (leaving if standing == "leaver" else staying).add(employee_id)
    active = [u for u in moodle.find_users("idnumber", sorted(leaving)) if not u.suspended] if leaving else []
    would_suspend = sorted({u.idnumber for u in active})
    if len(would_suspend) <= settings.max_suspensions:
        return GuardVerdict(would_suspend, settings.max_suspensions)
    managed = {u.idnumber for u in moodle.users_with_auth(settings.moodle_auth) if u.idnumber and not u.suspended}
    managed |= staying
    limit = suspension_limit(settings.max_suspensions, settings.max_suspensions_percent, len(managed))
    return GuardVerdict(would_suspend, limit, len(managed))


def stop_message(verdict: GuardVerdict, since: str, settings: Settings) -> str:
    """What a guard stop says: how many, a sample of ids, the limit's reason, and the exact command to approve."""
    stack = (f" --stack {settings.stack_name}" if settings.stack_name else "") + full_flag(settings)
    base = "" if verdict.managed_active is None else f" of {verdict.managed_active} active accounts the sync manages"
    sample = ", ".join(verdict.would_suspend[:SAMPLE]) + (", ..." if len(verdict.would_suspend) > SAMPLE else "")
    return (
        f"window {since} would suspend {len(verdict.would_suspend)} active Moodle accounts (employees {sample}), "
        f"more than the guard's limit of {verdict.limit} (MAX_SUSPENSIONS={settings.max_suspensions}, "
        f"MAX_SUSPENSIONS_PERCENT={settings.max_suspensions_percent:g} %{base}); nothing was changed. "
        f"If BambooHR is right: `bamboohr-moodle-sync preview{stack}` shows the window, "
        f"`bamboohr-moodle-sync approve{stack} --yes` lets exactly this window through "
        "(ALLOW_MASS_SUSPEND=1 lifts the guard for a task run by hand)"
    )
