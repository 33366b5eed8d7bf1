from __future__ import annotations

from datetime import date

from bamboohr_moodle_sync.eligibility import Eligibility, Scope
from bamboohr_moodle_sync.mapping import FieldMapping, ProfileField, load_mapping
from bamboohr_moodle_sync.models import Change, ChangeAction, MoodleUser
from bamboohr_moodle_sync.plan import AccountIndex, Plan, create_payload, plan_batch

MAPPING = load_mapping(None)


def person(employee_id: str, email: str | None = None, status: str = "Active", **extra: str) -> dict[str, str | None]:
    return {
        "id": employee_id,
        "firstName": f"First{employee_id}",
        "lastName": f"Last{employee_id}",
        "preferredName": "",
        "workEmail": email if email is not None else f"e{employee_id}@acme.test",
        "status": status,
        "department": "Sales",
        "division": "EMEA",
        **extra,
    }


def account(
    user_id: int, employee_id: str = "", *, username: str | None = None, suspended: bool = False, **fields: str
) -> MoodleUser:
    username = username or f"e{employee_id or user_id}@acme.test"
    base = {
        "email": username,
        "firstname": f"First{employee_id}",
        "lastname": f"Last{employee_id}",
        "idnumber": employee_id,
        "department": "Sales",
        "institution": "EMEA",
    }
    base.update(fields)
    return MoodleUser(user_id, username, suspended, "manual", base)


def plan_for(
    employees: list[dict[str, str | None]],
    accounts: list[MoodleUser] = (),  # type: ignore[assignment]
    actions: dict[str, ChangeAction] | None = None,
    extra_changes: list[Change] = (),  # type: ignore[assignment]
) -> Plan:
    actions = actions or {}
    changes = [Change("2026-01-01T00:00:00Z", str(e["id"]), actions.get(str(e["id"]), "Updated")) for e in employees]
    changes += extra_changes
    return plan_batch(changes, {str(e["id"]): e for e in employees}, AccountIndex(accounts), MAPPING)


def test_new_active_employee_is_created() -> None:
    plan = plan_for([person("1")])
    assert [u.employee_id for u in plan.creates] == ["1"]
    assert plan.counts()["created"] == 1


def test_create_payload_asks_moodle_for_a_password_only_for_manual_auth() -> None:
    user = plan_for([person("1")]).creates[0]
    assert create_payload(user, "manual")["createpassword"] == 1
    assert "createpassword" not in create_payload(user, "oauth2")
    assert create_payload(user, "oauth2")["auth"] == "oauth2"


def test_inactive_employee_without_account_is_skipped_not_created() -> None:
    plan = plan_for([person("1", status="Inactive")])
    assert plan.creates == []
    assert plan.counts()["skipped"] == 1


def test_inactive_employee_with_active_account_is_suspended() -> None:
    plan = plan_for([person("1", status="Inactive")], [account(10, "1")])
    assert [(u.user_id, u.kind, dict(u.changes)) for u in plan.updates] == [(10, "suspended", {"suspended": 1})]


def test_deleted_employee_with_active_account_is_suspended_never_deleted() -> None:
    changes = [Change("2026-01-01T00:00:00Z", "1", "Deleted")]
    plan = plan_batch(changes, {}, AccountIndex([account(10, "1")]), MAPPING)
    assert plan.updates[0].kind == "suspended"


def test_already_suspended_leaver_is_unchanged() -> None:
    plan = plan_for([person("1", status="Inactive")], [account(10, "1", suspended=True)])
    assert plan.unchanged == ["1"]
    assert plan.updates == []


def test_returning_employee_is_reactivated() -> None:
    plan = plan_for([person("1")], [account(10, "1", suspended=True)])
    assert plan.updates[0].kind == "reactivated"
    assert plan.updates[0].changes == {"suspended": 0}


def test_matching_account_is_not_written() -> None:
    plan = plan_for([person("1")], [account(10, "1")])
    assert plan.unchanged == ["1"]
    assert plan.updates == [] and plan.creates == []


def test_changed_fields_are_updated_and_only_those() -> None:
    plan = plan_for([person("1", department="Support", lastName="Newname")], [account(10, "1")])
    assert plan.updates[0].kind == "updated"
    assert plan.updates[0].changes == {"department": "Support", "lastname": "Newname"}


def test_changed_work_email_changes_username_and_email() -> None:
    plan = plan_for([person("1", email="new@acme.test")], [account(10, "1")])
    assert plan.updates[0].changes == {"username": "new@acme.test", "email": "new@acme.test"}


def test_hand_made_account_is_adopted_by_username_and_gets_the_idnumber() -> None:
    plan = plan_for([person("1")], [account(10, "", username="e1@acme.test")])
    assert plan.creates == []
    assert (plan.updates[0].user_id, plan.updates[0].changes.get("idnumber")) == (10, "1")


def test_hand_made_account_is_adopted_by_email_case_insensitively() -> None:
    hand_made = account(10, "", username="jsmith", email="E1@Acme.test")
    plan = plan_for([person("1")], [hand_made])
    assert plan.updates[0].user_id == 10
    assert plan.updates[0].changes["username"] == "e1@acme.test"


def test_username_held_by_another_employees_account_is_a_failure() -> None:
    plan = plan_for([person("2", email="e1@acme.test")], [account(10, "1")])
    assert [f.employee_id for f in plan.failures] == ["2"]
    assert "employee 1" in plan.failures[0].reason


def test_two_employees_with_the_same_cleaned_username_make_the_later_one_fail() -> None:
    plan = plan_for([person("1", email="Jo+X@acme.test"), person("2", email="jox@acme.test")])
    assert [u.employee_id for u in plan.creates] == ["1"]
    assert [f.employee_id for f in plan.failures] == ["2"]


def test_employee_without_work_email_is_a_failure_and_the_batch_goes_on() -> None:
    plan = plan_for([person("1", email=""), person("2")])
    assert [f.employee_id for f in plan.failures] == ["1"]
    assert [u.employee_id for u in plan.creates] == ["2"]


def test_leaver_without_email_is_still_suspended() -> None:
    plan = plan_for([person("1", email="", status="Inactive")], [account(10, "1")])
    assert plan.updates[0].kind == "suspended"


def test_two_accounts_with_one_idnumber_never_lead_to_a_third() -> None:
    twins = [account(10, "1", username="old@acme.test", suspended=True), account(11, "1", username="other@acme.test")]
    plan = plan_for([person("1")], twins)
    assert plan.creates == []
    assert [u.user_id for u in plan.updates] == [11]


def test_employee_missing_from_bamboohr_answer_is_skipped() -> None:
    plan = plan_batch([Change("", "9", "Retry")], {}, AccountIndex([]), MAPPING)
    assert plan.counts()["skipped"] == 1


def test_counts_cover_every_entry_once() -> None:
    employees = [person("1"), person("2", status="Inactive"), person("3", email=""), person("4")]
    plan = plan_for(employees, [account(40, "4")])
    assert sum(plan.counts().values()) == len(employees)


def test_an_old_account_sharing_the_email_does_not_block_the_employees_own_account() -> None:
    own = account(10, "1", department="Old")
    hand_made_twin = account(3, "", username="jsmith", email="e1@acme.test")
    plan = plan_for([person("1")], [own, hand_made_twin])
    assert plan.failures == []
    assert [(u.user_id, dict(u.changes)) for u in plan.updates] == [(10, {"department": "Sales"})]


def test_account_with_the_email_but_another_employees_idnumber_is_a_failure_naming_its_moodle_id() -> None:
    taken = account(10, "9", username="someone", email="E1@ACME.test")
    plan = plan_for([person("1")], [taken])
    assert (plan.creates, [f.employee_id for f in plan.failures]) == ([], ["1"])
    assert plan.failures[0].reason == "e-mail belongs to Moodle user 10 (employee 9)"


def test_failure_reasons_name_the_field_and_holder_and_keep_the_value_apart() -> None:
    plan = plan_for([person("2", email="e7@acme.test")], [account(10, "7")])
    (failure,) = plan.failures
    assert failure.reason == "username belongs to Moodle user 10 (employee 7)"
    assert "@" not in failure.reason
    assert failure.personal == "username e7@acme.test"


def test_two_employees_claiming_one_email_fail_without_naming_it() -> None:
    plan = plan_for([person("1", email="same@acme.test"), person("2", email="SAME@acme.test", firstName="X")])
    (failure,) = plan.failures
    assert failure.reason == "username is also employee 1's in this batch"


MENU_MAPPING = FieldMapping(
    MAPPING.fields, profile_fields=(ProfileField("office", "location", "menu", ("London", "Remote")),)
)


def plan_with_menu(employee: dict[str, str | None], accounts: list[MoodleUser]) -> Plan:
    changes = [Change("2026-01-01T00:00:00Z", str(employee["id"]), "Updated")]
    return plan_batch(changes, {str(employee["id"]): employee}, AccountIndex(accounts), MENU_MAPPING)


def test_a_menu_value_that_is_not_an_option_is_a_warning_and_no_write_when_nothing_else_changed() -> None:
    plan = plan_with_menu(person("1", location="Paris"), [account(10, "1", profile_field_office="London")])
    assert (plan.updates, plan.unchanged) == ([], ["1"])
    assert [(employee_id, "office" in reason) for employee_id, reason in plan.warnings] == [("1", True)]


def test_a_menu_value_that_is_not_an_option_leaves_the_field_out_of_an_update_of_other_fields() -> None:
    plan = plan_with_menu(
        person("1", location="Paris", department="Legal"), [account(10, "1", profile_field_office="London")]
    )
    (update,) = plan.updates
    assert (dict(update.changes), dict(update.profile)) == ({"department": "Legal"}, {})
    assert "customfields" not in update.payload()


def test_a_new_account_gets_no_menu_value_that_is_not_an_option() -> None:
    plan = plan_with_menu(person("1", location="Paris"), [])
    (created,) = plan.creates
    assert "customfields" not in create_payload(created, "manual")
    assert len(plan.warnings) == 1


def test_an_option_differing_from_moodle_s_value_is_written() -> None:
    plan = plan_with_menu(person("1", location="Remote"), [account(10, "1", profile_field_office="London")])
    (update,) = plan.updates
    assert update.payload()["customfields"] == [{"type": "office", "value": "Remote"}]
    assert plan.warnings == []


SCOPED = Eligibility(
    Scope(exclude={"department": frozenset({"Contractors"})}), today=date(2026, 3, 10), provision_days=3
)


def scoped_plan(employee: dict[str, str | None], accounts: list[MoodleUser] = ()) -> Plan:  # type: ignore[assignment]
    changes = [Change("2026-01-01T00:00:00Z", str(employee["id"]), "Updated")]
    return plan_batch(changes, {str(employee["id"]): employee}, AccountIndex(accounts), MAPPING, SCOPED)


def test_an_out_of_scope_employee_is_skipped_with_the_scope_reason_and_no_personal_data() -> None:
    plan = scoped_plan(person("1", department="Contractors"))
    assert (plan.creates, plan.skipped) == ([], [("1", "out of scope: department 'Contractors' is excluded")])


def test_an_out_of_scope_employee_s_active_account_is_suspended_and_counted() -> None:
    plan = scoped_plan(person("1", department="Contractors"), [account(10, "1")])
    assert [(u.kind, u.changes) for u in plan.updates] == [("suspended", {"suspended": 1})]
    assert plan.suspensions == 1


def test_a_future_hire_not_yet_due_is_skipped_naming_the_due_date() -> None:
    plan = scoped_plan(person("1", hireDate="2026-03-20"))
    assert plan.creates == [] and "account due on 2026-03-17" in plan.skipped[0][1]


def test_a_future_hire_s_existing_account_is_left_as_it_is() -> None:
    plan = scoped_plan(person("1", status="Inactive", hireDate="2026-03-20"), [account(10, "1")])
    assert (plan.updates, plan.unchanged) == ([], ["1"])


def test_a_due_future_hire_still_inactive_in_bamboohr_is_created() -> None:
    plan = scoped_plan(person("1", status="Inactive", hireDate="2026-03-12"))
    assert [u.employee_id for u in plan.creates] == ["1"]


def test_a_terminated_employee_still_active_in_bamboohr_is_suspended() -> None:
    plan = scoped_plan(person("1", terminationDate="2026-03-09"), [account(10, "1")])
    assert [u.kind for u in plan.updates] == ["suspended"]
