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

    [profile_fields]      # Moodle custom profile field shortname = BambooHR field
    jobtitle = "jobTitle"                                  # text: the value as BambooHR gives it
    hiredate = { from = "hireDate", type = "datetime" }    # a date-only field, from YYYY-MM-DD
    office = { from = "location", type = "menu", options = ["London", "Remote"] }   # the field's options

    [cohorts]             # one owned cohort per distinct value: idnumber bamboohr:<field>:<value>
    department = "Department: {value}"

    [cohort_settings]
    leavers = "keep"      # or "remove": what a suspended account's owned memberships do

    [scope]               # who gets an account (``eligibility``): BambooHR field -> values, trimmed, exact
    include = { employmentHistoryStatus = ["Full-Time", "Part-Time"] }   # only these (any field, any value)
    exclude = { department = ["Contractors"] }                           # never these

Profile fields and cohort values are part of ``DesiredUser``: ``profile`` holds the raw value to send per
shortname ("" clears it; a date as ``YYYY-MM-DD``, which Moodle stores as that day in the site's time zone,
docs/moodle.md), ``cohorts`` the trimmed value per cohort rule ("" for none). A date BambooHR gives that is not
a date, or a menu value that is not one of the options the mapping declares, is a per-record warning and that
field is left out (Moodle would store a wrong date, or clear the menu field, silently).

Values are checked before they reach Moodle, because a real Moodle 4.5 with debugging off answers every
validation failure with the same reason-less ``invalidparameter``: names must be non-empty, the e-mail
valid and at most 100 characters, the username non-empty after cleaning. Over-long names, department,
institution and city are truncated to their column sizes (lib/db/install.xml) instead of failing the call
with ``dmlwriteexception``.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from .eligibility import DATE_FIELDS, Scope
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

COHORT_PREFIX = "bamboohr:"
"""Cohorts whose idnumber starts with this are owned by the sync; no other cohort is ever touched."""
COHORT_IDNUMBER_SIZE = 100  # cohort.idnumber (lib/db/install.xml; longer -> dmlwriteexception, docs/moodle.md)
COHORT_NAME_SIZE = 254
EMPTY_DATES = frozenset({"", "0000-00-00"})
ProfileType = Literal["text", "datetime", "menu"]
Leavers = Literal["keep", "remove"]
_SHORTNAME = re.compile(r"^[A-Za-z0-9_-]+$")  # customfields[][type] is PARAM_ALPHANUMEXT

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
    profile: Mapping[str, str] = field(default_factory=dict)
    """Custom profile field shortname -> the value to send ("" clears; a date as YYYY-MM-DD)."""
    cohorts: Mapping[str, str] = field(default_factory=dict)
    """Cohort rule (BambooHR field) -> the employee's trimmed value ("" for none of that rule's cohorts)."""
    warnings: tuple[str, ...] = ()
    """Per-record warnings (no personal data): values left out of ``profile`` and why."""

    @property
    def username(self) -> str:
        return self.fields["username"]

    @property
    def email(self) -> str:
        return self.fields["email"]


@dataclass(frozen=True, slots=True)
class ProfileField:
    """``[profile_fields]`` entry: Moodle custom profile field ``shortname`` from BambooHR field ``source``."""

    shortname: str
    source: str
    type: ProfileType = "text"
    options: tuple[str, ...] = ()
    """A menu field's options, as the mapping declares them (no web service answers a field's options)."""


@dataclass(frozen=True, slots=True)
class CohortRule:
    """``[cohorts]`` entry: one owned cohort per distinct value of BambooHR ``field``, named by ``template``."""

    field: str
    template: str

    def idnumber(self, value: str) -> str:
        """``bamboohr:<field>:<value>``; past Moodle's 100 characters, cut and given a stable hash suffix."""
        full = f"{COHORT_PREFIX}{self.field}:{value}"
        if len(full) <= COHORT_IDNUMBER_SIZE:
            return full
        digest = hashlib.sha256(value.encode()).hexdigest()[:10]
        return f"{full[: COHORT_IDNUMBER_SIZE - 11]}~{digest}"

    def name(self, value: str) -> str:
        return self.template.replace("{value}", value)[:COHORT_NAME_SIZE]

    def owns(self, idnumber: str) -> bool:
        return idnumber.startswith(f"{COHORT_PREFIX}{self.field}:")


@dataclass(frozen=True)
class FieldMapping:
    fields: Mapping[str, tuple[str, ...]]
    profile_fields: tuple[ProfileField, ...] = ()
    cohorts: tuple[CohortRule, ...] = ()
    leavers: Leavers = "keep"
    scope: Scope = field(default_factory=Scope)

    @property
    def source_fields(self) -> list[str]:
        """The BambooHR fields to ask for: the mapped ones, profile field and cohort sources, ``id``, ``status``,
        and what ``eligibility`` reads (the dates, the ``[scope]`` fields)."""
        wanted = {"id", "status", *DATE_FIELDS, *self.scope.fields}
        for sources in self.fields.values():
            wanted.update(sources)
        wanted.update(p.source for p in self.profile_fields)
        wanted.update(rule.field for rule in self.cohorts)
        return sorted(wanted)

    def cohort_values(self, employee: Employee) -> dict[str, str]:
        """Cohort rule -> the employee's trimmed value ("" when empty): which owned cohort of each rule is theirs."""
        return {rule.field: (employee.get(rule.field) or "").strip() for rule in self.cohorts}

    def profile_values(self, employee: Employee) -> tuple[dict[str, str], tuple[str, ...]]:
        """Shortname -> value to send, and warnings for values left out (an unreadable date, a menu non-option)."""
        values: dict[str, str] = {}
        warnings: list[str] = []
        for profile in self.profile_fields:
            raw = (employee.get(profile.source) or "").strip()
            if profile.type == "datetime":
                if raw in EMPTY_DATES:
                    raw = ""
                elif not _is_date(raw):
                    warnings.append(
                        f"{profile.source} is not a YYYY-MM-DD date: profile field {profile.shortname} left as it is"
                    )
                    continue
            elif profile.type == "menu" and raw and raw not in profile.options:
                warnings.append(
                    f"{profile.source} is not one of the {len(profile.options)} options of menu profile field "
                    f"{profile.shortname}: left as it is"
                )
                continue
            values[profile.shortname] = raw
        return values, tuple(warnings)

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
        profile, warnings = self.profile_values(employee)
        return DesiredUser(
            employee_id,
            active=employee.get("status") != "Inactive",
            fields=values,
            profile=profile,
            cohorts=self.cohort_values(employee),
            warnings=warnings,
        )


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


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


SECTIONS = frozenset({"fields", "profile_fields", "cohorts", "cohort_settings", "scope"})
"""The tables a mapping file may have."""


def load_mapping(path: Path | None) -> FieldMapping:
    """The default mapping, with the entries of the TOML file at ``path`` (if any) replacing its own."""
    fields = dict(DEFAULT_FIELDS)
    if path is None:
        return FieldMapping(fields)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"MAPPING_FILE {path}: {exc}") from exc
    unknown = sorted(set(document) - SECTIONS)
    if unknown:  # a misspelt section would otherwise be ignored, and its rules with it
        raise ConfigError(f"MAPPING_FILE {path}: unknown section(s) {unknown}; the sections are {sorted(SECTIONS)}")
    table = document.get("fields", {})
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
    return FieldMapping(
        {k: v for k, v in fields.items() if v},
        profile_fields=_profile_fields(path, document.get("profile_fields", {})),
        cohorts=_cohort_rules(path, document.get("cohorts", {})),
        leavers=_leavers(path, document.get("cohort_settings", {})),
        scope=_scope(path, document.get("scope", {})),
    )


def _scope(path: Path, table: Any) -> Scope:
    """``[scope]``: ``include`` and ``exclude``, each a table of BambooHR field -> non-empty list of strings."""
    where = f"MAPPING_FILE {path}: [scope]"
    if not isinstance(table, dict) or set(table) - {"include", "exclude"}:
        raise ConfigError(f"{where} must be a table with include and/or exclude only")
    rules: dict[str, dict[str, frozenset[str]]] = {}
    for key in ("include", "exclude"):
        rule = table.get(key, {})
        if not isinstance(rule, dict):
            raise ConfigError(f'{where}: {key} must be a table of BambooHR field = ["value", ...]')
        for name, values in rule.items():
            if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                raise ConfigError(
                    f'{where}: {key}.{name} must be a non-empty list of strings, {name} = ["Full-Time"] for example'
                )
        rules[key] = {name: frozenset(v.strip() for v in values) for name, values in rule.items()}
    return Scope(rules["include"], rules["exclude"])


def _profile_fields(path: Path, table: Any) -> tuple[ProfileField, ...]:
    if not isinstance(table, dict):
        raise ConfigError(f"MAPPING_FILE {path}: [profile_fields] must be a table")
    found = []
    for shortname, spec in table.items():
        where = f"MAPPING_FILE {path}: profile field {shortname!r}"
        if not _SHORTNAME.match(shortname):
            raise ConfigError(f"{where}: a Moodle shortname has only letters, digits, _ and -")
        spec = {"from": spec} if isinstance(spec, str) else spec
        if not isinstance(spec, dict) or not isinstance(spec.get("from"), str) or not spec["from"]:
            raise ConfigError(
                f'{where}: give a BambooHR field name, or {{ from = "...", type = "text|datetime|menu" }}'
            )
        kind = spec.get("type", "text")
        if kind not in ("text", "datetime", "menu") or set(spec) - {"from", "type", "options"}:
            raise ConfigError(f'{where}: type is "text", "datetime" or "menu", and only from, type, options are read')
        found.append(ProfileField(shortname, spec["from"], kind, _menu_options(where, kind, spec)))
    return tuple(found)


def _menu_options(where: str, kind: str, spec: dict[str, Any]) -> tuple[str, ...]:
    """A menu field's ``options``: required for a menu, refused for other types (one option per line in Moodle)."""
    options = spec.get("options")
    if kind != "menu":
        if options is not None:
            raise ConfigError(f'{where}: options belong to a type = "menu" field only')
        return ()
    if (
        not isinstance(options, list)
        or not options
        or not all(isinstance(o, str) and o and "\n" not in o for o in options)
    ):
        raise ConfigError(
            f"{where}: a menu field needs options, the field's options exactly as Moodle lists them, "
            'options = ["Sales", "Legal"] for example'
        )
    return tuple(options)


def _cohort_rules(path: Path, table: Any) -> tuple[CohortRule, ...]:
    if not isinstance(table, dict):
        raise ConfigError(f"MAPPING_FILE {path}: [cohorts] must be a table")
    rules = []
    for source, template in table.items():
        if not isinstance(template, str) or "{value}" not in template:
            raise ConfigError(
                f"MAPPING_FILE {path}: cohort {source!r} needs a name template with {{value}}, "
                '"Department: {value}" for example'
            )
        if ":" in source:
            raise ConfigError(f"MAPPING_FILE {path}: cohort field {source!r} cannot contain ':'")
        rules.append(CohortRule(source, template))
    return tuple(rules)


def _leavers(path: Path, table: Any) -> Leavers:
    leavers = table.get("leavers", "keep") if isinstance(table, dict) else None
    if leavers not in ("keep", "remove"):
        raise ConfigError(f'MAPPING_FILE {path}: [cohort_settings] leavers is "keep" or "remove"')
    return "remove" if leavers == "remove" else "keep"
