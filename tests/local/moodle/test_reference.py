"""Each observed line of "Observed on a real Moodle 4.5" (shared/reference/moodle.md), replayed on the emulator.

Requests are built as a real client builds them: a POST form body in PHP bracket encoding, token in the body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests

if TYPE_CHECKING:
    from bamboohr_moodle_sync.local.moodle.emulator import RunningMoodle

INVALID_PARAMETER = (
    '{"exception":"core\\\\exception\\\\invalid_parameter_exception","errorcode":"invalidparameter",'
    '"message":"Invalid parameter value detected"}'
)


def form(value: Any, prefix: str) -> list[tuple[str, str]]:
    """PHP bracket encoding: ``users[0][username]=a``."""
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        return [pair for key, item in items for pair in form(item, f"{prefix}[{key}]")]
    return [(prefix, str(value))]


def post(moodle: RunningMoodle, wsfunction: str, fmt: str | None = "json", **params: Any) -> requests.Response:
    data = [("wstoken", moodle.token), ("wsfunction", wsfunction)] + ([("moodlewsrestformat", fmt)] if fmt else [])
    for name, value in params.items():
        data += form(value, name)
    return requests.post(moodle.endpoint, data=data, timeout=30)


def person(username: str, **extra: Any) -> dict[str, Any]:
    return {"username": username, "firstname": "Ann", "lastname": "Lee", "email": f"{username}@acme.test"} | extra


def test_bad_token_answers_namespaced_invalidtoken(moodle: RunningMoodle) -> None:
    answer = requests.post(
        moodle.endpoint,
        data={"wstoken": "nope", "wsfunction": "core_webservice_get_site_info", "moodlewsrestformat": "json"},
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.text == (
        '{"exception":"core\\\\exception\\\\moodle_exception","errorcode":"invalidtoken",'
        '"message":"Invalid token - token not found"}'
    )


@pytest.mark.parametrize(
    ("wsfunction", "params"),
    [
        pytest.param("core_user_create_users", {"users": [person("Ann", createpassword=1)]}, id="uppercase-username"),
        pytest.param("core_user_get_users_by_field", {"field": "username", "values": ["Ann"]}, id="uppercase-lookup"),
        pytest.param("core_user_create_users", {"users": [person("ann", createpassword="true")]}, id="bool-true"),
        pytest.param("core_user_create_users", {"users": [person("ann", createpassword=1, bogus=1)]}, id="unknown-key"),
        pytest.param(
            "core_user_create_users", {"users": [person("ann", createpassword=1, suspended=1)]}, id="suspended"
        ),
        pytest.param("core_user_create_users", {"users": [person("ann")]}, id="no-password"),
        pytest.param("core_user_create_users", {"users": [person("o'brien", createpassword=1)]}, id="apostrophe-name"),
        pytest.param("core_user_create_users", {"users": [person("ann+1", createpassword=1)]}, id="plus-username"),
        pytest.param("core_user_create_users", {"users": [person("ann", lastname="", createpassword=1)]}, id="no-last"),
        pytest.param(
            "core_user_create_users",
            {"users": [person("ann", email="TAKEN@acme.test", createpassword=1)]},
            id="email-case-duplicate",
        ),
        pytest.param("core_user_create_users", {"users": [person("ann", email="ann@", createpassword=1)]}, id="email"),
    ],
)
def test_validation_failure_answers_bare_invalidparameter(
    moodle: RunningMoodle, wsfunction: str, params: dict[str, Any]
) -> None:
    moodle.emulator.add_user("taken", email="taken@acme.test")
    answer = post(moodle, wsfunction, **params)
    assert (answer.status_code, answer.text) == (200, INVALID_PARAMETER)
    assert moodle.emulator.user_by_username("ann") is None


def test_same_user_twice_in_one_create_creates_neither(moodle: RunningMoodle) -> None:
    answer = post(moodle, "core_user_create_users", users=[person("ann", createpassword=1)] * 2)
    assert answer.json()["errorcode"] == "invalidparameter"
    assert moodle.emulator.users() == []


def test_variables_past_max_input_vars_are_dropped_and_the_truncated_user_fails_all(moodle: RunningMoodle) -> None:
    users = [person(f"u{i}", createpassword=1, idnumber=f"E{i}") for i in range(200)]  # 200 x 6 + 3 = 1203
    answer = post(moodle, "core_user_create_users", users=users)
    assert answer.text == INVALID_PARAMETER
    assert moodle.emulator.users() == []


def test_apostrophe_email_and_unicode_names_are_accepted(moodle: RunningMoodle) -> None:
    user = person("obrien", email="o'brien@acme.test", firstname="Zoë", lastname="Nguyễn-Łukasz", createpassword=1)
    answer = post(moodle, "core_user_create_users", users=[user])
    assert answer.json() == [{"id": 3, "username": "obrien"}]
    stored = moodle.emulator.user(3)
    assert stored is not None
    assert (stored["email"], stored["firstname"], stored["lastname"]) == ("o'brien@acme.test", "Zoë", "Nguyễn-Łukasz")


def test_idnumber_already_in_use_is_not_unique(moodle: RunningMoodle) -> None:
    moodle.emulator.add_user("first", idnumber="E1")
    answer = post(moodle, "core_user_create_users", users=[person("second", idnumber="E1", createpassword=1)])
    assert answer.json()[0]["username"] == "second"
    assert len(moodle.emulator.users_by_idnumber("E1")) == 2


def test_department_longer_than_its_column_fails_with_dml_write_exception(moodle: RunningMoodle) -> None:
    answer = post(moodle, "core_user_create_users", users=[person("ann", department="d" * 300, createpassword=1)])
    assert answer.text == (
        '{"exception":"dml_write_exception","errorcode":"dmlwriteexception","message":"Error writing to database"}'
    )
    assert moodle.emulator.users() == []


@pytest.mark.parametrize(
    "extra", [{"auth": "oauth2"}, {"auth": "nologin", "createpassword": 1}], ids=["oauth2", "nologin"]
)
def test_external_or_nologin_auth_needs_no_password(moodle: RunningMoodle, extra: dict[str, Any]) -> None:
    answer = post(moodle, "core_user_create_users", users=[person("ann", **extra)])
    assert answer.json() == [{"id": 3, "username": "ann"}]


def test_update_of_unknown_id_answers_invaliduserid_warning(moodle: RunningMoodle) -> None:
    answer = post(moodle, "core_user_update_users", users=[{"id": 999999, "suspended": 1}])
    assert answer.text == (
        '{"warnings":[{"item":"user","itemid":999999,"warningcode":"invaliduserid","message":"Invalid user ID"}]}'
    )


def test_successful_suspend_answers_empty_warnings(moodle: RunningMoodle) -> None:
    user_id = moodle.emulator.add_user("ann")
    answer = post(moodle, "core_user_update_users", users=[{"id": user_id, "suspended": 1}])
    assert answer.text == '{"warnings":[]}'
    assert moodle.emulator.user(user_id)["suspended"] is True  # type: ignore[index]


def test_get_users_by_field_answers_only_found_users_with_their_fields(moodle: RunningMoodle) -> None:
    moodle.emulator.add_user("ann", idnumber="E1", department="Sales", suspended=True)
    moodle.emulator.add_user("bob")
    answer = post(moodle, "core_user_get_users_by_field", field="username", values=["ann", "bob", "nobody"]).json()
    by_name = {user["username"]: user for user in answer}
    assert set(by_name) == {"ann", "bob"}
    expected = {"id", "username", "firstname", "lastname", "fullname", "email", "department", "auth", "suspended"}
    assert expected | {"confirmed", "lang", "idnumber"} <= set(by_name["ann"])
    assert (by_name["ann"]["suspended"], by_name["bob"]["suspended"]) == (True, False)
    assert by_name["bob"].get("idnumber", "") == ""


def test_answer_without_format_is_xml(moodle: RunningMoodle) -> None:
    moodle.emulator.add_user("ann")
    answer = post(moodle, "core_user_get_users_by_field", fmt=None, field="username", values=["ann"])
    assert answer.text.startswith('<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE>\n<MULTIPLE>\n<SINGLE>\n')
    assert '<KEY name="id"><VALUE>3</VALUE>' in answer.text


def test_token_is_accepted_in_the_query_string(moodle: RunningMoodle) -> None:
    answer = requests.post(
        f"{moodle.endpoint}?wstoken={moodle.token}",
        data={"wsfunction": "core_webservice_get_site_info", "moodlewsrestformat": "json"},
        timeout=30,
    )
    assert answer.json()["username"] == "admin"


@pytest.mark.parametrize(
    ("username", "accepted"),
    [("a.b-c_d@x9", True), ("ann lee", False), (" ann", False), ("anné", False)],
)
def test_username_must_already_be_what_cleaning_makes_of_it(
    moodle: RunningMoodle, username: str, accepted: bool
) -> None:
    answer = post(
        moodle, "core_user_create_users", users=[person("x") | {"username": username, "createpassword": 1}]
    ).json()
    assert isinstance(answer, list) is accepted


def test_update_to_another_users_email_warns_and_updates_the_others(moodle: RunningMoodle) -> None:
    ann = moodle.emulator.add_user("ann", email="ann@acme.test")
    bob = moodle.emulator.add_user("bob", email="bob@acme.test")
    users = [{"id": bob, "email": "ann@acme.test"}, {"id": ann, "department": "Sales"}]
    answer = post(moodle, "core_user_update_users", users=users)
    assert answer.text == (
        f'{{"warnings":[{{"item":"user","itemid":{bob},"warningcode":"useremailduplicate",'
        '"message":"Duplicate address"}]}'
    )
    assert moodle.emulator.user(ann)["department"] == "Sales"  # type: ignore[index]
    assert moodle.emulator.user(bob)["email"] == "bob@acme.test"  # type: ignore[index]


def test_get_users_by_field_idnumber_held_by_two_users_answers_both(moodle: RunningMoodle) -> None:
    ids = {moodle.emulator.add_user("ann", idnumber="E1"), moodle.emulator.add_user("bob", idnumber="E1")}
    answer = post(moodle, "core_user_get_users_by_field", field="idnumber", values=["E1"]).json()
    assert {user["id"] for user in answer} == ids


@pytest.mark.parametrize(("count", "created"), [(199, 199), (200, 0)], ids=["998-vars", "1003-vars"])
def test_create_of_five_field_users_succeeds_up_to_max_input_vars(
    moodle: RunningMoodle, count: int, created: int
) -> None:
    users = [person(f"u{i}", createpassword=1) for i in range(count)]
    post(moodle, "core_user_create_users", users=users)
    assert len(moodle.emulator.users()) == created


# --- E-mail and lookups (Moodle 4.5.6, PostgreSQL 15) ------------------------------------------------------------
def get_users(moodle: RunningMoodle, *criteria: tuple[str, str]) -> Any:
    return post(moodle, "core_user_get_users", criteria=[{"key": k, "value": v} for k, v in criteria]).json()


def emails(answer: Any) -> list[str]:
    return [user["email"] for user in answer["users"]]


@pytest.mark.parametrize("asked", ["casey.casefold@acme.example", "CASEY.CASEFOLD@ACME.EXAMPLE", "%@acme.example"])
def test_get_users_by_field_email_is_exact_and_case_sensitive_without_wildcards(
    moodle: RunningMoodle, asked: str
) -> None:
    moodle.emulator.add_user("ccasefold", email="Casey.Casefold@acme.example")
    assert post(moodle, "core_user_get_users_by_field", field="email", values=[asked]).json() == []


def test_get_users_by_field_email_answers_several_values_ordered_by_id(moodle: RunningMoodle) -> None:
    ann = moodle.emulator.add_user("ann", email="ann@acme.test")
    bob = moodle.emulator.add_user("bob", email="bob@acme.test")
    answer = post(moodle, "core_user_get_users_by_field", field="email", values=["bob@acme.test", "ann@acme.test"])
    assert [user["id"] for user in answer.json()] == [ann, bob]


def test_get_users_email_criterion_ignores_case(moodle: RunningMoodle) -> None:
    moodle.emulator.add_user("ccasefold", email="Casey.Casefold@acme.example")
    assert emails(get_users(moodle, ("email", "casey.casefold@acme.example"))) == ["Casey.Casefold@acme.example"]


def test_get_users_email_underscore_and_percent_are_wildcards(moodle: RunningMoodle) -> None:
    moodle.emulator.add_user("case", email="casey.case@acme.test")
    moodle.emulator.add_user("other", email="other@acme.test")
    assert emails(get_users(moodle, ("email", "casey_case@acme.test"))) == ["casey.case@acme.test"]
    assert emails(get_users(moodle, ("email", "%@ACME.test"))) == ["casey.case@acme.test", "other@acme.test"]


def test_get_users_backslash_makes_a_wildcard_literal(moodle: RunningMoodle) -> None:
    # Not observed but read in Moodle's source: pgsql sql_like() appends ESCAPE '\\'.
    moodle.emulator.add_user("case", email="casey.case@acme.test")
    assert emails(get_users(moodle, ("email", "casey\\_case@acme.test"))) == []


def test_get_users_email_value_is_trimmed(moodle: RunningMoodle) -> None:
    moodle.emulator.add_user("ann", email="ann@acme.test")
    assert emails(get_users(moodle, ("email", "  ann@acme.test \n"))) == ["ann@acme.test"]


def test_get_users_has_no_limit_on_results(moodle: RunningMoodle) -> None:
    for n in range(300):
        moodle.emulator.add_user(f"u{n}", email=f"u{n}@acme.test")
    assert len(get_users(moodle, ("email", "%@acme.test"))["users"]) == 300


def test_get_users_key_sent_twice_is_keyalreadyset(moodle: RunningMoodle) -> None:
    answer = get_users(moodle, ("email", "a@acme.test"), ("email", "b@acme.test"))
    assert answer["errorcode"] == "keyalreadyset"


@pytest.mark.parametrize("key", ["city", "EMAIL"])
def test_get_users_with_no_supported_key_answers_every_user_with_a_warning(moodle: RunningMoodle, key: str) -> None:
    moodle.emulator.add_user("ann", email="ann@acme.test")
    moodle.emulator.add_user("bob", email="bob@other.test")
    answer = get_users(moodle, (key, "ann@acme.test"))
    assert {"ann", "bob", "admin"} <= {user["username"] for user in answer["users"]}
    assert [(w["item"], w["warningcode"]) for w in answer["warnings"]] == [(key, "invalidfieldparameter")]


def test_get_users_key_that_is_not_alpha_is_invalidparameter(moodle: RunningMoodle) -> None:
    assert post(moodle, "core_user_get_users", criteria=[{"key": "phone1", "value": "1"}]).text == INVALID_PARAMETER


def test_get_users_username_criterion_is_lowercased(moodle: RunningMoodle) -> None:
    moodle.emulator.add_user("ann", email="ann@acme.test")
    assert emails(get_users(moodle, ("username", "ANN"))) == ["ann@acme.test"]


def test_update_to_another_users_address_but_for_case_warns_useremailduplicate(moodle: RunningMoodle) -> None:
    moodle.emulator.add_user("ccasefold", email="Casey.Casefold@acme.example")
    bob = moodle.emulator.add_user("bob", email="bob@acme.example")
    answer = post(moodle, "core_user_update_users", users=[{"id": bob, "email": "casey.casefold@acme.example"}])
    assert [w["warningcode"] for w in answer.json()["warnings"]] == ["useremailduplicate"]


def test_update_of_own_address_only_in_case_is_accepted(moodle: RunningMoodle) -> None:
    casey = moodle.emulator.add_user("ccasefold", email="Casey.Casefold@acme.example")
    answer = post(moodle, "core_user_update_users", users=[{"id": casey, "email": "casey.casefold@acme.example"}])
    assert answer.json() == {"warnings": []}
    assert moodle.emulator.user(casey)["email"] == "casey.casefold@acme.example"  # type: ignore[index]
