"""Decide what one batch does to Moodle. Pure: the same inputs always give the same ``Plan``.

For each change-list entry, in order, the employee's account is found by ``idnumber`` (the BambooHR id),
else adopted by username, else by e-mail (an account made by hand before the first run gets its idnumber
set, never a twin). Then:

    BambooHR says            Moodle has                 -> outcome
    Active                   nothing                    -> create
    Active                   a suspended account        -> reactivate (and update fields)
    Active                   an active account          -> update the fields that differ, or unchanged
    Inactive, or Deleted     an active account          -> suspend
    Inactive, or Deleted     a suspended account, none  -> unchanged / skipped (no account for leavers)

"Active" and "Inactive" are the employee's standing (``eligibility``): outside ``[scope]`` or past the
terminationDate is Inactive whatever BambooHR's status (skipped with that reason when there is no account),
a due future hire is Active, and a future hire not yet due is skipped (no account) or left unchanged (an
existing account, never suspended for it).

A record that cannot be synced (no valid e-mail, a username or e-mail held by another employee's
account or claimed earlier in the batch) becomes a ``RecordFailure``; the rest of the batch goes on. Its
reason names the field and the employee or Moodle user that holds the value, never the value itself.
E-mail addresses are compared ignoring case, as Moodle's uniqueness check does.

Custom profile fields (``[profile_fields]``) take part in the no-op check like any other field, against the raw
values Moodle returns (left out when empty); a date-only field is compared as a calendar date (``same_date``).
A value the mapping left out of ``DesiredUser.profile`` (an unreadable date, a menu value that is not an option)
is neither compared nor sent: Moodle keeps what it holds, and the record's warning goes in ``Plan.warnings``.
Cohort memberships are planned after the accounts (``memberships``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal

from .eligibility import Eligibility
from .mapping import DesiredUser, FieldMapping, ProfileField
from .memberships import Member, MembershipPlan
from .models import Change, Employee, MoodleUser, RecordFailure

UpdateKind = Literal["updated", "suspended", "reactivated"]
COUNTERS = (
    "created",
    "updated",
    "suspended",
    "reactivated",
    "unchanged",
    "skipped",
    "failed",
    "cohort_added",
    "cohort_removed",
)


@dataclass(frozen=True, slots=True)
class Update:
    employee_id: str
    user_id: int
    kind: UpdateKind
    changes: Mapping[str, str | int]
    profile: Mapping[str, str] = field(default_factory=dict)
    """Custom profile fields to set: shortname -> value ("" clears)."""
    before: Mapping[str, str] = field(default_factory=dict)
    """What Moodle held for each changed field and profile field (``profile_field_<shortname>``)."""

    def payload(self) -> dict[str, object]:
        payload: dict[str, object] = {"id": self.user_id, **self.changes}
        if self.profile:
            payload["customfields"] = customfields(self.profile)
        return payload


@dataclass
class Plan:
    creates: list[DesiredUser] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failures: list[RecordFailure] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    """(employee id, reason) of values left alone in an otherwise synced record."""
    memberships: MembershipPlan = field(default_factory=MembershipPlan)
    """Owned cohort changes (``cohorts.plan_for``), empty without ``[cohorts]``."""

    @property
    def suspensions(self) -> int:
        return sum(1 for u in self.updates if u.kind == "suspended")

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(COUNTERS, 0)
        counts["created"] = len(self.creates)
        for update in self.updates:
            counts[update.kind] += 1
        counts["unchanged"] = len(self.unchanged)
        counts["skipped"] = len(self.skipped)
        counts["failed"] = len(self.failures)
        counts["cohort_added"] = self.memberships.added
        counts["cohort_removed"] = self.memberships.removed
        return counts

    def outcome_of(self, employee_id: str) -> str:
        """The account counter this employee counts in: an update's kind, unchanged, or created."""
        kinds = {u.employee_id: u.kind for u in self.updates}
        return kinds.get(employee_id) or ("unchanged" if employee_id in self.unchanged else "created")


def create_payload(user: DesiredUser, auth: str) -> dict[str, object]:
    """A ``core_user_create_users`` record; Moodle mails a password for ``manual`` accounts."""
    payload: dict[str, object] = {**user.fields, "auth": auth}
    if auth == "manual":
        payload["createpassword"] = 1
    profile = {name: value for name, value in user.profile.items() if value}
    if profile:
        payload["customfields"] = customfields(profile)
    return payload


def customfields(profile: Mapping[str, str]) -> list[dict[str, str]]:
    """``customfields`` of a create or update: ``[{type: shortname, value}]`` (2 form variables each)."""
    return [{"type": name, "value": value} for name, value in profile.items()]


DATE_WINDOW_S = (-13 * 3600 - 45 * 60, 10 * 3600)
"""A date-only value is midnight in the site's time zone: from UTC-10 (-> 10:00Z) to UTC+13:45 (-> 10:15Z the day
before). Within this window of the date's UTC midnight it is that date; outside it, another date."""


def same_date(moodle_value: str, wanted: str) -> bool:
    """Whether Moodle's Unix time (as a string; "" or "0" when unset) is the calendar date ``wanted`` (YYYY-MM-DD,
    or "" for unset), whatever the site's time zone in ``DATE_WINDOW_S``."""
    unset = moodle_value in ("", "0")
    if not wanted or unset:
        return not wanted and unset
    try:
        midnight = datetime.combine(date.fromisoformat(wanted), datetime.min.time(), UTC).timestamp()
        offset = int(moodle_value) - midnight
    except ValueError:
        return False
    return DATE_WINDOW_S[0] <= offset <= DATE_WINDOW_S[1]


def profile_changes(desired: DesiredUser, account: MoodleUser, fields: Sequence[ProfileField]) -> dict[str, str]:
    """The profile fields whose Moodle value differs from the desired one: shortname -> value to send."""
    changes: dict[str, str] = {}
    for profile in fields:
        if profile.shortname not in desired.profile:
            continue  # left alone (a warning says why)
        wanted = desired.profile[profile.shortname]
        current = account.fields.get(f"profile_field_{profile.shortname}", "")
        same = same_date(current, wanted) if profile.type == "datetime" else current == wanted
        if not same:
            changes[profile.shortname] = wanted
    return changes


class AccountIndex:
    """The Moodle accounts a batch's lookups found, by idnumber, username and lowercased e-mail."""

    def __init__(self, users: Iterable[MoodleUser]):
        unique = {user.id: user for user in users}
        ordered = sorted(unique.values(), key=lambda u: (u.suspended, u.id))  # active first, then oldest
        self.by_idnumber: dict[str, MoodleUser] = {}
        self.by_username: dict[str, MoodleUser] = {}
        self.by_email: dict[str, MoodleUser] = {}
        for user in ordered:
            if user.idnumber:
                self.by_idnumber.setdefault(user.idnumber, user)
            self.by_username.setdefault(user.username, user)
            if user.email:
                self.by_email.setdefault(user.email.lower(), user)


def plan_batch(
    changes: Sequence[Change],
    employees: Mapping[str, Employee],
    accounts: AccountIndex,
    mapping: FieldMapping,
    eligibility: Eligibility | None = None,
) -> Plan:
    """``eligibility`` None: ``[scope]`` and BambooHR's status only (no date rules)."""
    rules = eligibility or Eligibility(mapping.scope)
    plan = Plan()
    claimed_usernames: dict[str, str] = {}
    claimed_emails: dict[str, str] = {}
    for change in changes:
        employee_id = change.employee_id
        employee = employees.get(employee_id)
        account = accounts.by_idnumber.get(employee_id)
        if employee is None:
            if change.action != "Deleted":
                plan.skipped.append((employee_id, "not returned by BambooHR (deleted since, or hidden from the key)"))
            elif account is not None and not account.suspended:
                plan.updates.append(Update(employee_id, account.id, "suspended", {"suspended": 1}))
            elif account is not None:
                plan.unchanged.append(employee_id)
            else:
                plan.skipped.append((employee_id, "deleted in BambooHR and has no Moodle account"))
            continue

        verdict = rules.of(employee)
        if verdict.standing == "not_yet":
            if account is None:
                plan.skipped.append((employee_id, verdict.reason))
            else:
                plan.unchanged.append(employee_id)
            continue
        inactive = verdict.standing == "leaver"
        no_account = verdict.reason or "inactive and has no Moodle account"
        if inactive and account is not None:
            if account.suspended:
                plan.unchanged.append(employee_id)
            else:
                plan.updates.append(Update(employee_id, account.id, "suspended", {"suspended": 1}))
            continue

        desired = mapping.desired_user(employee)
        if isinstance(desired, RecordFailure):
            if inactive:
                plan.skipped.append((employee_id, no_account))
            else:
                plan.failures.append(desired)
            continue
        if not inactive:
            plan.warnings.extend((employee_id, warning) for warning in desired.warnings)

        if account is None:
            adopted = _adoptable(desired, accounts)
            if isinstance(adopted, RecordFailure):
                if not inactive:
                    plan.failures.append(adopted)
                else:
                    plan.skipped.append((employee_id, no_account))
                continue
            account = adopted
        if account is not None and inactive:
            # An inactive employee whose hand-made account was found by username or e-mail: claim it, suspended.
            if account.suspended:
                plan.updates.append(Update(employee_id, account.id, "updated", {"idnumber": employee_id}))
            else:
                plan.updates.append(
                    Update(employee_id, account.id, "suspended", {"suspended": 1, "idnumber": employee_id})
                )
            continue
        if inactive:
            plan.skipped.append((employee_id, no_account))
            continue

        conflict = _claim(desired, account, accounts, claimed_usernames, claimed_emails)
        if conflict:
            plan.failures.append(conflict)
        elif account is None:
            plan.creates.append(desired)
        else:
            changes_needed: dict[str, str | int] = {
                name: value for name, value in desired.fields.items() if _current(account, name) != value
            }
            profile = profile_changes(desired, account, mapping.profile_fields)
            before = {name: _current(account, name) for name in changes_needed}
            before |= {f"profile_field_{name}": account.fields.get(f"profile_field_{name}", "") for name in profile}
            if account.suspended:
                plan.updates.append(
                    Update(employee_id, account.id, "reactivated", {**changes_needed, "suspended": 0}, profile, before)
                )
            elif changes_needed or profile:
                plan.updates.append(Update(employee_id, account.id, "updated", changes_needed, profile, before))
            else:
                plan.unchanged.append(employee_id)
    return plan


def batch_members(
    plan: Plan,
    employees: Mapping[str, Employee],
    accounts: AccountIndex,
    mapping: FieldMapping,
    eligibility: Eligibility | None = None,
) -> list[Member]:
    """The batch's employees whose owned cohort memberships the plan decides: those with an account after it
    (skipped and failed records are left as they are). Suspended ones and leavers are inactive members."""
    rules = eligibility or Eligibility(mapping.scope)
    members = [Member(d.employee_id, None, True, d.cohorts) for d in plan.creates]
    for update in plan.updates:
        employee = employees.get(update.employee_id)
        if update.kind == "suspended" or employee is None or rules.of(employee).standing == "leaver":
            members.append(Member(update.employee_id, update.user_id, False, {}))
        else:
            members.append(Member(update.employee_id, update.user_id, True, mapping.cohort_values(employee)))
    for employee_id in plan.unchanged:
        account = accounts.by_idnumber.get(employee_id)
        employee = employees.get(employee_id)
        standing = rules.of(employee).standing if employee is not None else "leaver"
        if account is None or standing == "not_yet":  # a future hire's account is left as it is
            continue
        active = not account.suspended and standing == "active"
        values = mapping.cohort_values(employee) if active and employee is not None else {}
        members.append(Member(employee_id, account.id, active, values))
    return members


def _current(account: MoodleUser, name: str) -> str:
    return account.username if name == "username" else account.fields.get(name, "")


def _adoptable(desired: DesiredUser, accounts: AccountIndex) -> MoodleUser | RecordFailure | None:
    """An account made by hand (no idnumber) with this username or e-mail; another employee's is a conflict."""
    for found, what, value in (
        (accounts.by_username.get(desired.username), "username", desired.username),
        (accounts.by_email.get(desired.email.lower()), "e-mail", desired.email),
    ):
        if found is None:
            continue
        if found.idnumber and found.idnumber != desired.employee_id:
            return RecordFailure(
                desired.employee_id,
                f"{what} belongs to Moodle user {found.id} (employee {found.idnumber})",
                f"{what} {value}",
            )
        return found
    return None


def _claim(
    desired: DesiredUser,
    account: MoodleUser | None,
    accounts: AccountIndex,
    claimed_usernames: dict[str, str],
    claimed_emails: dict[str, str],
) -> RecordFailure | None:
    """Reserve the username and e-mail for this employee, or say who already holds them."""
    own_id = account.id if account is not None else None
    email_key = desired.email.lower()
    # An e-mail the account already has is no change, even where an old account shares it.
    email_holder = (
        None if account is not None and account.email.lower() == email_key else accounts.by_email.get(email_key)
    )
    for key, claimed, existing, what in (
        (desired.username, claimed_usernames, accounts.by_username.get(desired.username), "username"),
        (email_key, claimed_emails, email_holder, "e-mail"),
    ):
        holder = claimed.get(key)
        if holder is not None and holder != desired.employee_id:
            return RecordFailure(
                desired.employee_id, f"{what} is also employee {holder}'s in this batch", f"{what} {key}"
            )
        if existing is not None and existing.id != own_id:
            owner = f" (employee {existing.idnumber})" if existing.idnumber else ""
            reason = f"{what} belongs to Moodle user {existing.id}{owner}"
            return RecordFailure(desired.employee_id, reason, f"{what} {key}")
    claimed_usernames[desired.username] = desired.employee_id
    claimed_emails[email_key] = desired.employee_id
    return None


@dataclass
class PlannedSlice:
    """One slice's plan with what it was planned from: the employees BambooHR returned and the accounts found."""

    plan: Plan
    employees: dict[str, Employee]
    accounts: list[MoodleUser]
