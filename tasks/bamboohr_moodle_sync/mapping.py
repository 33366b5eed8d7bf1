"""BambooHR employee -> the Moodle account it should have. Pure: no I/O beyond reading a mapping file.

The default mapping (each Moodle field takes the first non-empty BambooHR field of its list):

    username    workEmail, cleaned as Moodle cleans usernames (PARAM_USERNAME)
    email       workEmail
    firstname   preferredName, then firstName
    lastname    lastName
    department  department
    institution division
    idnumber    id (always; it is the identity, not configurable)

A mapping file (TOML, ``MAPPING_FILE``) replaces entries of this table, for example::

    [fields]
    city = ["location"]
    institution = []      # stop syncing institution

Values are checked before they reach Moodle, because a real Moodle 4.5 with debugging off answers every
validation failure with the same reason-less ``invalidparameter``: names must be non-empty, the e-mail
valid and at most 100 characters, the username non-empty after cleaning. Over-long names, department,
institution and city are truncated to their column sizes (lib/db/install.xml) instead of failing the call
with ``dmlwriteexception``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .models import Employee, RecordFailure

DEFAULT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "username": ("workEmail",),
    "email": ("workEmail",),
    "firstname": ("preferredName", "firstName"),
    "lastname": ("lastName",),
    "department": ("department",),
    "institution": ("division",),
}
SYNCABLE_FIELDS = frozenset(
    {"username", "email", "firstname", "lastname", "department", "institution", "city", "country", "lang"}
)
REQUIRED_FIELDS = ("username", "email", "firstname", "lastname")
COLUMN_SIZES: Mapping[str, int] = {
    "username": 100,
    "email": 100,
    "firstname": 100,
    "lastname": 100,
    "idnumber": 255,
    "department": 255,
    "institution": 255,
    "city": 120,
    "country": 2,
    "lang": 30,
}
TRUNCATED_FIELDS = frozenset({"firstname", "lastname", "department", "institution", "city"})

_USERNAME_DROP = re.compile(r"[^-._@a-z0-9]")
# Moodle's validate_email: PHPMailer's address check, which is PHP's FILTER_VALIDATE_EMAIL in practice.
_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


@dataclass(frozen=True, slots=True)
class DesiredUser:
    """What Moodle should hold for one employee."""

    employee_id: str
    active: bool
    fields: Mapping[str, str]
    """Moodle profile fields, idnumber included, already cleaned, checked and truncated."""

    @property
    def username(self) -> str:
        return self.fields["username"]

    @property
    def email(self) -> str:
        return self.fields["email"]


@dataclass(frozen=True)
class FieldMapping:
    fields: Mapping[str, tuple[str, ...]]

    @property
    def source_fields(self) -> list[str]:
        """The BambooHR fields to ask for: the mapped ones plus ``id`` and ``status``."""
        wanted = {"id", "status"}
        for sources in self.fields.values():
            wanted.update(sources)
        return sorted(wanted)

    def desired_user(self, employee: Employee) -> DesiredUser | RecordFailure:
        employee_id = str(employee["id"])
        values: dict[str, str] = {"idnumber": employee_id}
        for moodle_field, sources in self.fields.items():
            value = next((v.strip() for s in sources if (v := employee.get(s)) and v.strip()), "")
            if moodle_field == "username":
                value = clean_username(value)
            if moodle_field in TRUNCATED_FIELDS:
                value = value[: COLUMN_SIZES[moodle_field]]
            values[moodle_field] = value
        problem = _first_problem(values)
        if problem:
            return RecordFailure(employee_id, *problem)
        return DesiredUser(employee_id, active=employee.get("status") != "Inactive", fields=values)


def clean_username(value: str) -> str:
    """Moodle's PARAM_USERNAME cleaning: trim, lowercase, drop spaces and everything outside ``-._@a-z0-9``."""
    return _USERNAME_DROP.sub("", value.strip().lower())


def is_valid_email(value: str) -> bool:
    return bool(_EMAIL.match(value)) and "<" not in value and ">" not in value


def _first_problem(values: Mapping[str, str]) -> tuple[str, str] | None:
    """What keeps this record out of Moodle: (a reason without personal data, the value it is about)."""
    for required in REQUIRED_FIELDS:
        if not values.get(required):
            source = "workEmail" if required in ("username", "email") else required
            return f"no usable {source} for Moodle {required}", ""
    if not is_valid_email(values["email"]):
        return "workEmail is not a valid e-mail address", f"workEmail {values['email']!r}"
    for name, value in values.items():
        if len(value) > COLUMN_SIZES.get(name, 255):
            size = COLUMN_SIZES.get(name, 255)
            return f"{name} is {len(value)} characters; Moodle holds at most {size}", f"{name} {value!r}"
    return None


def load_mapping(path: Path | None) -> FieldMapping:
    """The default mapping, with the entries of the TOML file at ``path`` (if any) replacing its own."""
    fields = dict(DEFAULT_FIELDS)
    if path is None:
        return FieldMapping(fields)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("fields", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"MAPPING_FILE {path}: {exc}") from exc
    for moodle_field, sources in table.items():
        if moodle_field not in SYNCABLE_FIELDS:
            raise ConfigError(
                f"MAPPING_FILE {path}: Moodle field {moodle_field!r} is not one of {sorted(SYNCABLE_FIELDS)}"
            )
        sources = [sources] if isinstance(sources, str) else sources
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise ConfigError(f"MAPPING_FILE {path}: {moodle_field} must be a BambooHR field name or a list of them")
        if moodle_field in REQUIRED_FIELDS and not sources:
            raise ConfigError(f"MAPPING_FILE {path}: {moodle_field} is required by Moodle and cannot be unmapped")
        fields[moodle_field] = tuple(sources)
    return FieldMapping({k: v for k, v in fields.items() if v})
