"""The emulated Moodle 4.5 web-service functions, each ``(state, cleaned params, site url) -> answer``.

They follow ``user/externallib.php`` (the cohort functions, ``cohort/externallib.php``, are in ``cohorts``):
``create_users``, ``delete_users`` and every cohort write are one transaction (any
:class:`MoodleError` rolls the whole call back, which the caller does). ``update_users`` runs one transaction
per user since 4.0 and catches every exception into a warning, so a too-long column there is the warning
``dmlwriteexception`` "Error writing to database" for that user, and the other users are updated.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bamboohr_moodle_sync.local.moodle.cohorts import (
    add_cohort_members,
    create_cohorts,
    delete_cohort_members,
    get_cohort_members,
    get_cohorts,
    search_cohorts,
    update_cohorts,
)
from bamboohr_moodle_sync.local.moodle.errors import MoodleError, invalid, missing
from bamboohr_moodle_sync.local.moodle.params import (
    AUTH,
    INT,
    NOTAGS,
    RAW,
    RAW_TRIMMED,
    USERNAME,
    clean_param,
    validate_email,
)
from bamboohr_moodle_sync.local.moodle.profile import answered
from bamboohr_moodle_sync.local.moodle.state import State

if TYPE_CHECKING:
    from collections.abc import Callable

    from bamboohr_moodle_sync.local.moodle.params import Site

# Column sizes from lib/db/install.xml; a longer value fails the INSERT/UPDATE.
COLUMN_SIZES = {
    "username": 100, "firstname": 100, "lastname": 100, "email": 100, "idnumber": 255, "department": 255,
    "institution": 255, "city": 120, "auth": 20, "country": 2, "lang": 30, "timezone": 100,
}  # fmt: skip
INTERNAL_AUTHS = frozenset({"manual", "email", "nologin"})  # auth plugins whose is_internal() is true


def _too_long(record: dict[str, Any]) -> MoodleError | None:
    for column, size in COLUMN_SIZES.items():
        if len(str(record.get(column, ""))) > size:
            debuginfo = f"ERROR:  value too long for type character varying({size})"
            return MoodleError("dml_write_exception", "dmlwriteexception", "Error writing to database", debuginfo)
    return None


def user_details(user: dict[str, Any], site_url: str, state: State) -> dict[str, Any]:
    """``user_get_user_details`` as an admin sees it; empty optional fields are left out."""
    details: dict[str, Any] = {k: user[k] for k in ("id", "username", "firstname", "lastname")}
    details |= {"fullname": f"{user['firstname']} {user['lastname']}", "email": user["email"]}
    details["department"] = user["department"]
    details |= {k: user[k] for k in ("institution", "idnumber") if user[k]}
    details |= {"firstaccess": 0, "lastaccess": 0, "auth": user["auth"], "suspended": bool(user["suspended"])}
    details |= {"confirmed": bool(user["confirmed"]), "lang": user["lang"], "theme": "", "timezone": user["timezone"]}
    details |= {"mailformat": user["mailformat"], "trackforums": 0}
    details |= {k: user[k] for k in ("description", "city", "country") if user[k]}
    picture = f"{site_url}/theme/image.php/boost/core/1/u/"
    details |= {"descriptionformat": 1, "profileimageurlsmall": picture + "f2", "profileimageurl": picture + "f1"}
    custom = [
        entry
        for shortname, definition in state.profile_fields.items()
        if (entry := answered(shortname, definition, user["customfields"].get(shortname, ""), state.timezone))
    ]
    if custom:
        details["customfields"] = custom
    return details


def site_info(state: State, params: dict[str, Any], site_url: str) -> Any:
    admin = state.users[2]
    return {
        "sitename": "Moodle emulator", "username": admin["username"], "firstname": admin["firstname"],
        "lastname": admin["lastname"], "fullname": f"{admin['firstname']} {admin['lastname']}", "lang": "en",
        "userid": 2, "siteurl": site_url, "userpictureurl": f"{site_url}/theme/image.php/boost/core/1/u/f1",
        "functions": [{"name": name, "version": "2024100700"} for name in sorted(CALLS)],
        "downloadfiles": 0, "uploadfiles": 0, "release": "4.5 (Build: 20240903)", "version": "2024100700",
        "mobilecssurl": "", "advancedfeatures": [], "usercanmanageownfiles": True, "userquota": 0,
        "usermaxuploadfilesize": -1, "userhomepage": 1, "siteid": 1, "sitecalendartype": "gregorian",
        "usercalendartype": "gregorian", "userissiteadmin": True, "theme": "boost",
    }  # fmt: skip


def get_users_by_field(state: State, params: dict[str, Any], site_url: str) -> Any:
    field_name = params["field"]
    types = {"id": INT, "idnumber": RAW, "username": USERNAME, "email": RAW_TRIMMED}
    if field_name not in types:
        raise MoodleError(
            "core\\exception\\coding_exception",
            "codingerror",
            "Coding error detected, it must be fixed by a programmer: invalid field parameter",
            f"The search field '{field_name}' is not supported, look at the web service documentation",
        )
    wanted: set[Any] = set()
    for value in params["values"]:
        cleaned = clean_param(value, types[field_name], state.site)
        if cleaned != value:
            raise invalid(f"The field '{field_name}' value is invalid: {value}(cleaned value: {cleaned})")
        wanted.add(int(value) if field_name == "id" else value)
    if field_name == "id":
        found = [state.users[i] for i in sorted(wanted) if i in state.users]
    else:
        found = [state.users[i] for i in state.ids_by(field_name, wanted) if state.users[i][field_name]]
    return [user_details(u, site_url, state) for u in found]


def _like(pattern: str) -> re.Pattern[str]:
    """PostgreSQL's ``ILIKE ... ESCAPE '\\'`` (``sql_like($field, $param, false)``): ``%`` any run, ``_`` one
    character, a backslash makes the next character literal; case is ignored."""
    parts: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


_CRITERIA_TYPES = {
    "id": INT, "idnumber": RAW, "username": USERNAME, "email": RAW_TRIMMED, "auth": AUTH,
    "firstname": NOTAGS, "lastname": NOTAGS,
}  # fmt: skip
"""The keys ``core_user_get_users`` supports, with the ``core_user::get_property_type`` it cleans each value by."""


def _criterion(key: str, value: str, site: Site) -> Callable[[dict[str, Any]], bool]:
    """Equality for id, idnumber, username and auth; ``ILIKE`` for email, firstname and lastname.

    The value is cleaned first (``clean_param``, not validated): an email is trimmed, a username lowercased.
    A user is answered only when the searched field is not empty (``empty($userdetails[$key])``).
    """
    cleaned = clean_param(value, _CRITERIA_TYPES[key], site)
    if key in ("email", "firstname", "lastname"):
        pattern = _like(cleaned)
        return lambda user: bool(user[key]) and pattern.fullmatch(user[key]) is not None
    target: Any = (int(cleaned) if re.fullmatch(r"-?[0-9]+", cleaned) else 0) if key == "id" else cleaned
    return lambda user: bool(user[key]) and user[key] == target


def get_users(state: State, params: dict[str, Any], site_url: str) -> Any:
    """``core_user_get_users``: every criterion must hold; an unsupported key only adds a warning, so a call with
    no supported key answers every user on the site; a key sent twice is ``keyalreadyset``."""
    tests: list[Callable[[dict[str, Any]], bool]] = []
    warnings: list[dict[str, Any]] = []
    used: set[str] = set()
    for criterion in params["criteria"]:
        key, value = criterion["key"], criterion["value"]
        if key in used:
            raise MoodleError("core\\exception\\moodle_exception", "keyalreadyset", "error/keyalreadyset")
        used.add(key)
        if key in _CRITERIA_TYPES:
            tests.append(_criterion(key, value, state.site))
        else:
            message = f"The search key '{key}' is not supported, look at the web service documentation"
            warnings.append({"item": key, "warningcode": "invalidfieldparameter", "message": message})
    found = sorted((u for u in state.users.values() if all(test(u) for test in tests)), key=lambda u: int(u["id"]))
    return {"users": [user_details(u, site_url, state) for u in found], "warnings": warnings}


def _password_problem(password: str) -> str | None:
    """The default password policy: 8 characters, a digit, a lower and an upper case letter, a symbol."""
    rules = [
        (len(password) >= 8, "Passwords must be at least 8 characters long."),
        (re.search(r"[0-9]", password) is not None, "Passwords must have at least 1 digit(s)."),
        (re.search(r"[a-z]", password) is not None, "Passwords must have at least 1 lower case letter(s)."),
        (re.search(r"[A-Z]", password) is not None, "Passwords must have at least 1 upper case letter(s)."),
        (re.search(r"[^a-zA-Z0-9]", password) is not None, "The password must have at least 1 special character(s)."),
    ]
    problems = [f"<div>{message}</div>" for ok, message in rules if not ok]
    return "".join(problems) or None


def create_users(state: State, params: dict[str, Any], site_url: str) -> Any:
    if state.rejected(*params["users"]):
        raise invalid("Rejected by the emulator's reject_user fault")
    created: list[dict[str, Any]] = []
    auths = state.site.auths - {"mnet", "webservice"}
    for user in params["users"]:
        for name in ("username", "firstname", "lastname"):
            if user[name].strip() == "":
                raise invalid(f"The field {name} cannot be blank")
        if state.username_taken(user["username"]):
            raise invalid(f"Username already exists: {user['username']}")
        if user["auth"] not in auths:
            raise invalid(f"Invalid authentication type: {user['auth']}")
        if user["auth"] in INTERNAL_AUTHS and not user.get("password") and not user.get("createpassword"):
            raise invalid("Invalid password: you must provide a password, or set createpassword.")
        if not validate_email(user["email"]):
            raise invalid(f"Email address is invalid: {user['email']}")
        if not state.allowaccountssameemail and state.email_taken(user["email"]):
            raise invalid(f"Email address already exists: {user['email']}")
        problem = _password_problem(user["password"]) if state.password_policy and user.get("password") else None
        if problem:
            raise invalid(problem)
        record = {k: v for k, v in user.items() if k not in ("createpassword", "customfields", "preferences")}
        error = _too_long(record)
        if error:
            raise error
        user_id = state.insert_user(record)
        state.set_profile(state.writable_user(user_id), user)
        if user.get("createpassword"):  # setnew_password_and_mail(), inside the call's transaction
            state.outbox.append(user["username"])
        created.append({"id": user_id, "username": user["username"]})
    return created


def _warning(user_id: int, code: str, message: str) -> dict[str, Any]:
    return {"item": "user", "itemid": user_id, "warningcode": code, "message": message}


def update_users(state: State, params: dict[str, Any], site_url: str) -> Any:
    touched = [state.users[u["id"]] for u in params["users"] if u["id"] in state.users]
    if state.rejected(*params["users"], *touched):
        raise invalid("Rejected by the emulator's reject_user fault")
    warnings: list[dict[str, Any]] = []
    for user in params["users"]:
        existing = state.users.get(user["id"])
        if existing is None:
            warnings.append(_warning(user["id"], "invaliduserid", "Invalid user ID"))
            continue
        if "email" in user and user["email"] != existing["email"]:
            if not validate_email(user["email"]):
                warnings.append(_warning(user["id"], "useremailinvalid", "Invalid email address"))
                continue
            if not state.allowaccountssameemail and state.email_taken(user["email"], except_id=user["id"]):
                warnings.append(_warning(user["id"], "useremailduplicate", "Duplicate address"))
                continue
        changes = {k: v for k, v in user.items() if k not in ("customfields", "preferences", "userpicture")}
        renamed = changes.get("username", existing["username"]) != existing["username"]
        error = _too_long(existing | changes)
        if error is None and renamed and state.username_taken(changes["username"]):
            error = MoodleError("dml_write_exception", "dmlwriteexception", "Error writing to database")
        if error is not None:  # the user's own transaction rolls back; the exception becomes a warning
            warnings.append(_warning(user["id"], error.errorcode, error.message))
            continue
        state.set_profile(state.update_user(user["id"], changes), user)
    return {"warnings": warnings}


def delete_users(state: State, params: dict[str, Any], site_url: str) -> Any:
    for user_id in params["userids"]:
        if user_id not in state.users:
            raise missing("user")
        if user_id == 2:
            raise MoodleError("core\\exception\\moodle_exception", "useradminodelete", "error/useradminodelete")
        state.delete_user(user_id)
        state.members = {m for m in state.members if m[1] != user_id}
    return None


READS = frozenset(  # they change nothing: no transaction
    {
        "core_webservice_get_site_info",
        "core_user_get_users_by_field",
        "core_user_get_users",
        "core_cohort_search_cohorts",
        "core_cohort_get_cohorts",
        "core_cohort_get_cohort_members",
    }
)
CALLS: dict[str, Callable[[State, dict[str, Any], str], Any]] = {
    "core_webservice_get_site_info": site_info,
    "core_user_get_users_by_field": get_users_by_field,
    "core_user_get_users": get_users,
    "core_user_create_users": create_users,
    "core_user_update_users": update_users,
    "core_user_delete_users": delete_users,
    "core_cohort_create_cohorts": create_cohorts,
    "core_cohort_search_cohorts": search_cohorts,
    "core_cohort_get_cohorts": get_cohorts,
    "core_cohort_get_cohort_members": get_cohort_members,
    "core_cohort_update_cohorts": update_cohorts,
    "core_cohort_add_cohort_members": add_cohort_members,
    "core_cohort_delete_cohort_members": delete_cohort_members,
}
