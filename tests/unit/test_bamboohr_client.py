"""BambooHRClient: what goes over the wire, and what each kind of answer becomes."""

from __future__ import annotations

import base64
import json
import logging
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers

from bamboohr_moodle_sync.bamboohr import BambooHRClient, normalise_timestamp
from bamboohr_moodle_sync.errors import (
    AuthenticationFailed,
    FieldNotVisible,
    ServiceRejected,
    ServiceUnreachable,
    SyncError,
)
from bamboohr_moodle_sync.http import RetryPolicy, make_session
from bamboohr_moodle_sync.models import Change

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = "https://api.bamboohr.com/api/gateway.php/acme"
KEY = "bhr-secret-key-1234567890"
CHANGED = f"{ROOT}/v1/employees/changed"
REPORT = f"{ROOT}/v1/reports/custom"
FAST = RetryPolicy(total_attempts=4, backoff_factor=0.0, backoff_max=0.0, backoff_jitter=0.0)


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def client() -> BambooHRClient:
    return BambooHRClient(ROOT, KEY, make_session(FAST))


def report_answer(*rows: dict[str, object]) -> dict[str, object]:
    return {"title": "bamboohr-moodle-sync", "fields": [], "employees": list(rows)}


# -- change list -----------------------------------------------------------------------------------


def test_changed_since_sends_the_key_as_basic_auth_and_asks_for_json(
    mocked: responses.RequestsMock, client: BambooHRClient
) -> None:
    call = mocked.get(CHANGED, json={"latest": None, "employees": {}})

    client.changed_since("2026-01-01T00:00:00Z")

    request = call.calls[0].request
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"{KEY}:x".encode()).decode()
    assert request.headers["Accept"] == "application/json"
    assert KEY not in str(request.url)


def test_changed_since_url_encodes_a_plus_offset(mocked: responses.RequestsMock, client: BambooHRClient) -> None:
    call = mocked.get(CHANGED, json={"employees": {}})

    client.changed_since("2026-01-01T00:00:00+01:00")

    url = str(call.calls[0].request.url)
    assert "%2B01%3A00" in url
    assert parse_qs(urlsplit(url).query)["since"] == ["2026-01-01T00:00:00+01:00"]


def test_changed_since_sorts_by_normalised_time_then_id(mocked: responses.RequestsMock, client: BambooHRClient) -> None:
    mocked.get(
        CHANGED,
        json={
            "latest": "2026-01-02T10:00:00+00:00",
            "employees": {
                "7": {"id": "7", "action": "Updated", "lastChanged": "2026-01-02T10:00:00+00:00"},
                "5": {"id": "5", "action": "Deleted", "lastChanged": "2026-01-02T10:00:00+00:00"},
                "3": {"id": "3", "action": "Inserted", "lastChanged": "2026-01-02T11:30:00+02:00"},
            },
        },
    )

    result = client.changed_since("2026-01-01T00:00:00Z")

    assert result.changes == [
        Change("2026-01-02T09:30:00Z", "3", "Inserted"),
        Change("2026-01-02T10:00:00Z", "5", "Deleted"),
        Change("2026-01-02T10:00:00Z", "7", "Updated"),
    ]
    assert result.latest == "2026-01-02T10:00:00Z"


@pytest.mark.parametrize(
    ("date", "read_at"),
    [("Mon, 05 Jan 2026 09:02:00 GMT", "2026-01-05T09:02:00Z"), (None, None), ("yesterday", None)],
)
def test_the_change_list_carries_the_date_header_as_read_at(
    mocked: responses.RequestsMock, client: BambooHRClient, date: str | None, read_at: str | None
) -> None:
    entry = {"id": "7", "action": "Updated", "lastChanged": "2026-01-05T09:00:00+00:00"}
    headers = {"Date": date} if date else {}
    mocked.get(CHANGED, json={"latest": entry["lastChanged"], "employees": {"7": entry}}, headers=headers)

    assert client.changed_since("2026-01-01T00:00:00Z").read_at == read_at


@pytest.mark.parametrize("answer", [{"latest": None, "employees": {}}, {"employees": []}, {}])
def test_an_empty_change_list_has_no_latest(
    mocked: responses.RequestsMock, client: BambooHRClient, answer: dict[str, object]
) -> None:
    mocked.get(CHANGED, json=answer)

    result = client.changed_since("2026-01-01T00:00:00Z")

    assert (result.latest, result.changes) == (None, [])


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2011-06-02T19:26:23+00:00", "2011-06-02T19:26:23Z"),
        ("2011-06-02T19:26:23Z", "2011-06-02T19:26:23Z"),
        ("2011-06-02T21:26:23+0200", "2011-06-02T19:26:23Z"),
        ("2011-06-02T12:26:23-07:00", "2011-06-02T19:26:23Z"),
        ("2011-06-02T19:26:23.750+00:00", "2011-06-02T19:26:23Z"),
        ("2011-06-02 19:26:23", "2011-06-02T19:26:23Z"),
    ],
)
def test_timestamps_normalise_to_utc_seconds(given: str, expected: str) -> None:
    assert normalise_timestamp(given) == expected


# -- employees: the custom report ---------------------------------------------------------------


def test_employees_posts_one_report_with_exact_json_content_type(
    mocked: responses.RequestsMock, client: BambooHRClient
) -> None:
    call = mocked.post(
        REPORT,
        match=[matchers.query_param_matcher({"format": "JSON"})],
        json=report_answer({"id": "3", "status": "Active", "workEmail": "a@acme.test"}),
    )

    client.employees(["3", "4"], ["workEmail"])

    assert len(mocked.calls) == 1
    request = call.calls[0].request
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert json.loads(request.body or b"") == {
        "title": "bamboohr-moodle-sync",
        "fields": ["id", "status", "workEmail"],
        "filters": {"employeeIds": [3, 4]},
    }


def test_employees_answers_string_ids_and_none_for_empty_values(
    mocked: responses.RequestsMock, client: BambooHRClient
) -> None:
    mocked.post(
        REPORT,
        json=report_answer(
            {"id": 3, "status": "Active", "workEmail": None, "hireDate": "0000-00-00"},
            {"id": "4", "status": "Inactive", "workEmail": "b@acme.test", "hireDate": "2025-02-03"},
        ),
    )

    result = client.employees(["3", "4", "9"], ["workEmail", "hireDate"])

    assert result == {
        "3": {"id": "3", "status": "Active", "workEmail": None, "hireDate": None},
        "4": {"id": "4", "status": "Inactive", "workEmail": "b@acme.test", "hireDate": "2025-02-03"},
    }


def test_a_field_hidden_for_every_employee_raises_field_not_visible(
    mocked: responses.RequestsMock, client: BambooHRClient
) -> None:
    mocked.post(REPORT, json=report_answer({"id": "3", "status": "Active"}, {"id": "4", "status": "Active"}))

    with pytest.raises(FieldNotVisible, match="workEmail") as caught:
        client.employees(["3", "4"], ["workEmail"])
    assert "permission" in str(caught.value)


def test_a_field_present_for_one_employee_is_visible(mocked: responses.RequestsMock, client: BambooHRClient) -> None:
    mocked.post(
        REPORT, json=report_answer({"id": "3", "status": "Active"}, {"id": "4", "workEmail": "", "status": "A"})
    )

    assert client.employees(["3", "4"], ["workEmail"])["4"]["workEmail"] == ""


def test_no_ids_make_no_call(mocked: responses.RequestsMock, client: BambooHRClient) -> None:
    assert client.employees([], ["workEmail"]) == {}
    assert len(mocked.calls) == 0


# -- employees: the per-employee fallback -------------------------------------------------------


@pytest.mark.parametrize("refusal", [403, 404])
def test_a_refused_report_falls_back_to_one_get_per_employee(
    mocked: responses.RequestsMock, client: BambooHRClient, refusal: int
) -> None:
    mocked.post(REPORT, status=refusal)
    mocked.get(f"{ROOT}/v1/employees/3", json={"id": "3", "status": "Active", "workEmail": "a@acme.test"})
    mocked.get(f"{ROOT}/v1/employees/4", status=404)

    result = client.employees(["3", "4"], ["workEmail"])

    assert result == {"3": {"id": "3", "status": "Active", "workEmail": "a@acme.test"}}
    get = mocked.calls[1].request
    assert parse_qs(urlsplit(str(get.url)).query)["fields"] == ["id,status,workEmail"]
    assert get.headers["Accept"] == "application/json"


def test_a_fallback_refused_too_raises_authentication_failed(
    mocked: responses.RequestsMock, client: BambooHRClient
) -> None:
    mocked.post(REPORT, status=403)
    mocked.get(f"{ROOT}/v1/employees/3", status=403)

    with pytest.raises(AuthenticationFailed, match="BAMBOOHR_SECRET_ID"):
        client.employees(["3"], ["workEmail"])


def test_a_bad_report_request_does_not_fall_back(mocked: responses.RequestsMock, client: BambooHRClient) -> None:
    mocked.post(REPORT, status=400, headers={"X-BambooHR-Error-Message": "Malformed XML"})

    with pytest.raises(ServiceRejected, match="Malformed XML") as caught:
        client.employees(["3"], ["workEmail"])
    assert caught.value.status == 400
    assert len(mocked.calls) == 1


# -- errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_fail_fast_naming_the_secret(
    mocked: responses.RequestsMock, client: BambooHRClient, status: int
) -> None:
    mocked.get(CHANGED, status=status)

    with pytest.raises(AuthenticationFailed, match="BAMBOOHR_SECRET_ID") as caught:
        client.changed_since("2026-01-01T00:00:00Z")
    assert caught.value.status == status
    assert len(mocked.calls) == 1


def test_a_rejection_carries_status_request_id_and_bamboohr_message(
    mocked: responses.RequestsMock, client: BambooHRClient
) -> None:
    mocked.get(CHANGED, status=400, headers={"x-request-id": "req-42", "X-BambooHR-Error-Message": "bad since"})

    with pytest.raises(ServiceRejected) as caught:
        client.changed_since("yesterday")
    assert (caught.value.status, caught.value.request_id) == (400, "req-42")
    assert "bad since" in str(caught.value)


def test_a_503_storm_then_success_is_absorbed_by_the_transport(
    mocked: responses.RequestsMock, client: BambooHRClient
) -> None:
    for _ in range(3):
        mocked.get(CHANGED, status=503, headers={"Retry-After": "0"})
    mocked.get(CHANGED, json={"employees": {}})

    assert client.changed_since("2026-01-01T00:00:00Z").changes == []
    assert len(mocked.calls) == 4


def test_throttling_past_the_bound_is_rejected_with_the_status(
    mocked: responses.RequestsMock, client: BambooHRClient
) -> None:
    mocked.get(CHANGED, status=503)

    with pytest.raises(ServiceRejected) as caught:
        client.changed_since("2026-01-01T00:00:00Z")
    assert caught.value.status == 503
    assert len(mocked.calls) == FAST.total_attempts


def test_an_unreachable_service_raises_service_unreachable_naming_the_host(mocked: responses.RequestsMock) -> None:
    mocked.get(CHANGED, body=requests.ConnectionError("connection refused"))

    with pytest.raises(ServiceUnreachable) as caught:
        BambooHRClient(ROOT, KEY, requests.Session()).changed_since("2026-01-01T00:00:00Z")
    assert isinstance(caught.value.__cause__, requests.ConnectionError)
    assert f"BambooHR at {urlsplit(ROOT).netloc} could not be reached" in str(caught.value)
    assert KEY not in str(caught.value)


def test_an_xml_answer_is_rejected(mocked: responses.RequestsMock, client: BambooHRClient) -> None:
    mocked.get(CHANGED, body="<employees/>", content_type="text/xml")

    with pytest.raises(ServiceRejected, match="not JSON"):
        client.changed_since("2026-01-01T00:00:00Z")


@pytest.mark.parametrize(("status", "headers"), [(401, {}), (403, {}), (500, {"X-BambooHR-Error-Message": KEY})])
def test_the_key_never_appears_in_errors_or_logs(
    mocked: responses.RequestsMock,
    client: BambooHRClient,
    caplog: pytest.LogCaptureFixture,
    status: int,
    headers: dict[str, str],
) -> None:
    mocked.post(REPORT, status=403)
    mocked.get(f"{ROOT}/v1/employees/3", status=status, headers=headers)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(SyncError) as caught:
        client.employees(["3"], ["workEmail"])

    texts = [str(caught.value), repr(caught.value), repr(client), caplog.text]
    assert all(KEY not in text for text in texts), texts
