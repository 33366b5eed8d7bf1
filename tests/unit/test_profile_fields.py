"""Custom profile fields end to end: the batch task against the Moodle emulator's profile fields."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.world import World

MAPPING = """
[profile_fields]
jobtitle = "jobTitle"
hiredate = { from = "hireDate", type = "datetime" }
office = "location"
"""


@pytest.fixture
def mapped(world: World, tmp_path: Path) -> World:
    path = tmp_path / "mapping.toml"
    path.write_text(MAPPING, encoding="utf-8")
    world.monkeypatch.setenv("MAPPING_FILE", str(path))
    return world


def hire(world: World, **fields: str) -> str:
    values = {"firstName": "Ada", "lastName": "Lovelace", "workEmail": "ada@acme.test", "jobTitle": "Analyst"}
    values.update({"hireDate": "2024-07-01", "location": "London", **fields})
    return world.bamboohr.emulator.hire(**values)


def profile(world: World, employee_id: str) -> dict[str, str]:
    (account,) = world.moodle.emulator.users_by_idnumber(employee_id)
    return dict(account["customfields"])


def london_midnight(day: str) -> str:
    return str(int(datetime.fromisoformat(day).replace(tzinfo=ZoneInfo("Europe/London")).timestamp()))


def test_a_new_account_gets_its_profile_fields_with_the_date_at_the_site_s_midnight(mapped: World) -> None:
    ada = hire(mapped)
    mapped.drain()
    assert profile(mapped, ada) == {"jobtitle": "Analyst", "hiredate": "1719788400", "office": "London"}


def test_a_second_pass_over_matching_profile_fields_writes_nothing(mapped: World) -> None:
    ada = hire(mapped)
    mapped.drain()
    mapped.bamboohr.emulator.advance(60)
    mapped.bamboohr.emulator.update(ada, homeEmail="ada@home.example")  # in the next window, nothing mapped changed
    mapped.drain()
    assert mapped.moodle.emulator.call_count("core_user_update_users") == 0


def test_a_changed_job_title_and_hire_date_are_written_and_an_empty_date_clears_the_field(mapped: World) -> None:
    ada, bob = hire(mapped), hire(mapped, workEmail="bob@acme.test", firstName="Bob")
    mapped.drain()
    mapped.bamboohr.emulator.advance(60)
    mapped.bamboohr.emulator.update(ada, jobTitle="Lead Analyst", hireDate="2025-01-15")
    mapped.bamboohr.emulator.update(bob, hireDate="0000-00-00")
    mapped.drain()
    assert profile(mapped, ada) == {
        "jobtitle": "Lead Analyst",
        "hiredate": london_midnight("2025-01-15"),
        "office": "London",
    }
    assert profile(mapped, bob) == {"jobtitle": "Analyst", "hiredate": "", "office": "London"}


def test_a_hire_date_that_is_not_a_date_is_a_warning_and_leaves_the_field_alone(mapped: World) -> None:
    ada = hire(mapped)
    mapped.drain()
    mapped.bamboohr.emulator.advance(60)
    mapped.bamboohr.emulator.update(ada, hireDate="15/01/2025", jobTitle="Lead Analyst")
    (run,) = mapped.drain()
    assert profile(mapped, ada)["hiredate"] == "1719788400"
    assert profile(mapped, ada)["jobtitle"] == "Lead Analyst"
    (warning,) = [json.loads(line) for line in run.stdout.splitlines() if '"record warning"' in line]
    assert warning["employee_id"] == ada
    assert "hireDate" in warning["reason"] and "15/01/2025" not in run.stdout


def test_a_site_in_another_time_zone_holding_the_same_date_is_not_written(mapped: World) -> None:
    mapped.moodle.emulator.timezone = "Pacific/Auckland"
    ada = hire(mapped)
    mapped.drain()
    mapped.bamboohr.emulator.advance(60)
    mapped.bamboohr.emulator.update(ada, homeEmail="ada@home.example")
    mapped.drain()
    assert mapped.moodle.emulator.call_count("core_user_update_users") == 0


def test_without_a_profile_fields_section_no_custom_field_is_sent(world: World) -> None:
    ada = hire(world)
    world.drain()
    assert profile(world, ada) == {}


MENU_MAPPING = '[profile_fields]\noffice = { from = "location", type = "menu", options = ["London", "Remote"] }\n'


def test_a_menu_value_that_is_not_an_option_leaves_the_stored_value_and_logs_a_warning(
    world: World, tmp_path: Path
) -> None:
    path = tmp_path / "menu.toml"
    path.write_text(MENU_MAPPING, encoding="utf-8")
    world.monkeypatch.setenv("MAPPING_FILE", str(path))
    ada = hire(world)
    world.drain()
    world.bamboohr.emulator.advance(60)
    world.bamboohr.emulator.update(ada, location="Paris")
    (run,) = world.drain()
    assert profile(world, ada) == {"office": "London"}
    assert world.moodle.emulator.call_count("core_user_update_users") == 0
    (warning,) = [json.loads(line) for line in run.stdout.splitlines() if '"record warning"' in line]
    assert warning["employee_id"] == ada and "office" in warning["reason"]
    assert "Paris" not in run.stdout
