"""Moodle's REST wire format as this client speaks it: PHP bracket form encoding, the variables a record costs
against ``max_input_vars``, and the user records Moodle answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .models import MoodleUser

USER_STRING_FIELDS = (
    "email",
    "firstname",
    "lastname",
    "fullname",
    "idnumber",
    "department",
    "institution",
    "city",
    "country",
    "lang",
    "timezone",
)
"""Profile fields every ``MoodleUser.fields`` holds ("" when Moodle left them out of the answer)."""


def encode_form(name: str, value: object) -> list[tuple[str, str]]:
    """PHP bracket form encoding of one argument: ``users[0][username]``; bools as 0/1; None left out."""
    pairs: list[tuple[str, str]] = []
    if value is None:
        return pairs
    if isinstance(value, bool):
        pairs.append((name, "1" if value else "0"))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            pairs.extend(encode_form(f"{name}[{key}]", item))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            pairs.extend(encode_form(f"{name}[{index}]", item))
    elif isinstance(value, str | int | float):
        pairs.append((name, str(value)))
    else:
        raise TypeError(f"cannot send {type(value).__name__} to Moodle (argument {name})")
    return pairs


def leaf_count(record: object) -> int:
    """The form variables one record costs (its leaves; None values cost nothing)."""
    return len(encode_form("x", record))


def plausible(field: str, value: str) -> bool:
    """False for values Moodle's cleaning would change (they match nobody and would fail the call)."""
    if not value or value != value.strip():
        return False
    if field == "id":
        return value.isdigit()
    if field == "username":
        return value == value.lower()
    return True


def parse_user(item: Mapping[str, Any]) -> MoodleUser:
    fields = {name: "" for name in USER_STRING_FIELDS}
    for name, value in item.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            fields[name] = str(value)
    for custom in item.get("customfields") or []:
        if isinstance(custom, dict) and custom.get("shortname"):
            fields[f"profile_field_{custom['shortname']}"] = str(custom.get("value") or "")
    suspended = item.get("suspended", False)
    return MoodleUser(
        id=int(item["id"]),
        username=str(item.get("username", "")),
        suspended=suspended in (True, 1, "1", "true"),
        auth=str(item.get("auth", "")),
        fields=fields,
    )
