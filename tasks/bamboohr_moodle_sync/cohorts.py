"""Moodle's cohort functions as the sync uses them: read the owned cohorts and their members, then write a
``MembershipPlan`` (``memberships``) in chunks under ``max_input_vars``.

Calls (docs/moodle.md, from the shared reference's real Moodle 4.5):

    core_cohort_get_cohorts          every cohort on the site (no ids): one call a batch that has accounts
                                     which existed before it (none when every account is new)
    core_cohort_get_cohort_members   the owned cohorts' members, only when the batch has existing accounts
    core_cohort_create_cohorts       the cohorts a batch needs first (a duplicate idnumber fails the whole call)
    core_cohort_update_cohorts       names kept in step with the template (by batches that read the cohorts)
    core_cohort_add_cohort_members   by cohort id (by idnumber when the cohorts were not read) and user id,
                                     4 variables a member (249 a call at 1,000); per-member warnings: "2"
                                     missing user or cohort, "3" already a member
    core_cohort_delete_cohort_members  by cohort id and user id; one missing user or cohort rolls the call back

A write whose answer is lost fails the batch (``WriteUnconfirmed``): its rerun reads cohorts and members again
and plans only what is still missing, so nothing is resent blindly. ``REQUIRED_FUNCTIONS`` must be in the token's
service when cohorts are configured (``missing_functions``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .bamboohr import BambooHRClient
from .eligibility import Eligibility
from .errors import ServiceRejected
from .full_window import full_flag
from .mapping import FieldMapping
from .memberships import Change, Member, MembershipPlan, OwnedCohort, Written, owned, plan_memberships
from .models import Change as WindowEntry
from .models import Employee, RecordFailure

if TYPE_CHECKING:
    from .config import Settings
from .moodle import MoodleClient, MoodleError

log = logging.getLogger(__name__)

REQUIRED_FUNCTIONS = (
    "core_cohort_get_cohorts",
    "core_cohort_get_cohort_members",
    "core_cohort_create_cohorts",
    "core_cohort_update_cohorts",
    "core_cohort_add_cohort_members",
    "core_cohort_delete_cohort_members",
)
SYSTEM = {"type": "system", "value": ""}
REPORT_CHUNK = 1_000  # employees per BambooHR report when the guard plans a whole window
SHOWN_COHORTS = 5  # cohorts a guard stop names
ALREADY_MEMBER = "3"
MISSING_RECORD = frozenset({"invaliduser", "invalidrecord"})


def missing_functions(moodle: MoodleClient) -> list[str]:
    """The cohort functions the token's service lacks (``core_webservice_get_site_info``'s ``functions``)."""
    offered = {str(f.get("name")) for f in moodle.site_info().get("functions", []) if isinstance(f, dict)}
    return [name for name in REQUIRED_FUNCTIONS if name not in offered]


def cohorts_on_site(moodle: MoodleClient) -> list[OwnedCohort]:
    """Every cohort on the site, as ``OwnedCohort`` values (the caller keeps the owned ones)."""
    answer = moodle.call("core_cohort_get_cohorts", {})
    if not isinstance(answer, list):
        raise ServiceRejected("Moodle", "core_cohort_get_cohorts did not answer a list")
    return [
        OwnedCohort(int(c["id"]), str(c.get("idnumber") or ""), str(c.get("name") or ""))
        for c in answer
        if isinstance(c, dict)
    ]


def members_of(moodle: MoodleClient, cohort_ids: Sequence[int]) -> dict[int, set[int]]:
    """Cohort id -> member user ids (suspended users included)."""
    members: dict[int, set[int]] = {}
    for chunk in moodle.fitting(sorted(set(cohort_ids))):
        answer = moodle.call("core_cohort_get_cohort_members", {"cohortids": chunk})
        if not isinstance(answer, list):
            raise ServiceRejected("Moodle", "core_cohort_get_cohort_members did not answer a list")
        for entry in answer:
            if isinstance(entry, dict):
                members[int(entry["cohortid"])] = {int(u) for u in entry.get("userids") or []}
    return members


def plan_for(moodle: MoodleClient, mapping: FieldMapping, members: Sequence[Member]) -> MembershipPlan:
    """Read the owned cohorts (and their members, when any of ``members`` has an account) and plan. When every
    account is new (a batch of a first load), nothing is read: none can be a member of anything yet, so the plan
    only adds, naming cohorts by idnumber (``MembershipPlan.cohorts_read``)."""
    if not any(m.user_id is not None for m in members):
        plan = plan_memberships(members, mapping.cohorts, mapping.leavers, {}, {})
        plan.cohorts_read = False
        return plan
    cohorts = owned(cohorts_on_site(moodle), mapping.cohorts)
    current = members_of(moodle, [c.id for c in cohorts.values()]) if cohorts else {}
    return plan_memberships(members, mapping.cohorts, mapping.leavers, cohorts, current)


def window_removals(
    window: Sequence[WindowEntry],
    bamboohr: BambooHRClient,
    moodle: MoodleClient,
    mapping: FieldMapping,
    eligibility: Callable[[], Eligibility] | None = None,
) -> MembershipPlan:
    """The owned memberships a whole window would remove, planned from BambooHR and Moodle now (the guard).

    One call when the site has no owned cohort yet (a first load); else a status and values report per
    ``REPORT_CHUNK`` employees, their accounts by idnumber and the owned cohorts' members.
    """
    cohorts = owned(cohorts_on_site(moodle), mapping.cohorts)
    if not cohorts:
        return MembershipPlan()
    deleted = {c.employee_id for c in window if c.action == "Deleted"}
    present = [c.employee_id for c in window if c.action != "Deleted"]
    rules_now = eligibility or (lambda: Eligibility(mapping.scope))
    fields = sorted({*rules_now().fields, *(rule.field for rule in mapping.cohorts)})
    employees: dict[str, Employee] = {}
    for index in range(0, len(present), REPORT_CHUNK):
        employees.update(bamboohr.employees(present[index : index + REPORT_CHUNK], fields))
    rules = rules_now()  # after BambooHR's answers: its clock may decide the day
    accounts: dict[str, int] = {}
    for user in moodle.find_users("idnumber", sorted(deleted | set(employees))):
        accounts.setdefault(user.idnumber, user.id)
    members = []
    for employee_id, user_id in sorted(accounts.items()):
        employee = employees.get(employee_id)
        standing = rules.of(employee).standing if employee is not None else "leaver"
        if standing == "not_yet":
            continue  # a future hire's account is left as it is
        values = mapping.cohort_values(employee) if standing == "active" and employee is not None else {}
        members.append(Member(employee_id, user_id, standing == "active", values))
    current = members_of(moodle, [c.id for c in cohorts.values()])
    return plan_memberships(members, mapping.cohorts, mapping.leavers, cohorts, current)


@dataclass(frozen=True)
class RemovalsVerdict:
    """What the cohort guard says of a whole window: its planned removals against ``MAX_COHORT_REMOVALS``."""

    removals: MembershipPlan
    limit: int
    approved: bool = False

    @property
    def would_stop(self) -> bool:
        return len(self.removals.remove) > self.limit and not self.approved

    def as_dict(self) -> dict[str, object]:
        return {
            "would_stop": self.would_stop,
            "would_remove": len(self.removals.remove),
            "limit": self.limit,
            "approved": self.approved,
            "from": self.removals.removed_from(),
        }


def removals_message(plan: MembershipPlan, since: str, settings: Settings) -> str:
    """The guard's stop: how many, from which cohorts, how to proceed (the exact commands, as the suspension guard)."""
    stack = (f" --stack {settings.stack_name}" if settings.stack_name else "") + full_flag(settings)
    limit = settings.max_cohort_removals
    by_cohort = sorted(plan.removed_from().items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{name!r} {count}" for name, count in by_cohort[:SHOWN_COHORTS])
    more = f" and {len(by_cohort) - SHOWN_COHORTS} more cohorts" if len(by_cohort) > SHOWN_COHORTS else ""
    return (
        f"window {since} would remove {len(plan.remove)} members from owned cohorts, more than "
        f"MAX_COHORT_REMOVALS={limit} (from {shown}{more}); nothing was changed. With cohort sync's default "
        "action each removal unenrols the user. If BambooHR is right (a department renamed moves everyone in it): "
        f"`bamboohr-moodle-sync preview{stack}` shows who moves, `bamboohr-moodle-sync approve{stack} --yes` lets "
        "exactly this window through (ALLOW_COHORT_REMOVALS=1 lifts the guard for a task run by hand)"
    )


def write_plan(moodle: MoodleClient, plan: MembershipPlan, created: dict[str, int]) -> Written:
    """Create and rename cohorts, add then remove members. ``created``: employee id -> id of an account the batch
    just created (additions for accounts that were not created are dropped: their failure is counted already).

    A plan made without reading the cohorts adds by cohort idnumber first; Moodle answers "cohort idnumber=...
    not exists" for each addition to a cohort that does not exist (and adds nothing for it), so exactly those
    cohorts are created and exactly those additions sent again, by id.
    """
    written = Written()
    ids = {c.idnumber: c.cohort_id for c in plan.add + plan.remove if c.cohort_id is not None}
    if plan.create and plan.cohorts_read:
        ids |= _create(moodle, plan.create)
    if plan.rename:
        _rename(moodle, plan.rename)
    additions = []
    for change in plan.add:
        user_id = change.user_id if change.user_id is not None else created.get(change.employee_id)
        cohort_id = ids.get(change.idnumber)
        if user_id is not None and (cohort_id is not None or not plan.cohorts_read):
            additions.append((change, _member(change, cohort_id, user_id)))
    missing = _add(moodle, additions, written)
    if missing:
        ids |= _create(moodle, [(i, name) for i, name in plan.create if i in {c.idnumber for c in missing}])
        again = [(c, _member(c, ids[c.idnumber], user_id)) for c, user_id in missing.items() if c.idnumber in ids]
        _add(moodle, again, written)
    removals = [(c, {"cohortid": c.cohort_id, "userid": c.user_id}) for c in plan.remove]
    _remove(moodle, removals, written)
    plan.written = written
    if plan.emptied:
        log.warning(
            "%d owned cohorts have no member left (kept, never deleted): %s", len(plan.emptied), ", ".join(plan.emptied)
        )
    return written


def _create(moodle: MoodleClient, cohorts: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Idnumber -> id of each cohort created; one another run created meanwhile is read back instead."""
    records = [{"categorytype": SYSTEM, "name": name, "idnumber": idnumber} for idnumber, name in cohorts]
    ids: dict[str, int] = {}
    for chunk in moodle.fitting(records):
        try:
            answer = moodle.call("core_cohort_create_cohorts", {"cohorts": chunk})
        except MoodleError as exc:
            if exc.errorcode != "invalidparameter":
                raise
            # A duplicate idnumber fails the whole call: another run made one first. Read, then create the rest.
            existing = {c.idnumber: c.id for c in cohorts_on_site(moodle)}
            rest = [r for r in chunk if r["idnumber"] not in existing]
            ids |= {str(r["idnumber"]): existing[str(r["idnumber"])] for r in chunk if r["idnumber"] in existing}
            answer = moodle.call("core_cohort_create_cohorts", {"cohorts": rest}) if rest else []
        ids |= {str(c["idnumber"]): int(c["id"]) for c in answer if isinstance(c, dict)}
    log.info("created %d owned cohorts", len(cohorts))
    return ids


def _rename(moodle: MoodleClient, renames: Sequence[tuple[OwnedCohort, str]]) -> None:
    records = [{"id": c.id, "categorytype": SYSTEM, "name": name, "idnumber": c.idnumber} for c, name in renames]
    for chunk in moodle.fitting(records):
        moodle.call("core_cohort_update_cohorts", {"cohorts": chunk})
    log.info("renamed %d owned cohorts after their template", len(renames))


def _paired(
    moodle: MoodleClient, pairs: Sequence[tuple[Change, dict[str, Any]]]
) -> Iterator[tuple[list[Change], list[Any]]]:
    """The records of ``pairs`` in chunks that fit one call, each with its changes (same order)."""
    position = 0
    for chunk in moodle.fitting([record for _, record in pairs]):
        yield [change for change, _ in pairs[position : position + len(chunk)]], chunk
        position += len(chunk)


def _member(change: Change, cohort_id: int | None, user_id: int) -> dict[str, Any]:
    """One ``members[]`` record: the cohort by id, or by idnumber when its id is not known."""
    cohort = (
        {"type": "id", "value": cohort_id} if cohort_id is not None else {"type": "idnumber", "value": change.idnumber}
    )
    return {"cohorttype": cohort, "usertype": {"type": "id", "value": user_id}}


def _add(
    moodle: MoodleClient, additions: Sequence[tuple[Change, dict[str, Any]]], written: Written
) -> dict[Change, int]:
    """Send the additions; answer those that name by idnumber a cohort Moodle does not have (-> their user id)."""
    missing: dict[Change, int] = {}
    for changes, chunk in _paired(moodle, additions):
        answer = moodle.call("core_cohort_add_cohort_members", {"members": chunk})
        warnings = [
            w for w in (answer.get("warnings") or [] if isinstance(answer, dict) else []) if isinstance(w, dict)
        ]
        written.added += len(chunk) - len(warnings)
        texts = {str(w.get("message", "")) for w in warnings}
        by_user: dict[str, str] = {}
        for change, member in zip(changes, chunk, strict=True):
            user_id = int(member["usertype"]["value"])
            by_user[f"user id={user_id} not exists"] = change.employee_id
            if member["cohorttype"]["type"] == "idnumber" and f"cohort idnumber={change.idnumber} not exists" in texts:
                missing[change] = user_id
        no_cohort = {f"cohort idnumber={change.idnumber} not exists" for change in missing}
        for warning in warnings:
            code, text = str(warning.get("warningcode")), str(warning.get("message", ""))
            if code == ALREADY_MEMBER:  # added meanwhile (a rerun after a lost answer): nothing to do
                continue
            if text in no_cohort:  # the caller creates that cohort and sends these additions again
                continue
            employee_id = by_user.get(text)
            if employee_id is None:
                log.warning("a cohort member was not added: warning %s: %s", code, text)
                continue
            written.failures.append(RecordFailure(employee_id, f"cohort member not added: warning {code}: {text}"))
    return missing


def _remove(moodle: MoodleClient, removals: Sequence[tuple[Change, dict[str, Any]]], written: Written) -> None:
    for changes, chunk in _paired(moodle, removals):
        _remove_chunk(moodle, chunk, changes, written)


def _remove_chunk(moodle: MoodleClient, chunk: list[Any], changes: list[Change], written: Written) -> None:
    """One removal call; a user or cohort gone since the lookup rolls it back, so halve until it is alone."""
    try:
        moodle.call("core_cohort_delete_cohort_members", {"members": chunk})
    except MoodleError as exc:
        if exc.errorcode not in MISSING_RECORD:
            raise
        if len(chunk) == 1:
            written.failures.append(RecordFailure(changes[0].employee_id, f"cohort member not removed: {exc.reason}"))
            return
        middle = len(chunk) // 2
        _remove_chunk(moodle, chunk[:middle], changes[:middle], written)
        _remove_chunk(moodle, chunk[middle:], changes[middle:], written)
        return
    written.removed += len(chunk)
