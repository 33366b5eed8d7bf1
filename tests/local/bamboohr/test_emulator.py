"""The BambooHR emulator over real HTTP: each test names the real API behaviour it reproduces.

Facts come from /work/shared/reference/bamboohr.md and the official OpenAPI spec beside it.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
import requests

from bamboohr_moodle_sync.local.bamboohr.emulator import (
    BambooHREmulator,
    RunningBambooHR,
    running_bamboohr,
)
from bamboohr_moodle_sync.local.server import EmulatorServer, Faults

if TYPE_CHECKING:
    from collections.abc import Iterator

START = "2026-01-05T09:00:00+00:00"  # DEFAULT_START as BambooHR writes it
ONE_MINUTE_LATER = "2026-01-05T09:01:00+00:00"


@dataclass
class Api:
    """A BambooHR client as the docs describe one: Basic auth with the key, ``Accept: application/json``."""

    session: requests.Session
    root: str

    def get(self, path: str, **params: str) -> requests.Response:
        return self.session.get(f"{self.root}/v1/{path}", params=params, timeout=5)

    def changed(self, since: str = START, **params: str) -> requests.Response:
        return self.get("employees/changed", since=since, **params)

    def report(self, body: dict[str, Any], fmt: str | None = "JSON", **kwargs: Any) -> requests.Response:
        params = {"format": fmt} if fmt is not None else {}
        return self.session.post(f"{self.root}/v1/reports/custom", params=params, json=body, timeout=5, **kwargs)


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    """One server for the module (stopping one takes half a second); each test swaps in a fresh emulator."""
    with EmulatorServer(BambooHREmulator()) as running:
        yield running


@pytest.fixture
def bamboohr(server: EmulatorServer) -> Iterator[RunningBambooHR]:
    server.handler = BambooHREmulator()
    yield RunningBambooHR(server.handler, server)
    server.faults.clear()


@pytest.fixture
def emulator(bamboohr: RunningBambooHR) -> BambooHREmulator:
    return bamboohr.emulator


def _api(bamboohr: RunningBambooHR, key: str, accept: str | None = "application/json") -> Iterator[Api]:
    session = requests.Session()
    session.auth = (key, "x")
    if accept is not None:
        session.headers["Accept"] = accept
    yield Api(session, bamboohr.api_url)
    session.close()


@pytest.fixture
def api(bamboohr: RunningBambooHR) -> Iterator[Api]:
    yield from _api(bamboohr, bamboohr.api_key)


@pytest.fixture
def hired(emulator: BambooHREmulator) -> str:
    """One employee hired at START, with the clock then moved a minute on."""
    employee_id = emulator.hire(firstName="Zoë", lastName="O'Brien", workEmail="zoe.obrien@acme.example")
    emulator.advance(60)
    return employee_id


def _ids(report: requests.Response) -> list[str]:
    return [e["id"] for e in report.json()["employees"]]


OPERATIONS = {
    "changed": lambda api: api.changed(),
    "report": lambda api: api.report({"fields": ["firstName"]}),
    "employee": lambda api: api.get("employees/1"),
    "directory": lambda api: api.get("employees/directory"),
}


# -- access -------------------------------------------------------------------------------------------------
def test_api_root_is_the_gateway_form(bamboohr: RunningBambooHR) -> None:
    assert bamboohr.api_url == f"{bamboohr.server.url}/api/gateway.php/acme"


def test_unknown_company_domain_is_404(bamboohr: RunningBambooHR, api: Api, hired: str) -> None:
    url = f"{bamboohr.server.url}/api/gateway.php/other/v1/employees/{hired}"
    assert api.session.get(url, timeout=5).status_code == 404


@pytest.mark.parametrize("auth", [None, ("unknown-key", "x")], ids=["no-credentials", "unknown-key"])
def test_missing_or_unknown_api_key_is_401(bamboohr: RunningBambooHR, hired: str, auth: tuple[str, str] | None) -> None:
    response = requests.get(f"{bamboohr.api_url}/v1/employees/{hired}", auth=auth, timeout=5)
    assert response.status_code == 401
    assert response.headers["X-BambooHR-Error-Message"]


@pytest.mark.parametrize("password", ["x", "", "anything at all"])
def test_basic_auth_takes_the_key_as_user_name_and_any_password(
    bamboohr: RunningBambooHR, hired: str, password: str
) -> None:
    response = requests.get(f"{bamboohr.api_url}/v1/employees/{hired}", auth=(bamboohr.api_key, password), timeout=5)
    assert response.status_code == 200


@pytest.mark.parametrize("operation", OPERATIONS)
def test_forbidden_key_gets_403_everywhere(bamboohr: RunningBambooHR, hired: str, operation: str) -> None:
    bamboohr.emulator.add_api_key("disabled", forbidden=True)
    for api in _api(bamboohr, "disabled"):
        assert OPERATIONS[operation](api).status_code == 403


def test_key_without_report_permission_gets_403_on_custom_report_only(bamboohr: RunningBambooHR, hired: str) -> None:
    bamboohr.emulator.add_api_key("no-reports", can_run_reports=False)
    for api in _api(bamboohr, "no-reports"):
        assert api.report({"fields": ["firstName"]}).status_code == 403
        assert api.get(f"employees/{hired}").status_code == 200  # the per-employee fallback still works


@pytest.mark.parametrize("operation", ["report", "employee", "directory"])
def test_fields_the_key_cannot_see_are_silently_left_out(bamboohr: RunningBambooHR, hired: str, operation: str) -> None:
    bamboohr.emulator.add_api_key("no-email", hidden_fields=("workEmail",))
    for api in _api(bamboohr, "no-email"):
        if operation == "report":
            response = api.report({"fields": ["firstName", "workEmail"]})
            assert [f["id"] for f in response.json()["fields"]] == ["firstName"]
            person = response.json()["employees"][0]
        elif operation == "employee":
            person = api.get(f"employees/{hired}", fields="firstName,workEmail").json()
        else:
            response = api.get("employees/directory")
            assert "workEmail" not in [f["id"] for f in response.json()["fields"]]
            person = response.json()["employees"][0]
        assert (person["id"], person["firstName"]) == (hired, "Zoë")
        assert "workEmail" not in person


@pytest.mark.parametrize("operation", [*OPERATIONS, "unauthenticated", "not-found"])
def test_every_answer_carries_a_request_id(bamboohr: RunningBambooHR, api: Api, hired: str, operation: str) -> None:
    if operation == "unauthenticated":
        response = requests.get(f"{bamboohr.api_url}/v1/employees/{hired}", timeout=5)
    elif operation == "not-found":
        response = api.get("employees/999")
    else:
        response = OPERATIONS[operation](api)
    assert response.headers["x-request-id"]


def test_every_answer_is_dated_by_the_emulator_s_clock(bamboohr: RunningBambooHR, api: Api, hired: str) -> None:
    assert api.changed().headers["Date"] == "Mon, 05 Jan 2026 09:01:00 GMT"  # `hired` moved the clock a minute on


def test_injected_503_carries_retry_after() -> None:
    with running_bamboohr(employees=1, faults=Faults(error_rate=1.0, retry_after=7)) as running:
        response = requests.get(f"{running.api_url}/v1/employees/1", auth=(running.api_key, "x"), timeout=5)
    assert (response.status_code, response.headers["Retry-After"]) == (503, "7")


# -- change list --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "since",
    ["2026-01-05T09:00:00Z", "2026-01-05T09:00:00+00:00", "2026-01-05T04:00:00-05:00", "2026-01-05T10:00:00+0100",
     "2026-01-05T04:00:00-0500"],
)  # fmt: skip
def test_change_list_accepts_the_documented_since_forms(api: Api, hired: str, since: str) -> None:
    response = api.changed(since)
    assert response.status_code == 200
    assert list(response.json()["employees"]) == [hired]


@pytest.mark.parametrize(
    "since",
    ["", "yesterday", "2026-01-05", "2026-01-05T09:00:00", "2026-01-05T09:00:00.123Z", "2026-13-05T09:00:00Z",
     "2026-01-05 09:00:00Z"],
)  # fmt: skip
def test_bad_since_is_400(api: Api, since: str) -> None:
    response = api.changed(since)
    assert response.status_code == 400
    assert response.headers["X-BambooHR-Error-Message"]


def test_missing_since_is_400(api: Api) -> None:
    assert api.get("employees/changed").status_code == 400


def test_unencoded_plus_in_since_is_400(bamboohr: RunningBambooHR, api: Api) -> None:
    """The docs say to URL-encode ``+`` as ``%2B``: a raw ``+`` arrives as a space."""
    url = f"{bamboohr.api_url}/v1/employees/changed?since=2026-01-05T09:00:00+00:00"
    assert api.session.get(url, timeout=5).status_code == 400


@pytest.mark.parametrize("change_type", ["", "Inserted", "created", "ALL"])
def test_bad_type_is_400(api: Api, change_type: str) -> None:
    assert api.changed(type=change_type).status_code == 400


def test_employee_created_at_or_after_since_is_inserted(api: Api, hired: str) -> None:
    assert api.changed(START).json() == {
        "latest": START,
        "employees": {hired: {"id": hired, "action": "Inserted", "lastChanged": START}},
    }


def test_change_to_employee_created_before_since_is_updated(api: Api, emulator: BambooHREmulator, hired: str) -> None:
    emulator.update(hired, department="Sales")
    assert api.changed(ONE_MINUTE_LATER).json()["employees"][hired]["action"] == "Updated"


def test_termination_shows_as_updated_with_status_inactive(api: Api, emulator: BambooHREmulator, hired: str) -> None:
    emulator.terminate(hired, "2026-01-05")
    assert api.changed(ONE_MINUTE_LATER).json()["employees"][hired]["action"] == "Updated"
    employee = api.get(f"employees/{hired}", fields="status,terminationDate").json()
    assert employee == {"id": hired, "status": "Inactive", "terminationDate": "2026-01-05"}


def test_deleted_employee_stays_in_change_list_and_is_gone_elsewhere(
    api: Api, emulator: BambooHREmulator, hired: str
) -> None:
    emulator.hire(firstName="Other", lastName="Person")
    emulator.delete(hired)
    assert api.changed(START).json()["employees"][hired] == {
        "id": hired,
        "action": "Deleted",
        "lastChanged": ONE_MINUTE_LATER,
    }
    assert api.get(f"employees/{hired}").status_code == 404
    assert hired not in _ids(api.report({"fields": ["firstName"]}))
    assert hired not in [e["id"] for e in api.get("employees/directory").json()["employees"]]


def test_since_is_inclusive(api: Api, emulator: BambooHREmulator, hired: str) -> None:
    emulator.update(hired, jobTitle="Recruiter")  # lastChanged = ONE_MINUTE_LATER, exactly `since`
    assert hired in api.changed(ONE_MINUTE_LATER).json()["employees"]


def test_changes_before_since_are_not_listed(api: Api, hired: str) -> None:
    assert api.changed(ONE_MINUTE_LATER).json()["employees"] == {}


@pytest.mark.parametrize(
    ("change_type", "actions"),
    [("inserted", {"Inserted"}), ("updated", {"Updated"}), ("deleted", {"Deleted"}),
     ("all", {"Inserted", "Updated", "Deleted"})],
)  # fmt: skip
def test_type_filters_the_change_list_by_action(
    api: Api, emulator: BambooHREmulator, change_type: str, actions: set[str]
) -> None:
    updated, deleted = emulator.hire(firstName="A", lastName="A"), emulator.hire(firstName="B", lastName="B")
    emulator.advance(60)
    emulator.update(updated, location="London")
    inserted = emulator.hire(firstName="C", lastName="C")
    emulator.delete(deleted)
    id_of = {"Inserted": inserted, "Updated": updated, "Deleted": deleted}
    answer = api.changed(ONE_MINUTE_LATER, type=change_type).json()["employees"]
    assert {e["id"]: e["action"] for e in answer.values()} == {id_of[action]: action for action in actions}


def test_latest_is_the_greatest_last_changed_returned(api: Api, emulator: BambooHREmulator, hired: str) -> None:
    emulator.advance(3600)
    other = emulator.hire(firstName="Late", lastName="Hire")
    answer = api.changed(START).json()
    assert answer["latest"] == answer["employees"][other]["lastChanged"] == "2026-01-05T10:01:00+00:00"


def test_latest_with_nothing_changed_is_since_in_utc(api: Api, hired: str) -> None:
    assert api.changed("2026-01-05T05:00:00-05:00").json() == {"latest": "2026-01-05T10:00:00+00:00", "employees": {}}


@pytest.mark.parametrize("accept", [None, "*/*", "application/xml"])
def test_change_list_answers_xml_unless_json_is_accepted(
    bamboohr: RunningBambooHR, hired: str, accept: str | None
) -> None:
    for api in _api(bamboohr, bamboohr.api_key, accept=accept):
        response = api.changed(START)
        root = ET.fromstring(response.content)  # noqa: S314 - our own emulator's answer
        assert response.headers["Content-Type"] == "application/xml"
        assert (root.tag, root.get("latest"), root[0].attrib) == (
            "employees",
            START,
            {"id": hired, "action": "Inserted", "lastChanged": START},
        )


# -- custom report ------------------------------------------------------------------------------------------
def test_report_answers_requested_fields_for_active_and_inactive(
    api: Api, emulator: BambooHREmulator, hired: str
) -> None:
    leaver = emulator.hire(firstName="José", lastName="Smith-Jones", hireDate="2020-02-03")
    emulator.terminate(leaver, "2025-12-31")
    body = {"title": "sync", "fields": ["id", "firstName", "status", "terminationDate", "workEmail"]}
    assert api.report(body).json() == {
        "title": "sync",
        "fields": [
            {"id": "id", "type": "int", "name": "EEID"},
            {"id": "firstName", "type": "text", "name": "First Name"},
            {"id": "status", "type": "status", "name": "Status"},
            {"id": "terminationDate", "type": "date", "name": "Termination Date"},
            {"id": "workEmail", "type": "email", "name": "Work Email"},
        ],
        "employees": [
            {"id": hired, "firstName": "Zoë", "status": "Active", "terminationDate": "0000-00-00",
             "workEmail": "zoe.obrien@acme.example"},
            {"id": leaver, "firstName": "José", "status": "Inactive", "terminationDate": "2025-12-31",
             "workEmail": None},
        ],
    }  # fmt: skip


def test_report_answers_the_employment_status_terminated_once_terminated(
    api: Api, emulator: BambooHREmulator, hired: str
) -> None:
    leaver = emulator.hire(firstName="José", lastName="Smith-Jones", employmentHistoryStatus="Contractor")
    emulator.terminate(leaver, "2026-01-05")
    answer = api.report({"title": "sync", "fields": ["id", "employmentHistoryStatus", "hireDate"]}).json()
    assert answer["fields"][1] == {"id": "employmentHistoryStatus", "type": "list", "name": "Employment Status"}
    assert [(e["employmentHistoryStatus"], e["hireDate"]) for e in answer["employees"]] == [
        ("Full-Time", "2026-01-05"),
        ("Terminated", "2026-01-05"),
    ]


@pytest.mark.parametrize("content_type", ["application/json; charset=UTF-8", "text/plain", "application/xml"])
def test_report_needs_content_type_exactly_application_json(api: Api, hired: str, content_type: str) -> None:
    """Anything else is parsed as XML: the JSON body then fails with 400 "Malformed XML"."""
    response = api.report({"fields": ["firstName"]}, headers={"Content-Type": content_type})
    assert (response.status_code, response.headers["X-BambooHR-Error-Message"]) == (400, "Malformed XML")


def test_report_reads_an_xml_definition(api: Api, hired: str) -> None:
    xml = b'<report><title>x</title><fields><field id="firstName"/></fields></report>'
    response = api.session.post(
        f"{api.root}/v1/reports/custom?format=json", data=xml, headers={"Content-Type": "text/xml"}, timeout=5
    )
    assert response.json()["employees"] == [{"id": hired, "firstName": "Zoë"}]


def test_report_drops_unknown_fields_silently(api: Api, hired: str) -> None:
    response = api.report({"fields": ["firstName", "shoeSize"]})
    assert (response.status_code, response.json()["employees"]) == (200, [{"id": hired, "firstName": "Zoë"}])


@pytest.mark.parametrize(("count", "status"), [(400, 200), (401, 400)])
def test_report_allows_at_most_400_fields(api: Api, hired: str, count: int, status: int) -> None:
    assert api.report({"fields": ["firstName"] * count}).status_code == status


@pytest.mark.parametrize("employee_ids", [[2], ["2"], [2, "999"]], ids=["ints", "strings", "unknown-ignored"])
def test_report_filters_by_employee_ids_given_as_ints_or_strings(
    api: Api, emulator: BambooHREmulator, hired: str, employee_ids: list[int | str]
) -> None:
    second = emulator.hire(firstName="Second", lastName="One")
    assert _ids(api.report({"fields": ["firstName"], "filters": {"employeeIds": employee_ids}})) == [second]


def test_report_last_changed_filter_is_on_or_after(api: Api, emulator: BambooHREmulator, hired: str) -> None:
    later = emulator.hire(firstName="Later", lastName="Hire")  # lastChanged = ONE_MINUTE_LATER
    body = {"fields": ["firstName"], "filters": {"lastChanged": {"includeNull": "no", "value": ONE_MINUTE_LATER}}}
    assert _ids(api.report(body)) == [later]


@pytest.mark.parametrize(
    "filters",
    [{"employeeIds": ["abc"]}, {"employeeIds": 3}, {"lastChanged": {"value": "soon"}},
     {"lastChanged": {"value": START, "includeNull": "maybe"}}],
)  # fmt: skip
def test_report_bad_filters_are_400(api: Api, filters: dict[str, Any]) -> None:
    assert api.report({"fields": ["firstName"], "filters": filters}).status_code == 400


def test_report_malformed_json_is_400(api: Api) -> None:
    response = api.session.post(
        f"{api.root}/v1/reports/custom?format=JSON", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize("fmt", ["JSON", "json", "Json"])
def test_report_format_is_case_insensitive(api: Api, hired: str, fmt: str) -> None:
    assert api.report({"fields": ["firstName"]}, fmt=fmt).status_code == 200


@pytest.mark.parametrize(
    ("fmt", "accept", "status"),
    [("bogus", "application/json", 404), (None, "*/*", 404), (None, "application/xml", 404),
     (None, "application/json", 200)],
)  # fmt: skip
def test_report_format_without_query_comes_from_exact_accept(
    api: Api, hired: str, fmt: str | None, accept: str, status: int
) -> None:
    assert api.report({"fields": ["firstName"]}, fmt=fmt, headers={"Accept": accept}).status_code == status


# -- one employee -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["employees/{id}", "employees/{id}/"], ids=["plain", "trailing-slash"])
def test_get_employee_defaults_to_first_and_last_name(api: Api, hired: str, path: str) -> None:
    assert api.get(path.format(id=hired)).json() == {"id": hired, "firstName": "Zoë", "lastName": "O'Brien"}


def test_get_employee_answers_requested_fields_with_empty_values(
    api: Api, emulator: BambooHREmulator, hired: str
) -> None:
    fields = "preferredName,terminationDate,lastChanged,unknownField"
    assert api.get(f"employees/{hired}", fields=fields).json() == {
        "id": hired,
        "preferredName": None,
        "terminationDate": "0000-00-00",
        "lastChanged": START,
    }


@pytest.mark.parametrize("employee_id", ["999", "0", "abc"])
def test_get_unknown_employee_is_404(api: Api, hired: str, employee_id: str) -> None:
    assert api.get(f"employees/{employee_id}").status_code == 404


@pytest.mark.parametrize(("count", "status"), [(400, 200), (401, 400)])
def test_get_employee_allows_at_most_400_fields(api: Api, hired: str, count: int, status: int) -> None:
    assert api.get(f"employees/{hired}", fields=",".join(["firstName"] * count)).status_code == status


def test_get_employee_answers_xml_without_json_accept(bamboohr: RunningBambooHR, hired: str) -> None:
    for api in _api(bamboohr, bamboohr.api_key, accept=None):
        root = ET.fromstring(api.get(f"employees/{hired}").content)  # noqa: S314 - our own emulator's answer
        assert [(root.tag, root.get("id")), *((f.get("id"), f.text) for f in root)] == [
            ("employee", hired),
            ("firstName", "Zoë"),
            ("lastName", "O'Brien"),
        ]


# -- directory ----------------------------------------------------------------------------------------------
def test_directory_lists_active_employees_only(api: Api, emulator: BambooHREmulator, hired: str) -> None:
    leaver = emulator.hire(firstName="Gone", lastName="Away")
    emulator.terminate(leaver)
    emulator.hire(firstName="Future", lastName="Hire", status="Inactive", hireDate="2026-03-01")
    answer = api.get("employees/directory").json()
    assert [e["id"] for e in answer["employees"]] == [hired]
    assert {"id", "type", "name"} == set(answer["fields"][0])
    assert answer["employees"][0]["displayName"] == "Zoë O'Brien"


def test_directory_with_only_current_false_adds_future_hires(api: Api, emulator: BambooHREmulator, hired: str) -> None:
    future = emulator.hire(firstName="Future", lastName="Hire", status="Inactive", hireDate="2026-03-01")
    assert [e["id"] for e in api.get("employees/directory", onlyCurrent="false").json()["employees"]] == [hired, future]


def test_directory_not_shared_is_403(api: Api, emulator: BambooHREmulator, hired: str) -> None:
    emulator.directory_shared = False
    assert api.get("employees/directory").status_code == 403


def test_empty_directory_is_404(api: Api) -> None:
    assert api.get("employees/directory").status_code == 404


# -- threads --------------------------------------------------------------------------------------------------
def test_concurrent_requests_are_all_answered(bamboohr: RunningBambooHR, hired: str) -> None:
    statuses: list[int] = []

    def fetch() -> None:
        for api in _api(bamboohr, bamboohr.api_key):
            statuses.extend(api.get(f"employees/{hired}").status_code for _ in range(20))

    count_before = bamboohr.server.request_count
    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 160
    assert bamboohr.server.request_count - count_before == 160
