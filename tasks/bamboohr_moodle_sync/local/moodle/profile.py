"""Custom user profile fields as a real Moodle 4.5 stores and answers them (shared reference, moodle.md).

Definitions are the emulator's own settings (``DEFAULT_FIELDS`` unless given). What ``customfields[i]`` of a
create or update does, by datatype:

- text: stored verbatim, cut silently at the field's maximum length.
- datetime (date only): a ``YYYY-MM-DD`` string or a Unix time (read as a date in the site's time zone) is
  stored as midnight of that date in the site's time zone; ``"0"`` or empty clears it; years are clamped to
  the field's range; anything else is accepted silently and stored as a wrong date (``explode('-')`` of it).
- menu: a value equal to an option (exactly: case and spaces count) is stored; any other value, "" included
  unless the field is required, stores the field's default instead, silently. With no default (the reference
  site's field) a non-option is "not stored" on create and clears the stored value on update, as observed.
  Source: user/profile/field/menu/field.class.php (the options are the lines of ``param1``, plus "" when the
  field is required; ``edit_save_data_preprocess`` answers null for a non-option) and
  ``profile_field_base::edit_save_data`` (null -> ``defaultdata``), user/profile/lib.php.
- checkbox: ``1``/``0``.

``core_user_get_users_by_field`` answers ``customfields: [{type (datatype), value, displayvalue, name,
shortname}]``, values as strings, in the fields' sort order; empty text, datetime and menu fields are left out,
a checkbox is always there. A shortname the site lacks is ignored (``profile_save_data``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

Datatype = Literal["text", "datetime", "menu", "checkbox"]
SITE_TIMEZONE = "Europe/London"  # the reference site's time zone


@dataclass(frozen=True)
class FieldDefinition:
    datatype: Datatype = "text"
    name: str = ""
    options: tuple[str, ...] = ()  # menu (param1)
    default: str = ""  # menu (defaultdata): what a non-option stores
    required: bool = False  # menu: "" is then an option
    maxlength: int = 2048  # text (param2)
    years: tuple[int, int] = (1900, 2050)  # datetime (param1, param2)


DEFAULT_FIELDS: Mapping[str, FieldDefinition] = {
    "jobtitle": FieldDefinition("text", "Job title"),
    "hiredate": FieldDefinition("datetime", "Hire date"),
    "office": FieldDefinition(
        "menu", "Office", ("New York", "London", "Kraków", "São Paulo", "Ho Chi Minh City", "Dublin", "Remote")
    ),
}


def stored(definition: FieldDefinition, value: str, timezone: str) -> str:
    """What the field holds after ``value`` is saved ("" = empty)."""
    if definition.datatype == "text":
        return value[: definition.maxlength]
    if definition.datatype == "checkbox":
        return "1" if value not in ("", "0") else "0"
    if definition.datatype == "menu":
        if value in definition.options or (value == "" and definition.required):
            return value
        return definition.default
    if value in ("", "0"):
        return ""
    zone = ZoneInfo(timezone)
    if re.fullmatch(r"-?[0-9]+", value):
        parts: list[str] = datetime.fromtimestamp(int(value), zone).strftime("%Y-%m-%d").split("-")
    else:
        parts = value.split("-")
    year = _clamp(parts[0], definition.years)
    month, day = (_php_int(parts[i]) if len(parts) > i else 0 for i in (1, 2))
    return str(_make_timestamp(year, month, day, zone))


def answered(shortname: str, definition: FieldDefinition, value: str, timezone: str) -> dict[str, Any] | None:
    """The ``customfields`` entry of a user, or None when Moodle leaves the field out (empty)."""
    if definition.datatype == "checkbox":
        value = value or "0"
        display = "Yes" if value == "1" else "No"
    elif not value:
        return None
    elif definition.datatype == "datetime":
        display = datetime.fromtimestamp(int(value), ZoneInfo(timezone)).strftime("%A, %d %B %Y").replace(" 0", " ")
    else:
        display = value
    return {
        "type": definition.datatype,
        "value": value,
        "displayvalue": display,
        "name": definition.name or shortname,
        "shortname": shortname,
    }


def _php_int(text: str) -> int:
    match = re.match(r"\s*-?[0-9]+", text)
    return int(match.group()) if match else 0


def _clamp(text: str, years: tuple[int, int]) -> int:
    """``min(max($year, param1), param2)`` with PHP 8's comparison: a non-numeric string is above any number."""
    if not re.fullmatch(r"\s*-?[0-9]+\s*", text):
        return years[1]
    return min(max(int(text), years[0]), years[1])


def _make_timestamp(year: int, month: int, day: int, zone: ZoneInfo) -> int:
    """``make_timestamp``: PHP's ``mktime`` normalises month 0 and day 0 to the month and day before."""
    month_index = year * 12 + (month - 1)
    first = date(month_index // 12, month_index % 12 + 1, 1)
    ordinal = first.toordinal() + day - 1
    midnight = datetime.combine(date.fromordinal(ordinal), datetime.min.time(), zone)
    return int(midnight.astimezone(UTC).timestamp())
