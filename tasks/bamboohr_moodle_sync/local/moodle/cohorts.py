"""The emulated Moodle 4.5 cohort functions (``cohort/externallib.php``), each ``(state, cleaned params, site url)
-> answer``, with the behaviours the shared reference observed on a real Moodle 4.5.6 (docs/moodle.md).

Every write is one transaction (an exception rolls the whole call back; the caller does), except that
``add_cohort_members`` answers per-member warnings and keeps the valid members: "1" a bad type, "2" a missing user
or cohort, "3" already a member. Idnumbers and usernames match case-sensitively.
"""

from __future__ import annotations

from typing import Any

from bamboohr_moodle_sync.local.moodle.errors import MoodleError, invalid, missing
from bamboohr_moodle_sync.local.moodle.state import CATEGORY_CONTEXT, SYSTEM_CONTEXT, State

COHORT_NAME_SIZE, COHORT_IDNUMBER_SIZE = 254, 100  # lib/db/install.xml; longer -> dmlwriteexception


def _cohort_out(cohort: dict[str, Any]) -> dict[str, Any]:
    return {k: cohort[k] for k in ("id", "name", "idnumber", "description", "descriptionformat", "visible")}


def create_cohorts(state: State, params: dict[str, Any], site_url: str) -> Any:
    created = []
    for cohort in params["cohorts"]:
        category = cohort["categorytype"]
        if category["type"] not in ("id", "idnumber", "system"):
            raise invalid(f"category type must be id, idnumber or system:{category['type']}")
        if category["type"] != "system" and category["value"] != ("1" if category["type"] == "id" else ""):
            raise missing("course_categories")
        if any(c["idnumber"] == cohort["idnumber"] for c in state.cohorts.values()):  # case-sensitive
            raise invalid(f"record already exists: idnumber={cohort['idnumber']}")
        if len(cohort["name"]) > COHORT_NAME_SIZE or len(cohort["idnumber"]) > COHORT_IDNUMBER_SIZE:
            size = COHORT_NAME_SIZE if len(cohort["name"]) > COHORT_NAME_SIZE else COHORT_IDNUMBER_SIZE
            debuginfo = f"ERROR:  value too long for type character varying({size})"
            raise MoodleError("dml_write_exception", "dmlwriteexception", "Error writing to database", debuginfo)
        contextid = SYSTEM_CONTEXT if category["type"] == "system" else CATEGORY_CONTEXT
        fields = {k: v for k, v in cohort.items() if k != "categorytype"} | {"contextid": contextid}
        created.append(_cohort_out(state.cohorts[state.insert_cohort(fields)]))
    return created


def get_cohorts(state: State, params: dict[str, Any], site_url: str) -> Any:
    """Every cohort without ``cohortids``; else the known ones of them (unknown ids left out), in id order."""
    wanted = set(params["cohortids"])
    found = [c for i, c in sorted(state.cohorts.items()) if not wanted or i in wanted]
    return [_cohort_out(c) | {"theme": c.get("theme", ""), "customfields": []} for c in found]


def get_cohort_members(state: State, params: dict[str, Any], site_url: str) -> Any:
    """Members per requested id, in request order, sorted by lastname, firstname; an unknown id fails the call."""
    answer = []
    for cohort_id in params["cohortids"]:
        if cohort_id not in state.cohorts:
            raise missing("cohort")
        users = [state.users[u] for c, u in state.members if c == cohort_id and u in state.users]
        users.sort(key=lambda u: (u["lastname"], u["firstname"], u["id"]))
        answer.append({"cohortid": cohort_id, "userids": [u["id"] for u in users]})
    return answer


def update_cohorts(state: State, params: dict[str, Any], site_url: str) -> Any:
    """No idnumber uniqueness check (two cohorts can share one); an empty name or an unknown id fails the call."""
    for cohort in params["cohorts"]:
        if cohort["id"] not in state.cohorts:
            raise missing("cohort")
        if not cohort["name"].strip():
            raise invalid("The name cannot be empty")
        changes = {k: v for k, v in cohort.items() if k not in ("id", "categorytype")}
        state.cohorts[cohort["id"]] = state.cohorts[cohort["id"]] | changes
    return None


def search_cohorts(state: State, params: dict[str, Any], site_url: str) -> Any:
    context = params["context"]
    levels = {("system", 0): SYSTEM_CONTEXT, ("coursecat", 1): CATEGORY_CONTEXT}
    contextid = context["contextid"] or levels.get((context["contextlevel"], context["instanceid"]), 0)
    if contextid not in (SYSTEM_CONTEXT, CATEGORY_CONTEXT):
        raise invalid("Missing parameters, please provide either context level with instance id or contextid")
    if params["includes"] not in ("self", "parents", "all"):
        raise invalid("Invalid parameter value for includes")
    allowed = {contextid} | ({SYSTEM_CONTEXT} if params["includes"] == "parents" else set())
    query = params["query"].lower()
    found = [
        c
        for _, c in sorted(state.cohorts.items(), key=lambda item: item[1]["name"])
        if (params["includes"] == "all" or c["contextid"] in allowed)
        and any(query in str(c[k]).lower() for k in ("name", "idnumber", "description"))
    ]
    start = params["limitfrom"]
    return {"cohorts": [_cohort_out(c) for c in found[start : start + params["limitnum"]]]}


def add_cohort_members(state: State, params: dict[str, Any], site_url: str) -> Any:
    warnings: list[dict[str, Any]] = []
    for member in params["members"]:
        ctype, utype = member["cohorttype"], member["usertype"]
        if ctype["type"] not in ("id", "idnumber"):
            warnings.append({"warningcode": "1", "message": f"invalid parameter: cohortype={ctype['type']}"})
            continue
        if utype["type"] not in ("id", "username"):
            warnings.append({"warningcode": "1", "message": f"invalid parameter: usertype={utype['type']}"})
            continue
        cohort = next((c for c in state.cohorts.values() if str(c[ctype["type"]]) == ctype["value"]), None)
        if cohort is None:
            warnings.append({"warningcode": "2", "message": f"cohort {ctype['type']}={ctype['value']} not exists"})
            continue
        user = _member(state, utype["type"], utype["value"])
        if user is None:
            warnings.append({"warningcode": "2", "message": f"user {utype['type']}={utype['value']} not exists"})
            continue
        if (cohort["id"], user["id"]) in state.members:
            message = (
                f"record already exists: cohort({ctype['type']}={ctype['value']} {utype['type']}={utype['value']})"
            )
            warnings.append({"warningcode": "3", "message": message})
            continue
        state.members.add((cohort["id"], user["id"]))
    return {"warnings": warnings}


def _member(state: State, kind: str, value: str) -> dict[str, Any] | None:
    """The account whose ``id`` or ``username`` reads ``value`` (the lowest id if several do)."""
    if kind == "username":
        ids = state.ids_by("username", [value])
    else:
        ids = [int(value)] if value.isascii() and value.isdigit() and str(int(value)) == value else []
    return next((state.users[i] for i in ids if i in state.users), None)


def delete_cohort_members(state: State, params: dict[str, Any], site_url: str) -> Any:
    for member in params["members"]:
        if member["cohortid"] not in state.cohorts:
            raise missing("cohort")
        if member["userid"] not in state.users:
            raise MoodleError("dml_missing_record_exception", "invaliduser", "Invalid user")
        state.members.discard((member["cohortid"], member["userid"]))
    return None
