"""The BambooHR emulator's Python side: the changes tests make, the clock, ids and thread safety."""

from __future__ import annotations

import threading

import pytest

from bamboohr_moodle_sync.local.bamboohr.emulator import DEFAULT_START, BambooHREmulator, ManualClock, RunningClock


def test_clock_starts_at_a_fixed_instant_and_moves_only_when_advanced() -> None:
    emulator = BambooHREmulator()
    assert emulator.now() == DEFAULT_START
    emulator.advance(90.5)
    assert emulator.now().isoformat() == "2026-01-05T09:01:30+00:00"  # whole seconds, as BambooHR writes them


def test_a_running_clock_moves_as_time_passes_and_jumps_when_advanced() -> None:
    ticks = iter([100.0, 130.0, 130.0])
    emulator = BambooHREmulator(clock=RunningClock(DEFAULT_START, ticker=lambda: next(ticks)))
    assert emulator.now().isoformat() == "2026-01-05T09:00:30+00:00"
    emulator.advance(60)
    assert emulator.now().isoformat() == "2026-01-05T09:01:30+00:00"


def test_injected_clock_is_used() -> None:
    emulator = BambooHREmulator(clock=ManualClock(DEFAULT_START.replace(year=2030)))
    employee_id = emulator.hire(firstName="A", lastName="B")
    assert (emulator.employee(employee_id) or {})["hireDate"] == "2030-01-05"


def test_ids_are_strings_of_ints_never_reused() -> None:
    emulator = BambooHREmulator()
    first = emulator.hire(firstName="A", lastName="B")
    emulator.delete(first)
    assert (first, emulator.hire(firstName="C", lastName="D")) == ("1", "2")


def test_rehire_makes_the_employee_active_again() -> None:
    emulator = BambooHREmulator()
    employee_id = emulator.hire(firstName="A", lastName="B")
    emulator.terminate(employee_id, "2026-01-05")
    emulator.advance(86400)
    emulator.rehire(employee_id)
    employee = emulator.employee(employee_id) or {}
    assert (employee["status"], employee["terminationDate"], employee["hireDate"]) == ("Active", None, "2026-01-06")
    assert employee["lastChanged"] == "2026-01-06T09:00:00+00:00"


def test_terminate_and_rehire_move_the_employment_status() -> None:
    emulator = BambooHREmulator()
    employee_id = emulator.hire(firstName="A", lastName="B", employmentHistoryStatus="Part-Time")
    emulator.terminate(employee_id)
    terminated = (emulator.employee(employee_id) or {})["employmentHistoryStatus"]
    emulator.rehire(employee_id, employment="Contractor")
    assert (terminated, (emulator.employee(employee_id) or {})["employmentHistoryStatus"]) == (
        "Terminated",
        "Contractor",
    )


@pytest.mark.parametrize("operation", ["update", "terminate", "rehire", "delete"])
def test_changes_to_unknown_or_deleted_employees_raise_key_error(operation: str) -> None:
    emulator = BambooHREmulator()
    emulator.delete(emulator.hire(firstName="A", lastName="B"))
    with pytest.raises(KeyError):
        getattr(emulator, operation)("1")


@pytest.mark.parametrize("field_name", ["shoeSize", "id", "lastChanged"])
def test_hire_refuses_unknown_or_read_only_fields(field_name: str) -> None:
    with pytest.raises(ValueError, match=field_name):
        BambooHREmulator().hire(**{field_name: "x"})


def test_seed_hires_generated_employees() -> None:
    emulator = BambooHREmulator()
    assert emulator.seed(50) == [str(i) for i in range(1, 51)]
    assert len(emulator.employees()) == 50


def test_employees_lists_deleted_only_when_asked() -> None:
    emulator = BambooHREmulator()
    emulator.delete(emulator.hire(firstName="A", lastName="B"))
    assert (emulator.employees(), len(emulator.employees(include_deleted=True))) == ([], 1)


def test_concurrent_hires_get_distinct_ids() -> None:
    emulator = BambooHREmulator()
    threads = [threading.Thread(target=lambda: [emulator.hire(firstName="A", lastName="B") for _ in range(50)])
               for _ in range(8)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(int(e["id"] or 0) for e in emulator.employees()) == list(range(1, 401))
