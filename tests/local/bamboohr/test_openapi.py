"""The emulator's answers validate against the official BambooHR OpenAPI 3.1 spec (openapi-core).

The spec's server is ``https://{companyDomain}.bamboohr.com`` with paths ``/api/v1/...``; the emulator serves the
gateway form ``/api/gateway.php/{companyDomain}/v1/...`` of the same operations, so paths are mapped before
validating. Only documented statuses can be checked: the spec lists no 401 for these four operations.
openapi-core cannot validate XML bodies (it checks the parsed element against the object schema), so XML answers
are checked for the media type the spec declares.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.response.exceptions import InvalidData

from bamboohr_moodle_sync.local.bamboohr.emulator import BambooHREmulator, RunningBambooHR
from bamboohr_moodle_sync.local.server import EmulatorServer

if TYPE_CHECKING:
    from collections.abc import Iterator

SPEC_FILE = Path("/work/shared/reference/bamboohr-openapi.yaml")
SPEC_HOST = "https://acme.bamboohr.com"
SINCE = "2020-01-01T00:00:00Z"
ALWAYS_SET_FIELDS = ["id", "firstName", "lastName", "employeeNumber", "status", "department", "division", "jobTitle",
                     "location", "hireDate", "terminationDate", "lastChanged"]  # fmt: skip


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def openapi(spec: dict[str, Any]) -> OpenAPI:
    return OpenAPI.from_dict(spec)  # also validates the spec itself


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(BambooHREmulator()) as running:
        yield running


@pytest.fixture
def bamboohr(server: EmulatorServer) -> RunningBambooHR:
    emulator = BambooHREmulator()
    emulator.seed(30)
    server.handler = emulator
    return RunningBambooHR(emulator, server)


@pytest.fixture
def session(bamboohr: RunningBambooHR) -> Iterator[requests.Session]:
    session = requests.Session()
    session.auth = (bamboohr.api_key, "x")
    session.headers["Accept"] = "application/json"
    yield session
    session.close()


def _validate(openapi: OpenAPI, response: requests.Response) -> None:
    """Raise unless ``response`` is what the spec documents for the request that produced it."""
    sent = response.request
    url = urlsplit(sent.url or "")
    path = re.sub(r"^/api/gateway\.php/[^/]+/v1/", "/api/v1/", url.path).rstrip("/")
    request = MockRequest(SPEC_HOST, (sent.method or "get").lower(), path, args=dict(parse_qsl(url.query)))
    content_type = response.headers["Content-Type"]
    openapi.validate_response(request, MockResponse(response.content, response.status_code, content_type=content_type))


def _get(session: requests.Session, bamboohr: RunningBambooHR, path: str, **params: str) -> requests.Response:
    return session.get(f"{bamboohr.api_url}/v1/{path}", params=params, timeout=5)


def _report(session: requests.Session, bamboohr: RunningBambooHR, body: object, fmt: str = "JSON") -> requests.Response:
    return session.post(f"{bamboohr.api_url}/v1/reports/custom", params={"format": fmt}, json=body, timeout=5)


def test_a_wrong_answer_fails_validation(
    openapi: OpenAPI, session: requests.Session, bamboohr: RunningBambooHR
) -> None:
    """The validator is not vacuous: a change list whose ``latest`` is a number is refused."""
    response = _get(session, bamboohr, "employees/changed", since=SINCE)
    response._content = b'{"latest": 5, "employees": {}}'
    with pytest.raises(InvalidData):
        _validate(openapi, response)


@pytest.mark.parametrize(
    ("since", "change_type"),
    [(SINCE, "all"), (SINCE, "deleted"), ("2099-01-01T00:00:00+0000", "all")],
    ids=["changes", "deleted", "nothing-changed"],
)
def test_change_list_matches_spec(
    openapi: OpenAPI, session: requests.Session, bamboohr: RunningBambooHR, since: str, change_type: str
) -> None:
    bamboohr.emulator.delete("3")
    response = _get(session, bamboohr, "employees/changed", since=since, type=change_type)
    assert response.status_code == 200
    _validate(openapi, response)


@pytest.mark.parametrize("params", [{"since": "yesterday"}, {"since": SINCE, "type": "bogus"}, {}])
def test_change_list_400_is_documented(
    openapi: OpenAPI, session: requests.Session, bamboohr: RunningBambooHR, params: dict[str, str]
) -> None:
    response = _get(session, bamboohr, "employees/changed", **params)
    assert response.status_code == 400
    _validate(openapi, response)


def test_custom_report_matches_spec(openapi: OpenAPI, session: requests.Session, bamboohr: RunningBambooHR) -> None:
    body = {"title": "sync", "fields": ALWAYS_SET_FIELDS, "filters": {"employeeIds": [1, 2, 3]}}
    response = _report(session, bamboohr, body)
    assert (response.status_code, len(response.json()["employees"])) == (200, 3)
    _validate(openapi, response)


def test_custom_report_empty_values_are_null_which_the_spec_does_not_allow(
    openapi: OpenAPI, session: requests.Session, bamboohr: RunningBambooHR
) -> None:
    """Spec stricter than reality: it types every report value as a string, but empty fields come back null.

    Public clients (Airbyte's source-bamboo-hr declares report fields as ``["null", "string"]``) and the spec's own
    GetEmployeeResponse (``[string, 'null']``) show nulls, so the emulator keeps them and clients must cope.
    """
    employee_id = bamboohr.emulator.hire(firstName="No", lastName="Email", workEmail=None)
    response = _report(session, bamboohr, {"fields": ["workEmail"], "filters": {"employeeIds": [employee_id]}})
    assert response.json()["employees"] == [{"id": employee_id, "workEmail": None}]
    with pytest.raises(InvalidData):
        _validate(openapi, response)


@pytest.mark.parametrize(
    ("body", "fmt", "status"),
    [({"fields": ["firstName"] * 401}, "JSON", 400), ({"fields": "firstName"}, "JSON", 400),
     ({"fields": ["firstName"]}, "bogus", 404)],
    ids=["too-many-fields", "malformed", "unknown-format"],
)  # fmt: skip
def test_custom_report_errors_are_documented(
    openapi: OpenAPI, session: requests.Session, bamboohr: RunningBambooHR, body: object, fmt: str, status: int
) -> None:
    response = _report(session, bamboohr, body, fmt)
    assert response.status_code == status
    _validate(openapi, response)


@pytest.mark.parametrize(
    ("path", "fields"),
    [("employees/1", None), ("employees/1/", None),
     ("employees/1", "firstName,lastName,preferredName,workEmail,homeEmail,status,department,division,location,"
      "hireDate,terminationDate,employeeNumber,jobTitle,lastChanged")],
    ids=["default-fields", "trailing-slash", "many-fields"],
)  # fmt: skip
def test_get_employee_matches_spec(
    openapi: OpenAPI, session: requests.Session, bamboohr: RunningBambooHR, path: str, fields: str | None
) -> None:
    response = _get(session, bamboohr, path, **({"fields": fields} if fields else {}))
    assert response.status_code == 200
    _validate(openapi, response)


@pytest.mark.parametrize(
    ("path", "fields", "status"),
    [("employees/999", "firstName", 404), ("employees/1", ",".join(["firstName"] * 401), 400)],
    ids=["unknown-id", "too-many-fields"],
)
def test_get_employee_errors_are_documented(
    openapi: OpenAPI, session: requests.Session, bamboohr: RunningBambooHR, path: str, fields: str, status: int
) -> None:
    response = _get(session, bamboohr, path, fields=fields)
    assert response.status_code == status
    _validate(openapi, response)


def test_forbidden_key_403_is_documented(openapi: OpenAPI, bamboohr: RunningBambooHR) -> None:
    bamboohr.emulator.add_api_key("disabled", forbidden=True)
    response = requests.get(f"{bamboohr.api_url}/v1/employees/1", auth=("disabled", "x"), timeout=5)
    assert response.status_code == 403
    _validate(openapi, response)


def test_directory_matches_spec(openapi: OpenAPI, session: requests.Session, bamboohr: RunningBambooHR) -> None:
    response = _get(session, bamboohr, "employees/directory")
    assert response.status_code == 200
    _validate(openapi, response)


@pytest.mark.parametrize(("shared", "employees", "status"), [(False, True, 403), (True, False, 404)])
def test_directory_errors_are_documented(
    openapi: OpenAPI, session: requests.Session, bamboohr: RunningBambooHR, shared: bool, employees: bool, status: int
) -> None:
    bamboohr.emulator.directory_shared = shared
    if not employees:
        for employee in bamboohr.emulator.employees():
            bamboohr.emulator.delete(str(employee["id"]))
    response = _get(session, bamboohr, "employees/directory")
    assert response.status_code == status
    _validate(openapi, response)


@pytest.mark.parametrize(
    ("path", "spec_path", "params"),
    [("employees/1", "/api/v1/employees/{id}", {}), ("employees/directory", "/api/v1/employees/directory", {}),
     ("employees/changed", "/api/v1/employees/changed", {"since": SINCE})],
)  # fmt: skip
def test_xml_answers_use_the_media_type_the_spec_declares(
    spec: dict[str, Any],
    session: requests.Session,
    bamboohr: RunningBambooHR,
    path: str,
    spec_path: str,
    params: dict[str, str],
) -> None:
    response = session.get(f"{bamboohr.api_url}/v1/{path}", params=params, headers={"Accept": "*/*"}, timeout=5)
    declared = spec["paths"][spec_path]["get"]["responses"]["200"]["content"]
    assert response.headers["Content-Type"] in declared
    assert response.headers["Content-Type"] != "application/json"
