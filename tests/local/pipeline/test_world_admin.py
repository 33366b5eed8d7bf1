"""The emulators' admin endpoints (what ``world`` calls): changes a person makes in the vendors' web UIs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from bamboohr_moodle_sync.local.bamboohr.api import format_timestamp
from bamboohr_moodle_sync.local.bamboohr.emulator import RunningBambooHR, running_bamboohr
from bamboohr_moodle_sync.local.moodle.emulator import RunningMoodle, running_moodle
from bamboohr_moodle_sync.local.pipeline import world
from bamboohr_moodle_sync.local.pipeline.world_admin import bamboohr_admin, moodle_admin, with_admin

ADA = {"firstName": "Ada", "lastName": "Lovelace", "workEmail": "ada@acme.example"}


@pytest.fixture(scope="module")
def bamboohr() -> Iterator[RunningBambooHR]:
    with running_bamboohr(employees=3) as running:
        running.server.handler = with_admin(running.emulator, bamboohr_admin(running.emulator))
        yield running


@pytest.fixture(scope="module")
def moodle() -> Iterator[RunningMoodle]:
    with running_moodle() as running:
        running.server.handler = with_admin(running.emulator, moodle_admin(running.emulator))
        yield running


def admin(running: RunningBambooHR | RunningMoodle, method: str, route: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{running.server.url}/_emulator/{route}", json=body, timeout=5)


def changed_ids(bamboohr: RunningBambooHR, since: str) -> set[str]:
    answer = requests.get(
        f"{bamboohr.api_url}/v1/employees/changed",
        params={"since": since},
        auth=(bamboohr.api_key, "x"),
        headers={"Accept": "application/json"},
        timeout=5,
    )
    return set(answer.json()["employees"])


def test_a_hire_is_in_the_next_change_list(bamboohr: RunningBambooHR) -> None:
    now = admin(bamboohr, "POST", "clock", {"advance": 60}).json()["now"]
    hired = admin(bamboohr, "POST", "employees", ADA)
    assert hired.status_code == 201
    assert changed_ids(bamboohr, now) == {hired.json()["id"]}


def test_an_edit_changes_the_field_and_moves_last_changed_to_now(bamboohr: RunningBambooHR) -> None:
    now = admin(bamboohr, "POST", "clock", {"advance": 60}).json()["now"]
    edited = admin(bamboohr, "POST", "employees/2", {"department": "Legal", "preferredName": None}).json()
    assert (edited["department"], edited["preferredName"], edited["lastChanged"]) == ("Legal", None, now)


@pytest.mark.parametrize(
    ("action", "status", "date_field"), [("terminate", "Inactive", "terminationDate"), ("rehire", "Active", "hireDate")]
)
def test_terminate_and_rehire_set_status_and_date(
    bamboohr: RunningBambooHR, action: str, status: str, date_field: str
) -> None:
    employee = admin(bamboohr, "POST", f"employees/3/{action}", {"date": "2026-02-01"}).json()
    assert (employee["status"], employee[date_field]) == (status, "2026-02-01")


@pytest.mark.parametrize(
    ("route", "body", "status", "says"),
    [
        ("employees", {"firstName": "A"}, 400, "lastName"),
        ("employees", {**ADA, "salary": "1"}, 400, "salary"),
        ("employees/1", {"lastChanged": "2020-01-01T00:00:00+00:00"}, 400, "lastChanged"),
        ("employees/1", {"department": 7}, 400, "strings"),
        ("employees/999", {"department": "Legal"}, 404, "no employee 999"),
        ("employees/1/terminate", {"date": "01/02/2026"}, 400, "YYYY-MM-DD"),
        ("clock", {"advance": -5}, 400, "advance"),
    ],
)
def test_bad_changes_are_refused_saying_why(
    bamboohr: RunningBambooHR, route: str, body: dict[str, Any], status: int, says: str
) -> None:
    refused = admin(bamboohr, "POST", route, body)
    assert refused.status_code == status
    assert says in refused.json()["error"]


def test_admin_endpoints_are_not_reachable_through_the_api_paths(bamboohr: RunningBambooHR) -> None:
    through_api = requests.get(f"{bamboohr.api_url}/v1/_emulator/clock", auth=(bamboohr.api_key, "x"), timeout=5)
    assert through_api.status_code == 404


def test_a_plain_emulator_serves_no_admin_endpoints() -> None:
    with running_bamboohr() as plain:
        assert admin(plain, "GET", "clock").status_code == 404


def test_a_moodle_account_made_by_hand_has_no_idnumber(moodle: RunningMoodle) -> None:
    made = admin(
        moodle, "POST", "users", {"username": "ada", "email": "ada@acme.example", "firstname": "Ada", "lastname": "L"}
    )
    assert made.status_code == 201
    account = moodle.emulator.user(made.json()["id"]) or {}
    assert (account["username"], account["email"], account.get("idnumber", "")) == ("ada", "ada@acme.example", "")


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({"username": "Bob"}, 400, "lowercase"),
        ({"email": "not-an-address"}, 400, "valid"),
        ({"firstname": ""}, 400, "firstname"),
        ({"username": "taken"}, 409, "taken"),
        ({"email": "taken@acme.example"}, 409, "another account"),
    ],
)
def test_a_moodle_account_the_admin_ui_would_refuse_is_refused(
    moodle: RunningMoodle, fields: dict[str, str], status: int, says: str
) -> None:
    if moodle.emulator.user_by_username("taken") is None:
        moodle.emulator.add_user("taken", email="taken@acme.example")
    account = {"username": "new", "email": "new@acme.example", "firstname": "N", "lastname": "W", **fields}
    refused = admin(moodle, "POST", "users", account)
    assert refused.status_code == status
    assert says in refused.json()["error"]


def test_world_clock_advance_days_moves_bamboohr_s_day(
    bamboohr: RunningBambooHR, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BAMBOOHR_API_URL", bamboohr.api_url)
    before = bamboohr.emulator.now()
    assert world.main(["clock", "--advance-days", "2"]) == 0
    assert bamboohr.emulator.now() - before == timedelta(days=2)
    assert format_timestamp(bamboohr.emulator.now()) in capsys.readouterr().out
