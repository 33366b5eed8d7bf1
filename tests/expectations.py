"""What Moodle should hold according to BambooHR: the oracle the end-to-end tests compare against.

Employees are taken in snapshot order, (lastChanged, id), so when two employees clean to the same
username the earlier one owns the account, as the batch task decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bamboohr_moodle_sync.mapping import DesiredUser, load_mapping

SYNCED_FIELDS = ("idnumber", "username", "email", "firstname", "lastname", "department", "institution")


def in_snapshot_order(employees: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(employees, key=lambda e: (str(e.get("lastChanged") or ""), str(e["id"])))


def expected_active_accounts(employees: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """idnumber -> synced fields, for every active employee Moodle can hold."""
    mapping = load_mapping(None)
    expected: dict[str, dict[str, Any]] = {}
    claimed: set[str] = set()
    for employee in in_snapshot_order(employees):
        desired = mapping.desired_user(employee)
        if not isinstance(desired, DesiredUser) or not desired.active or desired.username in claimed:
            continue
        claimed.add(desired.username)
        expected[desired.employee_id] = {name: desired.fields.get(name, "") for name in SYNCED_FIELDS}
    return expected


def active_accounts(users: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """idnumber -> synced fields of each active Moodle account that carries an idnumber."""
    return {
        str(user["idnumber"]): {name: user.get(name, "") for name in SYNCED_FIELDS}
        for user in users
        if user.get("idnumber") and not user.get("suspended")
    }


def leavers_with_active_accounts(
    employees: Iterable[Mapping[str, Any]], users: Iterable[Mapping[str, Any]]
) -> set[str]:
    """Inactive employees whose Moodle account is still active: should always be empty after a sync."""
    inactive = {str(e["id"]) for e in employees if e.get("status") == "Inactive"}
    return {str(u["idnumber"]) for u in users if str(u.get("idnumber")) in inactive and not u.get("suspended")}
