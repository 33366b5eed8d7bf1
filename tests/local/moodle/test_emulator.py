"""The Moodle emulator's rules beyond the observed reference lines: protocol, tokens, PHP decoding, transactions,
warnings, cohorts, debug mode, the data API and the server base's faults. Real HTTP with ``requests``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests

from bamboohr_moodle_sync.local.moodle.emulator import running_moodle
from bamboohr_moodle_sync.local.moodle.params import php_decode
from bamboohr_moodle_sync.local.server import Faults

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bamboohr_moodle_sync.local.moodle.emulator import RunningMoodle


def form(value: Any, prefix: str) -> list[tuple[str, str]]:
    """PHP bracket encoding: ``users[0][username]=a``."""
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        return [pair for key, item in items for pair in form(item, f"{prefix}[{key}]")]
    return [(prefix, str(value))]


def post(moodle: RunningMoodle, wsfunction: str, token: str | None = None, **params: Any) -> Any:
    data = [("wstoken", token or moodle.token), ("wsfunction", wsfunction), ("moodlewsrestformat", "json")]
    for name, value in params.items():
        data += form(value, name)
    return requests.post(moodle.endpoint, data=data, timeout=30).json()


def person(username: str, **extra: Any) -> dict[str, Any]:
    fields = {"username": username, "firstname": "Ann", "lastname": "Lee", "email": f"{username}@acme.test"}
    return fields | {"createpassword": 1} | extra


# --- protocol -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["query", "body"])
def test_token_is_read_from_query_or_body(moodle: RunningMoodle, where: str) -> None:
    fields = {"wstoken": moodle.token, "wsfunction": "core_webservice_get_site_info", "moodlewsrestformat": "json"}
    query = {"wstoken": fields.pop("wstoken")} if where == "query" else {}
    answer = requests.post(moodle.endpoint, params=query, data=fields, timeout=30).json()
    assert answer["userid"] == 2


def test_json_request_body_is_not_read(moodle: RunningMoodle) -> None:
    body = {"wstoken": moodle.token, "wsfunction": "core_webservice_get_site_info", "moodlewsrestformat": "json"}
    answer = requests.post(moodle.endpoint, json=body, timeout=30)
    assert answer.text == (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<EXCEPTION class="core\\exception\\moodle_exception">\n'
        "<ERRORCODE>invalidtoken</ERRORCODE>\n<MESSAGE>Invalid token - token not found</MESSAGE>\n</EXCEPTION>\n"
    )


def test_function_without_return_value_answers_null(moodle: RunningMoodle) -> None:
    user_id = moodle.emulator.add_user("ann")
    data = {"wstoken": moodle.token, "wsfunction": "core_user_delete_users", "moodlewsrestformat": "json"}
    answer = requests.post(moodle.endpoint, data={**data, "userids[0]": user_id}, timeout=30)
    assert answer.text == "null"
    assert moodle.emulator.user(user_id) is None


def test_unknown_function_is_a_missing_record(moodle: RunningMoodle) -> None:
    assert post(moodle, "core_nothing")["errorcode"] == "invalidrecord"


def test_debug_mode_adds_the_reason(moodle: RunningMoodle) -> None:
    moodle.emulator.debug = True
    answer = post(moodle, "core_user_create_users", users=[person("ann", bogus=1)])
    assert (
        answer["debuginfo"]
        == "users => Invalid parameter value detected: Unexpected keys (bogus) detected in parameter array."
    )


def test_missing_required_key_reason_names_it(moodle: RunningMoodle) -> None:
    moodle.emulator.debug = True
    user = person("ann")
    del user["email"]
    answer = post(moodle, "core_user_create_users", users=[user])
    assert (
        answer["debuginfo"]
        == "users => Invalid parameter value detected: Missing required key in single structure: email"
    )


# --- tokens ----------------------------------------------------------------------------------------------------
def test_token_limited_to_functions_refuses_others(moodle: RunningMoodle) -> None:
    moodle.emulator.add_token("narrow", {"core_user_get_users_by_field"})
    assert (
        post(moodle, "core_user_get_users_by_field", token="narrow", field="id", values=[2])[0]["username"] == "admin"
    )
    answer = post(moodle, "core_user_create_users", token="narrow", users=[person("ann")])
    assert answer == {
        "exception": "webservice_access_exception",
        "errorcode": "accessexception",
        "message": "Access control exception",
    }


@pytest.mark.parametrize("flag", ["expired", "owner_suspended"])
def test_expired_or_suspended_owner_token_is_an_access_exception(moodle: RunningMoodle, flag: str) -> None:
    moodle.emulator.add_token("old", expired=flag == "expired", owner_suspended=flag == "owner_suspended")
    assert post(moodle, "core_webservice_get_site_info", token="old")["errorcode"] == "accessexception"


# --- PHP decoding and max_input_vars ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pairs", "decoded"),
    [
        ([("a[]", "x"), ("a[]", "y")], {"a": {"0": "x", "1": "y"}}),
        ([("a.b", "1")], {"a_b": "1"}),
        ([("a[b", "1")], {"a_b": "1"}),
        ([("a[x]y", "1")], {"a": {"x": "1"}}),
        ([("a", "1"), ("a[0]", "2")], {"a": {"0": "2"}}),
        ([("a[0]", "1"), ("a", "2")], {"a": "2"}),
    ],
)
def test_php_bracket_decoding(pairs: list[tuple[str, str]], decoded: dict[str, Any]) -> None:
    assert php_decode([pairs], 1000) == decoded


def test_max_input_vars_counts_each_source_apart() -> None:
    assert php_decode([[("a", "1"), ("b", "2")], [("c", "3"), ("d", "4")]], 2) == {
        "a": "1",
        "b": "2",
        "c": "3",
        "d": "4",
    }


def test_variable_past_the_limit_is_dropped_silently(moodle: RunningMoodle) -> None:
    data = [*form([person(f"u{i}") for i in range(200)], "users"), ("wstoken", moodle.token)]
    data += [("wsfunction", "core_user_create_users"), ("moodlewsrestformat", "json")]
    answer = requests.post(moodle.endpoint, data=data, timeout=30)
    assert answer.text.startswith("<?xml")  # format, token and function all fell past 1000
    assert "invalidtoken" in answer.text


def test_higher_max_input_vars_lets_larger_batches_through(served: RunningMoodle) -> None:
    moodle = served.fresh(max_input_vars=5000)
    assert len(post(moodle, "core_user_create_users", users=[person(f"u{i}") for i in range(200)])) == 200


# --- create ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    [
        person("taken"),
        person("other", email="TAKEN@acme.test"),
        person("other", auth="imaginary"),
        person("other", createpassword=0),
        person("other", createpassword=0, password="short"),
    ],
    ids=["username-exists", "email-exists", "unknown-auth", "no-password", "weak-password"],
)
def test_one_bad_user_rolls_back_the_whole_create(moodle: RunningMoodle, bad: dict[str, Any]) -> None:
    moodle.emulator.add_user("taken", email="taken@acme.test")
    answer = post(moodle, "core_user_create_users", users=[person("good"), bad])
    assert answer["errorcode"] == "invalidparameter"
    assert [u["username"] for u in moodle.emulator.users()] == ["taken"]


def test_same_email_is_allowed_when_the_site_allows_it(moodle: RunningMoodle) -> None:
    moodle.emulator.allowaccountssameemail = True
    moodle.emulator.add_user("ann", email="shared@acme.test")
    assert (
        post(moodle, "core_user_create_users", users=[person("bob", email="Shared@acme.test")])[0]["username"] == "bob"
    )


@pytest.mark.parametrize(
    ("field", "size"), [("username", 100), ("firstname", 100), ("email", 100), ("idnumber", 255), ("city", 120)]
)
def test_value_longer_than_its_column_fails_create(moodle: RunningMoodle, field: str, size: int) -> None:
    value = "x" * (size + 1) if field not in ("username", "email") else "x" * (size - 8) + "@acme.test"
    answer = post(moodle, "core_user_create_users", users=[person("ann") | {field: value}])
    assert answer["errorcode"] == "dmlwriteexception"
    assert moodle.emulator.users() == []


def test_value_filling_its_column_exactly_is_stored(moodle: RunningMoodle) -> None:
    assert post(moodle, "core_user_create_users", users=[person("ann", department="d" * 255)])[0]["id"] == 3


def test_reject_user_fault_fails_create_as_validation_does(moodle: RunningMoodle) -> None:
    moodle.emulator.reject_user(idnumber="E9")
    answer = post(moodle, "core_user_create_users", users=[person("ann"), person("bob", idnumber="E9")])
    assert answer["errorcode"] == "invalidparameter"
    assert moodle.emulator.users() == []


# --- update ----------------------------------------------------------------------------------------------------
def test_update_changes_the_given_fields_only(moodle: RunningMoodle) -> None:
    user_id = moodle.emulator.add_user("ann", department="Sales")
    assert post(moodle, "core_user_update_users", users=[{"id": user_id, "idnumber": "E1", "suspended": 1}]) == {
        "warnings": []
    }
    stored = moodle.emulator.user(user_id)
    assert stored is not None
    assert (stored["idnumber"], stored["suspended"], stored["department"]) == ("E1", True, "Sales")


@pytest.mark.parametrize(
    ("change", "code"),
    [({"department": "d" * 256}, "dmlwriteexception"), ({"email": "not-an-email"}, "useremailinvalid")],
)
def test_per_user_update_failure_is_a_warning_and_others_are_updated(
    moodle: RunningMoodle, change: dict[str, Any], code: str
) -> None:
    ann, bob = moodle.emulator.add_user("ann"), moodle.emulator.add_user("bob")
    before = moodle.emulator.user(ann)
    answer = post(moodle, "core_user_update_users", users=[{"id": ann} | change, {"id": bob, "city": "Oslo"}])
    assert [(w["itemid"], w["warningcode"]) for w in answer["warnings"]] == [(ann, code)]
    assert moodle.emulator.user(ann) == before
    assert moodle.emulator.user(bob)["city"] == "Oslo"  # type: ignore[index]


def test_reject_user_fault_fails_the_whole_update(moodle: RunningMoodle) -> None:
    ann, bob = moodle.emulator.add_user("ann"), moodle.emulator.add_user("bob")
    moodle.emulator.reject_user(username="bob")
    answer = post(moodle, "core_user_update_users", users=[{"id": ann, "city": "Oslo"}, {"id": bob, "city": "Rome"}])
    assert answer["errorcode"] == "invalidparameter"
    assert moodle.emulator.user(ann)["city"] == ""  # type: ignore[index]


# --- lookups and delete ----------------------------------------------------------------------------------------
def test_get_users_matches_criteria_and_warns_on_unknown_keys(moodle: RunningMoodle) -> None:
    moodle.emulator.add_user("ann", email="ann@acme.test")
    moodle.emulator.add_user("bob", email="bob@other.test")
    criteria = [{"key": "email", "value": "%@ACME.test"}, {"key": "shoesize", "value": "9"}]
    answer = post(moodle, "core_user_get_users", criteria=criteria)
    assert [u["username"] for u in answer["users"]] == ["ann"]
    assert answer["warnings"][0]["warningcode"] == "invalidfieldparameter"


def test_delete_of_a_missing_user_rolls_back_the_call(moodle: RunningMoodle) -> None:
    ann = moodle.emulator.add_user("ann")
    assert post(moodle, "core_user_delete_users", userids=[ann, 999])["errorcode"] == "invalidrecord"
    assert moodle.emulator.user(ann) is not None


def by_field(moodle: RunningMoodle, field: str, value: str) -> list[str]:
    answer = post(moodle, "core_user_get_users_by_field", field=field, values=[value])
    return [u["username"] for u in answer]


def test_rolled_back_create_leaves_no_trace_in_lookups(moodle: RunningMoodle) -> None:
    answer = post(moodle, "core_user_create_users", users=[person("ann", idnumber="E1"), person("ann")])
    assert answer["errorcode"] == "invalidparameter"
    assert (by_field(moodle, "username", "ann"), by_field(moodle, "idnumber", "E1")) == ([], [])
    assert [u["username"] for u in post(moodle, "core_user_create_users", users=[person("ann")])] == ["ann"]


def test_rolled_back_delete_restores_the_account_in_id_order_and_lookups(moodle: RunningMoodle) -> None:
    ann, bob = moodle.emulator.add_user("ann", idnumber="E1"), moodle.emulator.add_user("bob")
    assert post(moodle, "core_user_delete_users", userids=[ann, 999])["errorcode"] == "invalidrecord"
    assert [u["id"] for u in moodle.emulator.users()] == [ann, bob]
    assert (by_field(moodle, "idnumber", "E1"), by_field(moodle, "email", "ann@example.test")) == (["ann"], ["ann"])


def test_renamed_account_is_found_by_its_new_username_only(moodle: RunningMoodle) -> None:
    ann = moodle.emulator.add_user("ann")
    assert post(moodle, "core_user_update_users", users=[{"id": ann, "username": "anna"}]) == {"warnings": []}
    assert (by_field(moodle, "username", "ann"), by_field(moodle, "username", "anna")) == ([], ["anna"])
    assert post(moodle, "core_user_create_users", users=[person("ann")])[0]["username"] == "ann"


# --- cohorts ---------------------------------------------------------------------------------------------------
def _cohort(idnumber: str) -> dict[str, Any]:
    return {"categorytype": {"type": "system", "value": ""}, "name": f"Team {idnumber}", "idnumber": idnumber}


def test_cohorts_are_created_and_found(moodle: RunningMoodle) -> None:
    created = post(moodle, "core_cohort_create_cohorts", cohorts=[_cohort("sales"), _cohort("ops")])
    assert [c["idnumber"] for c in created] == ["sales", "ops"]
    found = post(moodle, "core_cohort_search_cohorts", query="sal", context={"contextlevel": "system", "instanceid": 0})
    assert [c["idnumber"] for c in found["cohorts"]] == ["sales"]


def test_duplicate_cohort_idnumber_fails_the_call(moodle: RunningMoodle) -> None:
    moodle.emulator.add_cohort("Sales", "sales")
    answer = post(moodle, "core_cohort_create_cohorts", cohorts=[_cohort("ops"), _cohort("sales")])
    assert answer["errorcode"] == "invalidparameter"
    assert [c["idnumber"] for c in moodle.emulator.cohorts()] == ["sales"]


def test_add_cohort_members_warns_per_member(moodle: RunningMoodle) -> None:
    cohort = moodle.emulator.add_cohort("Sales", "sales")
    ann = moodle.emulator.add_user("ann", idnumber="E1")
    moodle.emulator.add_user("bob")
    members = [
        {"cohorttype": {"type": "idnumber", "value": "sales"}, "usertype": {"type": "username", "value": "ann"}},
        {"cohorttype": {"type": "id", "value": cohort}, "usertype": {"type": "id", "value": ann}},
        {"cohorttype": {"type": "idnumber", "value": "sales"}, "usertype": {"type": "idnumber", "value": "E1"}},
        {"cohorttype": {"type": "idnumber", "value": "nope"}, "usertype": {"type": "username", "value": "bob"}},
    ]
    answer = post(moodle, "core_cohort_add_cohort_members", members=members)
    assert [w["warningcode"] for w in answer["warnings"]] == ["3", "1", "2"]
    assert moodle.emulator.cohort_members(cohort) == {ann}


def test_delete_cohort_members_removes_and_needs_both_to_exist(moodle: RunningMoodle) -> None:
    cohort, ann = moodle.emulator.add_cohort("Sales", "sales"), moodle.emulator.add_user("ann")
    post(
        moodle,
        "core_cohort_add_cohort_members",
        members=[{"cohorttype": {"type": "id", "value": cohort}, "usertype": {"type": "id", "value": ann}}],
    )
    assert (
        post(moodle, "core_cohort_delete_cohort_members", members=[{"cohortid": cohort, "userid": 999}])["errorcode"]
        == "invaliduser"
    )
    assert post(moodle, "core_cohort_delete_cohort_members", members=[{"cohortid": cohort, "userid": ann}]) is None
    assert moodle.emulator.cohort_members(cohort) == set()


# --- data API and faults ---------------------------------------------------------------------------------------
def test_calls_are_counted_per_function(moodle: RunningMoodle) -> None:
    post(moodle, "core_webservice_get_site_info")
    post(moodle, "core_user_get_users_by_field", field="id", values=[2])
    post(moodle, "core_user_get_users_by_field", field="id", values=[1])
    assert (moodle.emulator.call_count("core_user_get_users_by_field"), moodle.emulator.call_count()) == (2, 3)


def test_seeded_account_without_idnumber_is_found_by_username(moodle: RunningMoodle) -> None:
    moodle.emulator.add_user("handmade", firstname="Hand", lastname="Made")
    assert (
        post(moodle, "core_user_get_users_by_field", field="username", values=["handmade"])[0]["fullname"]
        == "Hand Made"
    )


@pytest.fixture
def down_from_third() -> Iterator[RunningMoodle]:
    with running_moodle(Faults(down_from_request=3, retry_after=7)) as running:
        yield running


def test_server_goes_down_from_request_k(down_from_third: RunningMoodle) -> None:
    site_info = {"wstoken": down_from_third.token, "wsfunction": "core_webservice_get_site_info"}
    answers = [requests.post(down_from_third.endpoint, data=site_info, timeout=30) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 503, 503]
    assert answers[-1].headers["Retry-After"] == "7"
