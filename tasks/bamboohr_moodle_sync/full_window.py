"""The window of a full reconciliation (``SYNC_MODE=full``): everyone BambooHR has, and every account it lost.

BambooHR's change list since ``INITIAL_SINCE`` names every employee it has, active, inactive and deleted
(``Deleted``). To it come the accounts the sync manages (Moodle ``auth`` = ``MOODLE_AUTH``, as the suspension
guard counts them) that are active and carry an idnumber BambooHR does not list at all: an employee deleted
before any window saw it, or an account given an employee id by hand. Each is a ``Deleted`` entry, so the plan
suspends it, counted and guarded like every suspension. The accounts come in one ``core_user_get_users`` call
(criterion ``auth``, an exact match in Moodle's source; ``idnumber`` is exact too, so no criterion lists "any
idnumber"): no request per account.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .models import Change, ChangeList, RecordFailure

if TYPE_CHECKING:
    from .bamboohr import BambooHRClient
    from .config import Settings
    from .moodle import MoodleClient
    from .plan import Plan


def full_window(bamboohr: BambooHRClient, moodle: MoodleClient, settings: Settings) -> ChangeList:
    """Every employee since ``INITIAL_SINCE`` plus a ``Deleted`` entry per active managed account whose idnumber
    BambooHR does not list, in snapshot order ((lastChanged, id): those accounts, with no lastChanged, first)."""
    listed = bamboohr.changed_since(settings.initial_since)
    known = {change.employee_id for change in listed.changes}
    orphans = {
        user.idnumber
        for user in moodle.users_with_auth(settings.moodle_auth)
        if user.idnumber and not user.suspended and user.idnumber not in known
    }
    gone = [Change("", idnumber, "Deleted") for idnumber in orphans]
    return ChangeList(listed.latest, sorted(listed.changes + gone), listed.read_at)


SAMPLE_IDS = 10
"""Employee ids a batch keeps per kind of drift it corrected, for the full run's report (ids only, no names)."""


def drift_samples(plan: Plan, failures: Iterable[RecordFailure]) -> dict[str, list[str]]:
    """Kind of correction (``created``, ``updated``, ``suspended``, ``reactivated``, ``cohorts``) -> up to
    ``SAMPLE_IDS`` employee ids the batch corrected so, those that failed left out."""
    failed = {failure.employee_id for failure in failures}
    kinds: dict[str, list[str]] = {}
    for user in plan.creates:
        kinds.setdefault("created", []).append(user.employee_id)
    for update in plan.updates:
        kinds.setdefault(update.kind, []).append(update.employee_id)
    kinds["cohorts"] = list(plan.memberships.by_employee())
    samples = {kind: sorted(set(ids) - failed)[:SAMPLE_IDS] for kind, ids in kinds.items()}
    return {kind: ids for kind, ids in samples.items() if ids}


def full_flag(settings: Settings) -> str:
    """`` --full`` in a full run's operator commands (``preview``, ``approve``): they then read its own window."""
    return " --full" if settings.sync_mode == "full" else ""
