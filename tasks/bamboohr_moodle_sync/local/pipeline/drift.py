"""Drift for the full-reconciliation demo (``local-run --mode full``): what no incremental run ever sees.

``contractor_before_the_first_run`` puts one active employee in the Contractors department before the first
(incremental) run, which gives them an account. ``seed_drift`` then makes, after that run, one of each kind:
a synced account renamed by hand, a leaver's account reactivated by hand, an account carrying the idnumber of an
employee BambooHR no longer has, and ``[scope]`` added to the mapping so that the contractor is out of scope (an
admin narrowing the scope, then reconciling). BambooHR's change list shows none of them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from bamboohr_moodle_sync.local.bamboohr.emulator import BambooHREmulator
from bamboohr_moodle_sync.local.moodle.emulator import MoodleEmulator

CONTRACTORS = "Contractors"
SCOPE = f'\n[scope]\nexclude = {{ department = ["{CONTRACTORS}"] }}\n'
GONE_IDNUMBER = "990001"  # an employee id BambooHR does not have (deleted and purged before any window saw it)


@dataclass(frozen=True)
class Drift:
    """The employee ids of each kind of drift seeded (ids only: what the full run's report samples)."""

    renamed: str | None
    reactivated: str | None
    gone: str
    contractor: str | None

    def lines(self) -> list[str]:
        """One line per kind (``none`` where the world had no account to seed it on)."""
        return [
            f"renamed by hand in Moodle: {self.renamed or 'none'}",
            f"leaver reactivated by hand: {self.reactivated or 'none'}",
            f"account of an employee BambooHR no longer has: {self.gone}",
            f"contractor, out of the [scope] added to the mapping: {self.contractor or 'none'}",
        ]


def contractor_before_the_first_run(bamboohr: BambooHREmulator) -> str | None:
    """Moves the first active employee to the Contractors department; their id (None without one)."""
    employee = next((e for e in bamboohr.employees() if e.get("status") == "Active" and e.get("workEmail")), None)
    if employee is None:
        return None
    employee_id = str(employee["id"])
    bamboohr.update(employee_id, department=CONTRACTORS)
    return employee_id


def can_add_scope(mapping: str | None) -> bool:
    """Whether the demo's ``[scope]`` can be added to the tasks' mapping: there is a mapping file, and it has no
    ``[scope]`` of its own."""
    return mapping is not None and "scope" not in tomllib.loads(mapping)


def seed_drift(
    bamboohr: BambooHREmulator, moodle: MoodleEmulator, mapping_file: Path | None, contractor: str | None
) -> Drift:
    """One drift of each kind, after a drained incremental run (see the module's docstring); the contractor's
    only with a mapping file to add ``[scope]`` to."""
    employees = {str(e["id"]): e for e in bamboohr.employees()}
    synced = [u for u in moodle.users() if u["idnumber"] in employees and u["idnumber"] != contractor]
    status = {u["idnumber"]: employees[u["idnumber"]].get("status") for u in synced}
    active = next((u for u in synced if not u["suspended"] and status[u["idnumber"]] == "Active"), None)
    if active is not None:
        moodle.edit_user(active["id"], firstname=f"{active['firstname']} (edited by hand)")
    leaver = next((u for u in synced if u["suspended"] and status[u["idnumber"]] == "Inactive"), None)
    if leaver is not None:
        moodle.edit_user(leaver["id"], suspended=False)
    moodle.add_user("former.employee", "Former", "Employee", "former.employee@example.test", idnumber=GONE_IDNUMBER)
    if mapping_file is None:
        contractor = None
    else:
        with mapping_file.open("a", encoding="utf-8") as mapping:
            mapping.write(SCOPE)
    return Drift(
        active["idnumber"] if active else None, leaver["idnumber"] if leaver else None, GONE_IDNUMBER, contractor
    )
