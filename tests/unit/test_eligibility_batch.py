"""Who gets an account, end to end: [scope], terminationDate and PROVISION_DAYS_BEFORE_START against the emulators.

The batch judges dates on BambooHR's day (its ``Date`` header), so ``World.advance_days`` moves the batch's today.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.world import BatchRun, World

EXCLUDE_CONTRACTORS = '[scope]\nexclude = { department = ["Contractors"] }\n'
STAFF_ONLY = '[scope]\ninclude = { employmentHistoryStatus = ["Full-Time", "Part-Time"] }\n'


def use_mapping(world: World, tmp_path: Path, content: str) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text(content, encoding="utf-8")
    world.monkeypatch.setenv("MAPPING_FILE", str(path))


def hire(world: World, name: str, **fields: str) -> str:
    values = {"firstName": name.title(), "lastName": "Tester", "workEmail": f"{name}@acme.test", "department": "Sales"}
    return world.bamboohr.emulator.hire(**{**values, **fields})


def edit_later(world: World, employee_id: str, **fields: str | None) -> None:
    """An edit a minute on, so that the next window lists the employee again."""
    world.bamboohr.emulator.advance(60)
    world.bamboohr.emulator.update(employee_id, **fields)


def account(world: World, employee_id: str) -> dict[str, Any] | None:
    found = world.moodle.emulator.users_by_idnumber(employee_id)
    return found[0] if found else None


def log_lines(runs: list[BatchRun], message: str) -> list[dict[str, Any]]:
    return [json.loads(line) for run in runs for line in run.stdout.splitlines() if f'"{message}"' in line]


def test_an_out_of_scope_employee_gets_no_account_and_an_in_scope_one_does(world: World, tmp_path: Path) -> None:
    use_mapping(world, tmp_path, EXCLUDE_CONTRACTORS)
    contractor = hire(world, "ada", department="Contractors")
    staff = hire(world, "bob")
    world.drain()
    assert account(world, contractor) is None
    assert account(world, staff) is not None


def test_an_out_of_scope_skip_is_logged_with_its_reason_and_no_personal_data(world: World, tmp_path: Path) -> None:
    use_mapping(world, tmp_path, EXCLUDE_CONTRACTORS)
    contractor = hire(world, "ada", department="Contractors")
    (skipped,) = log_lines(world.drain(), "record skipped")
    assert (skipped["employee_id"], skipped["reason"]) == (
        contractor,
        "out of scope: department 'Contractors' is excluded",
    )
    assert "ada" not in json.dumps(skipped).lower()


def test_an_employee_leaving_the_scope_has_the_account_suspended(world: World, tmp_path: Path) -> None:
    use_mapping(world, tmp_path, STAFF_ONLY)
    ada = hire(world, "ada", employmentHistoryStatus="Full-Time")
    world.drain()
    edit_later(world, ada, employmentHistoryStatus="Contractor")
    world.drain()
    found = account(world, ada)
    assert found is not None and found["suspended"]


def test_the_suspension_guard_counts_employees_leaving_the_scope(world: World, tmp_path: Path) -> None:
    use_mapping(world, tmp_path, EXCLUDE_CONTRACTORS)
    ids = [hire(world, name) for name in ("ada", "bob", "cy")]
    world.drain()
    world.bamboohr.emulator.advance(60)
    for employee_id in ids:
        world.bamboohr.emulator.update(employee_id, department="Contractors")
    run = world.run_batch(MAX_SUSPENSIONS="2", MAX_SUSPENSIONS_PERCENT="0")
    assert run.exit_code == 3
    assert all(not (account(world, i) or {}).get("suspended") for i in ids)


def test_a_dry_run_counts_an_employee_leaving_the_scope_as_a_suspension(world: World, tmp_path: Path) -> None:
    use_mapping(world, tmp_path, EXCLUDE_CONTRACTORS)
    ada = hire(world, "ada")
    world.drain()
    edit_later(world, ada, department="Contractors")
    run = world.run_batch(DRY_RUN="1")
    (planned,) = log_lines([run], "dry run: planned, nothing written")
    assert planned["counts"]["suspended"] == 1
    assert not (account(world, ada) or {}).get("suspended")


def test_a_terminated_employee_still_active_in_bamboohr_is_suspended(world: World) -> None:
    ada = hire(world, "ada", hireDate=(world.today() - timedelta(days=100)).isoformat())
    world.drain()
    edit_later(world, ada, terminationDate=(world.today() - timedelta(days=1)).isoformat())
    world.drain()
    assert world.bamboohr.emulator.employee(ada)["status"] == "Active"  # type: ignore[index]
    found = account(world, ada)
    assert found is not None and found["suspended"]


def test_the_termination_day_is_bamboohr_s_and_the_account_goes_the_day_after(world: World) -> None:
    ada = hire(world, "ada")
    world.drain()
    edit_later(world, ada, terminationDate=world.today().isoformat())
    world.drain()
    assert not (account(world, ada) or {}).get("suspended"), "on the termination day itself the account stays"
    world.advance_days(1)
    edit_later(world, ada, jobTitle="Leaving")
    world.drain()
    assert (account(world, ada) or {}).get("suspended")


def test_a_future_hire_gets_the_account_on_its_due_day_and_not_before(world: World) -> None:
    world.monkeypatch.setenv("PROVISION_DAYS_BEFORE_START", "3")
    start = world.today() + timedelta(days=10)
    ada = hire(world, "ada", status="Inactive", hireDate=start.isoformat())
    (skipped,) = log_lines(world.drain(), "record skipped")
    assert skipped["reason"].endswith(f"account due on {start - timedelta(days=3)} (PROVISION_DAYS_BEFORE_START)")
    world.advance_days(6)  # the day before the due day
    edit_later(world, ada, jobTitle="Starter")
    world.drain()
    assert account(world, ada) is None
    world.advance_days(1)  # the due day; BambooHR still says Inactive until the start
    edit_later(world, ada, jobTitle="Starter, due")
    world.drain()
    found = account(world, ada)
    assert found is not None and not found["suspended"]
