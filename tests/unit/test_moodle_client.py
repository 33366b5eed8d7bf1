"""MoodleClient: the form it posts, how it chunks and splits, and what each kind of answer becomes."""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
import responses

from bamboohr_moodle_sync.errors import (
    AuthenticationFailed,
    ServiceRejected,
    ServiceUnreachable,
    SyncError,
    WriteUnconfirmed,
)
from bamboohr_moodle_sync.http import RetryPolicy, make_session
from bamboohr_moodle_sync.models import RecordFailure
from bamboohr_moodle_sync.moodle import MoodleClient, MoodleError
from bamboohr_moodle_sync.moodle_wire import encode_form, leaf_count
from bamboohr_moodle_sync.moodle_writes import MAX_UNCONFIRMED

SITE = "https://lms.acme.test"
ENDPOINT = f"{SITE}/webservice/rest/server.php"
TOKEN = "moodle-token-abcdef0123456789"
FAST = RetryPolicy(total_attempts=3, backoff_factor=0.0, backoff_max=0.0, backoff_jitter=0.0)
INVALID = {
    "exception": "core\\exception\\invalid_parameter_exception",
    "errorcode": "invalidparameter",
    "message": "Invalid parameter value detected",
}

Handler = Callable[[str, dict[str, str]], Any]


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def client() -> MoodleClient:
    return MoodleClient(SITE, TOKEN, make_session(FAST))


def serve(mocked: responses.RequestsMock, handler: Handler) -> list[dict[str, str]]:
    """Answer every POST with ``handler(wsfunction, form)``; returns the forms received."""
    forms: list[dict[str, str]] = []

    def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str | Exception]:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        form = dict(parse_qsl(body, keep_blank_values=True))
        forms.append(form)
        answer = handler(form["wsfunction"], form)
        return 200, {}, answer if isinstance(answer, Exception) else json.dumps(answer)

    mocked.add_callback(responses.POST, ENDPOINT, callback=callback)
    return forms


def records(form: dict[str, str], name: str) -> dict[int, dict[str, str]]:
    """``users[0][username]=a`` -> ``{0: {"username": "a"}}`` (one level deep is enough here)."""
    out: dict[int, dict[str, str]] = {}
    for key, value in form.items():
        if match := re.fullmatch(rf"{name}\[(\d+)\]\[(\w+)\]", key):
            out.setdefault(int(match[1]), {})[match[2]] = value
    return out


def user(n: int, **extra: object) -> dict[str, object]:
    return {
        "username": f"u{n}",
        "firstname": "F",
        "lastname": "L",
        "email": f"u{n}@acme.test",
        "idnumber": str(n),
    } | extra


# -- the wire ----------------------------------------------------------------------------------------------


def test_calls_post_the_token_in_the_body_never_the_url(mocked: responses.RequestsMock, client: MoodleClient) -> None:
    forms = serve(mocked, lambda fn, form: {"sitename": "Acme"})

    assert client.site_info() == {"sitename": "Acme"}

    request = mocked.calls[0].request
    assert request.method == "POST"
    assert TOKEN not in str(request.url)
    assert forms[0] == {"wstoken": TOKEN, "wsfunction": "core_webservice_get_site_info", "moodlewsrestformat": "json"}


def test_arguments_use_php_bracket_encoding_with_bools_as_0_1_and_none_left_out() -> None:
    value = [{"username": "a", "suspended": True, "city": None, "customfields": [{"type": "team", "value": "x"}]}]

    assert encode_form("users", value) == [
        ("users[0][username]", "a"),
        ("users[0][suspended]", "1"),
        ("users[0][customfields][0][type]", "team"),
        ("users[0][customfields][0][value]", "x"),
    ]


@pytest.mark.parametrize(("count", "calls"), [(199, 1), (200, 2)])
def test_five_leaf_users_fit_199_to_a_call_under_1000_vars(
    mocked: responses.RequestsMock, client: MoodleClient, count: int, calls: int
) -> None:
    forms = serve(
        mocked,
        lambda fn, form: [{"id": 1000 + i, "username": u["username"]} for i, u in records(form, "users").items()],
    )

    created, failures = client.create_users([user(n) for n in range(count)])

    assert (len(forms), len(created), failures) == (calls, count, [])


def test_chunks_follow_each_records_own_leaf_count(mocked: responses.RequestsMock) -> None:
    client = MoodleClient(SITE, TOKEN, requests.Session(), max_input_vars=60)
    forms = serve(mocked, lambda fn, form: {"warnings": []})
    users: list[dict[str, object]] = [
        {"id": n, "suspended": 1} if n % 2 else {"id": n, "firstname": "F", "lastname": "L", "email": "e", "city": None}
        for n in range(40)
    ]

    assert client.update_users(users) == []

    sent = [[int(r["id"]) for _, r in sorted(records(form, "users").items())] for form in forms]
    assert [n for chunk in sent for n in chunk] == list(range(40))
    assert all(len(form) <= 60 for form in forms)
    # packed by actual size: each chunk is full, the next record would not have fitted
    for (form, _), (_, next_chunk) in itertools.pairwise(zip(forms, sent, strict=True)):
        assert len(form) + leaf_count(users[next_chunk[0]]) > 60


def test_a_record_too_large_for_any_call_fails_without_a_call(mocked: responses.RequestsMock) -> None:
    client = MoodleClient(SITE, TOKEN, requests.Session(), max_input_vars=10)
    serve(mocked, creator(set()))

    created, failures = client.create_users([user(1, city="C", institution="I", department="D"), user(2)])

    assert [i for i, _ in created] == ["2"]
    assert [f.employee_id for f in failures] == ["1"]
    assert "max_input_vars" in failures[0].reason


def test_leaf_count_counts_nested_leaves_and_skips_none() -> None:
    assert leaf_count({"a": "1", "b": None, "c": [{"type": "x", "value": "y"}], "d": False}) == 4


# -- find_users -------------------------------------------------------------------------------------------


def test_find_users_parses_users_with_defaults_for_missing_fields(
    mocked: responses.RequestsMock, client: MoodleClient
) -> None:
    answer = [
        {"id": 7, "username": "ann", "suspended": True, "auth": "manual", "email": "a@acme.test", "department": "HR"},
        {"id": 8, "username": "bob", "suspended": False, "auth": "oauth2", "idnumber": "42",
         "customfields": [{"shortname": "team", "value": "Blue"}]},
    ]  # fmt: skip
    forms = serve(mocked, lambda fn, form: answer)

    ann, bob = client.find_users("idnumber", ["42", "43", "42"])

    assert forms[0]["field"] == "idnumber"
    assert [v for k, v in forms[0].items() if k.startswith("values[")] == ["42", "43"]
    assert (ann.id, ann.suspended, ann.idnumber, ann.email, ann.fields["department"]) == (
        7,
        True,
        "",
        "a@acme.test",
        "HR",
    )
    assert (bob.suspended, bob.auth, bob.idnumber, bob.fields["lastname"], bob.fields["profile_field_team"]) == (
        False,
        "oauth2",
        "42",
        "",
        "Blue",
    )


def test_find_users_without_values_makes_no_call(mocked: responses.RequestsMock, client: MoodleClient) -> None:
    assert client.find_users("username", []) == []
    assert len(mocked.calls) == 0


def test_find_users_chunks_under_max_input_vars(mocked: responses.RequestsMock) -> None:
    client = MoodleClient(SITE, TOKEN, requests.Session(), max_input_vars=1000)
    forms = serve(mocked, lambda fn, form: [])

    client.find_users("idnumber", [str(n) for n in range(2500)])

    assert all(len(form) <= 1000 for form in forms)
    assert sum(len(form) - 4 for form in forms) == 2500


def test_find_users_never_sends_a_value_moodle_would_reject(
    mocked: responses.RequestsMock, client: MoodleClient
) -> None:
    forms = serve(mocked, lambda fn, form: [])

    client.find_users("username", ["Ann", " bob", "carl"])

    assert [v for k, v in forms[0].items() if k.startswith("values[")] == ["carl"]


def test_find_users_isolates_a_value_moodle_refuses(mocked: responses.RequestsMock, client: MoodleClient) -> None:
    def handler(fn: str, form: dict[str, str]) -> Any:
        values = [v for k, v in form.items() if k.startswith("values[")]
        if "bad'name" in values:
            return INVALID
        return [{"id": int(v[1:]), "username": v, "suspended": False} for v in values]

    serve(mocked, handler)

    found = client.find_users("username", ["u1", "u2", "bad'name", "u4"])

    assert sorted(u.id for u in found) == [1, 2, 4]


# -- create_users -------------------------------------------------------------------------------------------


def creator(bad: set[str]) -> Handler:
    """A Moodle that rejects a whole create call when any of its users is bad (one transaction)."""
    ids = itertools.count(100)

    def handler(fn: str, form: dict[str, str]) -> Any:
        users = records(form, "users")
        if any(u["username"] in bad for u in users.values()):
            return INVALID
        return [{"id": next(ids), "username": u["username"]} for _, u in sorted(users.items())]

    return handler


def test_create_isolates_the_bad_record_and_lands_the_rest(
    mocked: responses.RequestsMock, client: MoodleClient
) -> None:
    forms = serve(mocked, creator({"u5"}))

    created, failures = client.create_users([user(n) for n in range(8)])

    assert sorted(idnumber for idnumber, _ in created) == ["0", "1", "2", "3", "4", "6", "7"]
    assert failures == [RecordFailure("5", "invalidparameter: Invalid parameter value detected")]
    assert len(forms) <= 1 + 2 * 3  # log2(8) halvings, two calls each


def test_create_keeps_debuginfo_apart_from_the_reason_as_personal_data(
    mocked: responses.RequestsMock, client: MoodleClient
) -> None:
    serve(mocked, lambda fn, form: INVALID | {"debuginfo": "Username already exists: u1"})

    created, failures = client.create_users([user(1)])

    assert created == []
    assert failures == [
        RecordFailure("1", "invalidparameter: Invalid parameter value detected", "Username already exists: u1")
    ]


def test_create_splits_on_an_over_long_value(
    mocked: responses.RequestsMock, client: MoodleClient, caplog: pytest.LogCaptureFixture
) -> None:
    dml = {"exception": "dml_write_exception", "errorcode": "dmlwriteexception", "message": "Error writing to database"}
    ids = itertools.count(1)
    serve(
        mocked,
        lambda fn, form: (
            dml
            if any(len(u.get("department", "")) > 255 for u in records(form, "users").values())
            else [{"id": next(ids), "username": u["username"]} for u in records(form, "users").values()]
        ),
    )

    created, failures = client.create_users([user(1), user(2, department="x" * 300), user(3)])

    assert [f.employee_id for f in failures] == ["2"]
    assert "dmlwriteexception" in failures[0].reason
    assert sorted(i for i, _ in created) == ["1", "3"]
    assert "Moodle rejected a chunk of 3 (dmlwriteexception); splitting it in two" in caplog.text


def test_create_maps_new_ids_to_idnumbers(mocked: responses.RequestsMock, client: MoodleClient) -> None:
    serve(mocked, lambda fn, form: [{"id": 9, "username": "u2"}, {"id": 8, "username": "u1"}])

    created, _ = client.create_users([user(1), user(2)])

    assert sorted(created) == [("1", 8), ("2", 9)]


# -- update_users ------------------------------------------------------------------------------------------


def test_update_warnings_become_failures_keyed_by_moodle_id(
    mocked: responses.RequestsMock, client: MoodleClient
) -> None:
    warning = {"item": "user", "itemid": 999999, "warningcode": "invaliduserid", "message": "Invalid user ID"}
    forms = serve(mocked, lambda fn, form: {"warnings": [warning]})

    failures = client.update_users([{"id": 5, "suspended": True}, {"id": 999999, "suspended": True}])

    assert failures == [RecordFailure("999999", "invaliduserid: Invalid user ID")]
    assert forms[0]["users[0][suspended]"] == "1"


def test_update_splits_a_whole_call_rejection(mocked: responses.RequestsMock, client: MoodleClient) -> None:
    serve(
        mocked,
        lambda fn, form: INVALID if any("bogus" in u for u in records(form, "users").values()) else {"warnings": []},
    )

    failures = client.update_users([{"id": 1, "city": "A"}, {"id": 2, "bogus": "x"}, {"id": 3, "city": "C"}])

    assert [f.employee_id for f in failures] == ["2"]


# -- errors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exception", "errorcode"),
    [
        ("core\\exception\\moodle_exception", "invalidtoken"),
        ("moodle_exception", "invalidtoken"),
        ("webservice_access_exception", "accessexception"),
    ],
)
def test_a_refused_token_raises_authentication_failed_naming_the_secret(
    mocked: responses.RequestsMock, client: MoodleClient, exception: str, errorcode: str
) -> None:
    serve(mocked, lambda fn, form: {"exception": exception, "errorcode": errorcode, "message": "Invalid token"})

    with pytest.raises(AuthenticationFailed, match="MOODLE_SECRET_ID") as caught:
        client.create_users([user(n) for n in range(4)])
    assert caught.value.errorcode == errorcode
    assert len(mocked.calls) == 1  # no splitting, no retry


def test_an_error_that_is_not_about_records_propagates_without_splitting(
    mocked: responses.RequestsMock, client: MoodleClient
) -> None:
    error = {"exception": "moodle_exception", "errorcode": "servicerequireslogin", "message": "Login required"}
    serve(mocked, lambda fn, form: error)

    with pytest.raises(MoodleError) as caught:
        client.create_users([user(n) for n in range(4)])
    assert (caught.value.errorcode, caught.value.exception) == ("servicerequireslogin", "moodle_exception")
    assert len(mocked.calls) == 1


@pytest.mark.parametrize("status", [404, 500])
def test_a_non_200_answer_raises_service_rejected(
    mocked: responses.RequestsMock, client: MoodleClient, status: int
) -> None:
    mocked.post(ENDPOINT, status=status)

    with pytest.raises(ServiceRejected) as caught:
        client.site_info()
    assert caught.value.status == status


def test_a_503_storm_then_success_is_absorbed_by_the_transport(
    mocked: responses.RequestsMock, client: MoodleClient
) -> None:
    mocked.post(ENDPOINT, status=503, headers={"Retry-After": "0"})
    mocked.post(ENDPOINT, json={"sitename": "Acme"})

    assert client.site_info() == {"sitename": "Acme"}


def test_an_unreachable_moodle_names_its_host_and_never_the_token(mocked: responses.RequestsMock) -> None:
    mocked.post(ENDPOINT, body=requests.ConnectionError("connection refused"))

    with pytest.raises(ServiceUnreachable, match=r"Moodle at lms\.acme\.test could not be reached") as caught:
        MoodleClient(SITE, TOKEN, requests.Session()).site_info()
    assert TOKEN not in str(caught.value)


def test_an_xml_answer_is_rejected(mocked: responses.RequestsMock, client: MoodleClient) -> None:
    mocked.post(ENDPOINT, body="<RESPONSE/>", content_type="application/xml")

    with pytest.raises(ServiceRejected, match="JSON"):
        client.site_info()


def test_the_token_never_appears_in_errors_or_logs(
    mocked: responses.RequestsMock, client: MoodleClient, caplog: pytest.LogCaptureFixture
) -> None:
    echo = {"exception": "moodle_exception", "errorcode": "invalidtoken", "message": f"bad {TOKEN}", "debuginfo": TOKEN}
    serve(mocked, lambda fn, form: echo)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(SyncError) as caught:
        client.site_info()

    texts = [str(caught.value), repr(caught.value), repr(client), caplog.text]
    assert all(TOKEN not in text for text in texts), texts


def test_a_redirecting_site_is_refused_without_following_it(
    mocked: responses.RequestsMock, client: MoodleClient
) -> None:
    mocked.add(responses.POST, ENDPOINT, status=308, headers={"Location": "https://elsewhere.test/server.php"})
    followed = mocked.add(responses.POST, "https://elsewhere.test/server.php", json=[])
    with pytest.raises(ServiceRejected, match="set MOODLE_URL") as error:
        client.site_info()
    assert followed.call_count == 0, "the token must not travel to the redirect's target"
    assert error.value.status == 308


# -- lost answers and slow creates --------------------------------------------------------------------------
LOST = requests.ReadTimeout("read timed out")


class FakeMoodle:
    """A Moodle behind ``serve``: creates take ``per_user`` seconds of the fake clock; ``lose`` answers are lost
    (after the users were created when ``commits``, or without a trace); lookups see what was created."""

    def __init__(self, *, per_user: float = 0.0, lose: int = 0, commits: bool = True, visible_after: int = 0):
        self.now = 0.0
        self.per_user, self.lose, self.commits, self.visible_after = per_user, lose, commits, visible_after
        self.users: dict[str, dict[str, object]] = {}
        self.chunks: list[int] = []
        self.lookups = 0
        self.ids = itertools.count(100)

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self, fn: str, form: dict[str, str]) -> Any:
        if fn == "core_user_get_users_by_field":
            self.lookups += 1
            if self.lookups <= self.visible_after:
                return []
            values = {v for k, v in form.items() if k.startswith("values[")}
            key = form["field"]
            return [u for u in self.users.values() if str(u[key]) in values]
        if fn == "core_user_update_users":
            for change in records(form, "users").values():
                target = next(u for u in self.users.values() if str(u["id"]) == change["id"])
                target.update({k: v for k, v in change.items() if k != "id"})
            if self.lose:
                self.lose -= 1
                return LOST
            return {"warnings": []}
        chunk = records(form, "users")
        self.chunks.append(len(chunk))
        self.now += self.per_user * len(chunk)
        lost = self.lose > 0
        self.lose -= lost
        if not lost or self.commits:
            for record in chunk.values():
                self.users[record["username"]] = {"id": next(self.ids), **record}
        if lost:
            return LOST
        return [{"id": self.users[r["username"]]["id"], "username": r["username"]} for r in chunk.values()]


def fake_client(moodle: FakeMoodle, **settings: Any) -> MoodleClient:
    return MoodleClient(
        SITE, TOKEN, make_session(FAST), timeout=(1.0, 10.0), clock=lambda: moodle.now, sleep=moodle.sleep, **settings
    )


def test_a_create_whose_answer_is_lost_is_looked_up_not_sent_again(mocked: responses.RequestsMock) -> None:
    moodle = FakeMoodle(lose=1)
    serve(mocked, moodle)

    created, failures = fake_client(moodle).create_users([user(n) for n in range(5)])

    assert (sorted(i for i, _ in created), failures, moodle.chunks) == (["0", "1", "2", "3", "4"], [], [5])


def test_a_lost_create_that_commits_later_is_waited_for(mocked: responses.RequestsMock) -> None:
    moodle = FakeMoodle(lose=1, visible_after=2)
    serve(mocked, moodle)

    created, failures = fake_client(moodle).create_users([user(n) for n in range(5)])

    assert (len(created), failures, moodle.chunks, moodle.lookups) == (5, [], [5], 3)


def test_a_lost_create_still_running_past_twice_the_timeout_is_waited_for_not_sent_again(
    mocked: responses.RequestsMock,
) -> None:
    moodle = FakeMoodle(lose=1, visible_after=10)  # its users appear about 2.2 read timeouts after it was sent
    serve(mocked, moodle)

    created, failures = fake_client(moodle).create_users([user(n) for n in range(5)])

    assert (len(created), failures, moodle.chunks) == (5, [], [5])
    assert 20 < moodle.now < 40


def test_a_lost_create_that_never_appears_is_sent_again_after_four_timeouts(
    mocked: responses.RequestsMock,
) -> None:
    moodle = FakeMoodle(lose=1, commits=False)
    serve(mocked, moodle)

    created, failures = fake_client(moodle).create_users([user(n) for n in range(5)])

    assert (len(created), failures, moodle.chunks) == (5, [], [5, 5])
    assert moodle.now >= 40  # it waited four read timeouts since the call was sent before sending again


def test_later_create_chunks_fit_half_the_read_timeout(
    mocked: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    moodle = FakeMoodle(per_user=1.0)
    serve(mocked, moodle)

    created, _ = fake_client(moodle, max_input_vars=60).create_users([user(n) for n in range(30)])

    assert (len(created), moodle.chunks) == (30, [11, 5, 5, 5, 4])
    assert "Moodle took 1.00 s per created user; later create calls carry at most 5 users each" in caplog.text


def test_a_lost_create_sizes_what_is_sent_again_by_how_long_it_took(mocked: responses.RequestsMock) -> None:
    moodle = FakeMoodle(per_user=1.0, lose=1, commits=False)
    serve(mocked, moodle)

    created, failures = fake_client(moodle).create_users([user(n) for n in range(12)])

    assert (len(created), failures) == (12, [])
    assert moodle.chunks[0] == 12 and max(moodle.chunks[1:]) <= 5


def test_more_lost_answers_than_the_bound_fail_the_batch(mocked: responses.RequestsMock) -> None:
    moodle = FakeMoodle(lose=100, commits=False)
    serve(mocked, moodle)

    with pytest.raises(WriteUnconfirmed, match=r"lms\.acme\.test did not answer a write, which may have landed"):
        fake_client(moodle).create_users([user(1)])
    assert len(moodle.chunks) == MAX_UNCONFIRMED + 1


def test_a_create_reported_failed_that_the_lost_call_made_counts_as_created(mocked: responses.RequestsMock) -> None:
    moodle = FakeMoodle(lose=1, commits=False)
    original = moodle.__call__

    def late_commit(fn: str, form: dict[str, str]) -> Any:  # the lost call commits just as the resend is refused
        if fn == "core_user_create_users" and moodle.chunks:
            for record in records(form, "users").values():
                moodle.users[record["username"]] = {"id": next(moodle.ids), **record}
            moodle.chunks.append(1)
            return INVALID
        return original(fn, form)

    serve(mocked, late_commit)

    created, failures = fake_client(moodle).create_users([user(1)])

    assert ([i for i, _ in created], failures) == (["1"], [])


def test_a_lost_update_sends_again_only_the_records_not_applied(mocked: responses.RequestsMock) -> None:
    moodle = FakeMoodle()
    moodle.users = {"u1": {"id": 1, "username": "u1", "city": "Oslo"}, "u2": {"id": 2, "username": "u2", "city": ""}}
    sent: list[list[str]] = []

    def handler(fn: str, form: dict[str, str]) -> Any:
        if fn == "core_user_update_users":
            sent.append(sorted(u["id"] for u in records(form, "users").values()))
            if len(sent) == 1:  # the first call applies user 1 only, then its answer is lost
                moodle.users["u1"]["city"] = "Rome"
                return LOST
        return moodle(fn, form)

    serve(mocked, handler)

    failures = fake_client(moodle).update_users([{"id": 1, "city": "Rome"}, {"id": 2, "city": "Rome"}])

    assert (failures, sent, moodle.users["u2"]["city"]) == ([], [["1", "2"], ["2"]], "Rome")


def test_users_with_email_like_sends_one_email_criterion(mocked: responses.RequestsMock, client: MoodleClient) -> None:
    found = {"id": 7, "username": "ccasefold", "email": "Casey.Casefold@acme.example"}
    forms = serve(mocked, lambda fn, form: {"users": [found], "warnings": []})

    users = client.users_with_email_like("casey.casefold@acme.example")

    assert [(u.id, u.email) for u in users] == [(7, "Casey.Casefold@acme.example")]
    assert {k: v for k, v in forms[0].items() if k.startswith("criteria")} == {
        "criteria[0][key]": "email",
        "criteria[0][value]": "casey.casefold@acme.example",
    }


def test_users_with_email_like_refuses_an_answer_that_ignored_the_criterion(
    mocked: responses.RequestsMock, client: MoodleClient
) -> None:
    warning = {"item": "email", "warningcode": "invalidfieldparameter", "message": "not supported"}
    serve(mocked, lambda fn, form: {"users": [{"id": 1, "username": "guest"}], "warnings": [warning]})

    with pytest.raises(ServiceRejected, match="invalidfieldparameter"):
        client.users_with_email_like("a@acme.example")


def test_users_with_email_like_never_sends_a_blank_pattern(
    mocked: responses.RequestsMock, client: MoodleClient
) -> None:
    forms = serve(mocked, lambda fn, form: {"users": [], "warnings": []})

    with pytest.raises(ValueError, match="empty"):
        client.users_with_email_like("  ")
    assert forms == []
