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

A record that cannot be synced (no valid e-mail, a username or e-mail held by another employee's
account or claimed earlier in the batch) becomes a ``RecordFailure``; the rest of the batch goes on. Its
reason names the field and the employee or Moodle user that holds the value, never the value itself.
E-mail addresses are compared ignoring case, as Moodle's uniqueness check does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .mapping import DesiredUser, FieldMapping
from .models import Change, Employee, MoodleUser, RecordFailure

UpdateKind = Literal["updated", "suspended", "reactivated"]
COUNTERS = ("created", "updated", "suspended", "reactivated", "unchanged", "skipped", "failed")


@dataclass(frozen=True, slots=True)
class Update:
    employee_id: str
    user_id: int
    kind: UpdateKind
    changes: Mapping[str, str | int]

    def payload(self) -> dict[str, str | int]:
        return {"id": self.user_id, **self.changes}


@dataclass
class Plan:
    creates: list[DesiredUser] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failures: list[RecordFailure] = field(default_factory=list)

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
        return counts


def create_payload(user: DesiredUser, auth: str) -> dict[str, str | int]:
    """A ``core_user_create_users`` record; Moodle mails a password for ``manual`` accounts."""
    payload: dict[str, str | int] = {**user.fields, "auth": auth}
    if auth == "manual":
        payload["createpassword"] = 1
    return payload


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
) -> Plan:
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

        inactive = employee.get("status") == "Inactive"
        if inactive and account is not None:
            if account.suspended:
                plan.unchanged.append(employee_id)
            else:
                plan.updates.append(Update(employee_id, account.id, "suspended", {"suspended": 1}))
            continue

        desired = mapping.desired_user(employee)
        if isinstance(desired, RecordFailure):
            if inactive:
                plan.skipped.append((employee_id, "inactive and has no Moodle account"))
            else:
                plan.failures.append(desired)
            continue

        if account is None:
            adopted = _adoptable(desired, accounts)
            if isinstance(adopted, RecordFailure):
                if not inactive:
                    plan.failures.append(adopted)
                else:
                    plan.skipped.append((employee_id, "inactive and has no Moodle account"))
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
            plan.skipped.append((employee_id, "inactive and has no Moodle account"))
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
            if account.suspended:
                plan.updates.append(Update(employee_id, account.id, "reactivated", {**changes_needed, "suspended": 0}))
            elif changes_needed:
                plan.updates.append(Update(employee_id, account.id, "updated", changes_needed))
            else:
                plan.unchanged.append(employee_id)
    return plan


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
