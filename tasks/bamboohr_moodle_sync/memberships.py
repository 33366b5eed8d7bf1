"""Owned cohort memberships: what a batch's employees should be in, against what Moodle has. Pure.

A cohort rule (``[cohorts]``: a BambooHR field and a name template) owns the cohorts whose idnumber is
``bamboohr:<field>:<value>`` (``CohortRule.idnumber``). After a batch, each active employee of the batch is a
member of exactly the owned cohorts their current values map to: added where missing, removed from the owned
cohorts of the same rule they no longer map to; an empty value maps to none. A suspended account keeps its
owned memberships (``leavers = "keep"``) or loses them all (``"remove"``). Cohorts without the prefix, and
memberships of other cohorts, are never looked at. A needed cohort that does not exist is created; a cohort whose
name no longer matches its template is renamed; an owned cohort left without members is reported, never deleted
(deleting a cohort unenrols its cohort-sync enrolments).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .mapping import COHORT_PREFIX, CohortRule, Leavers
from .models import RecordFailure


@dataclass(frozen=True, slots=True)
class OwnedCohort:
    """A cohort on the site whose idnumber has the sync's prefix (``core_cohort_get_cohorts``)."""

    id: int
    idnumber: str
    name: str


@dataclass(frozen=True, slots=True)
class Member:
    """One employee of the batch as the membership plan sees them."""

    employee_id: str
    user_id: int | None
    """The Moodle account's id; None for an account the batch creates (known once it exists)."""
    active: bool
    values: Mapping[str, str]
    """Cohort rule (BambooHR field) -> trimmed value ("" for none)."""


@dataclass(frozen=True, slots=True)
class Change:
    employee_id: str
    user_id: int | None
    idnumber: str
    name: str
    cohort_id: int | None = None
    """The cohort's id (None for a cohort the batch creates)."""


@dataclass
class Written:
    """What a membership plan's writes did: the additions and removals made, and per-employee failures."""

    added: int = 0
    removed: int = 0
    failures: list[RecordFailure] = field(default_factory=list)


@dataclass
class MembershipPlan:
    create: list[tuple[str, str]] = field(default_factory=list)
    """Cohorts to create: (idnumber, name)."""
    rename: list[tuple[OwnedCohort, str]] = field(default_factory=list)
    """Owned cohorts whose name no longer follows the template: (cohort, new name)."""
    add: list[Change] = field(default_factory=list)
    remove: list[Change] = field(default_factory=list)
    emptied: list[str] = field(default_factory=list)
    """Idnumbers of owned cohorts that have no member left after this plan (kept, reported)."""
    written: Written | None = None
    """What the writes did, once done (``cohorts.write_plan``)."""
    cohorts_read: bool = True
    """False when the owned cohorts were not read (every account of the batch is new, so none can be a member
    yet): the additions name their cohorts by idnumber, and ``create`` lists every cohort they need, to be
    created only where Moodle answers that one is missing (``cohorts.write_plan``)."""

    @property
    def added(self) -> int:
        return self.written.added if self.written is not None else len(self.add)

    @property
    def removed(self) -> int:
        return self.written.removed if self.written is not None else len(self.remove)

    def by_employee(self) -> dict[str, dict[str, list[str]]]:
        """Employee id -> {"added": [cohort names], "removed": [cohort names]}, for preview and the log."""
        out: dict[str, dict[str, list[str]]] = {}
        for kind, changes in (("added", self.add), ("removed", self.remove)):
            for change in changes:
                out.setdefault(change.employee_id, {"added": [], "removed": []})[kind].append(change.name)
        return out

    def removed_from(self) -> dict[str, int]:
        """Cohort name -> removals planned from it."""
        counts: dict[str, int] = {}
        for change in self.remove:
            counts[change.name] = counts.get(change.name, 0) + 1
        return counts


def owned(cohorts: Iterable[OwnedCohort], rules: Sequence[CohortRule]) -> dict[str, OwnedCohort]:
    """The cohorts a rule owns, by idnumber (a prefixed cohort of no configured rule is left alone). Of two cohorts
    sharing an idnumber (``core_cohort_update_cohorts`` does not check), the lower id, as an addition by idnumber
    picks."""
    found: dict[str, OwnedCohort] = {}
    for cohort in sorted(cohorts, key=lambda c: c.id):
        if cohort.idnumber.startswith(COHORT_PREFIX) and _rule_of(cohort.idnumber, rules):
            found.setdefault(cohort.idnumber, cohort)
    return found


def plan_memberships(
    members: Sequence[Member],
    rules: Sequence[CohortRule],
    leavers: Leavers,
    cohorts: Mapping[str, OwnedCohort],
    current: Mapping[int, set[int]],
) -> MembershipPlan:
    """The additions, removals, creations and renames that make ``members`` match their values.

    ``cohorts`` are the owned cohorts by idnumber; ``current`` is cohort id -> member user ids of each of them.
    """
    plan = MembershipPlan()
    by_id = {c.id: c for c in cohorts.values()}
    holds: dict[int, set[int]] = {}
    for cohort_id, user_ids in current.items():
        for user_id in user_ids:
            holds.setdefault(user_id, set()).add(cohort_id)
    to_create: dict[str, str] = {}
    names: dict[str, str] = {}
    for member in members:
        held = holds.get(member.user_id, set()) if member.user_id is not None else set()
        if not member.active:
            if leavers == "remove":
                for cohort_id in sorted(held & by_id.keys()):
                    cohort = by_id[cohort_id]
                    plan.remove.append(
                        Change(member.employee_id, member.user_id, cohort.idnumber, cohort.name, cohort_id)
                    )
            continue
        wanted: set[str] = set()
        for rule in rules:
            value = member.values.get(rule.field, "")
            if not value:
                continue
            idnumber = rule.idnumber(value)
            wanted.add(idnumber)
            names[idnumber] = rule.name(value)
            existing = cohorts.get(idnumber)
            if existing is None:
                to_create.setdefault(idnumber, rule.name(value))
                plan.add.append(Change(member.employee_id, member.user_id, idnumber, names[idnumber]))
            elif existing.id not in held:
                plan.add.append(Change(member.employee_id, member.user_id, idnumber, names[idnumber], existing.id))
        for cohort_id in sorted(held & by_id.keys()):
            old = by_id[cohort_id]
            if old.idnumber not in wanted:
                plan.remove.append(Change(member.employee_id, member.user_id, old.idnumber, old.name, cohort_id))
    plan.create = sorted(to_create.items())
    plan.rename = [(cohorts[i], name) for i, name in sorted(names.items()) if i in cohorts and cohorts[i].name != name]
    after = {c.id: set(current.get(c.id, set())) for c in cohorts.values()}
    for change in plan.remove:
        if change.cohort_id is not None and change.user_id is not None:
            after[change.cohort_id].discard(change.user_id)
    added_to = {c.cohort_id for c in plan.add}
    plan.emptied = sorted(
        by_id[i].idnumber for i, users in after.items() if i in current and not users and i not in added_to
    )
    return plan


def _rule_of(idnumber: str, rules: Sequence[CohortRule]) -> CohortRule | None:
    return next((rule for rule in rules if rule.owns(idnumber)), None)
