"""How Moodle 4.5 reads web-service parameters: PHP form decoding, ``clean_param`` and strict validation.

``php_decode`` turns ``users[0][username]=a`` pairs into nested arrays as PHP does, keeping only the first
``max_input_vars`` variables of each source (query string, body). ``validate`` walks a parameter description
the way ``external_api::validate_parameters`` does: a value that cleaning would change, an unknown key or a
missing required key raises :class:`InvalidParameter` whose ``debuginfo`` is Moodle's own text.
The parameter descriptions of the emulated functions are at the end of this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

REQUIRED, DEFAULT, OPTIONAL = 1, 0, 2  # VALUE_REQUIRED, VALUE_DEFAULT, VALUE_OPTIONAL

INT, BOOL, RAW, RAW_TRIMMED = "int", "bool", "raw", "raw_trimmed"
USERNAME, NOTAGS, TEXT, ALPHA, ALPHANUMEXT = "username", "notags", "text", "alpha", "alphanumext"
AUTH, LANG, TIMEZONE, THEME, PLUGIN, EMAIL = "auth", "lang", "timezone", "theme", "plugin", "email"

_HTML5_EMAIL = re.compile(
    r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*"
)
_TIMEZONE = re.compile(r"(([+-]?(0?[0-9](\.[5|0])?|1[0-3](\.0)?|1[0-2]\.5))|(99)|[A-Za-z0-9]+(/?[A-Za-z_-])+)")
_PLUGIN = re.compile(r"[a-z][a-z0-9_]*[a-z0-9]")
_TAG = re.compile(r"<[^\s>][^>]*(?:>|$)")
_PHP_TRIM = " \t\n\r\0\x0b"


class InvalidParameter(Exception):
    """``invalid_parameter_exception``: the message is always "Invalid parameter value detected"."""

    def __init__(self, debuginfo: str):
        super().__init__(debuginfo)
        self.debuginfo = debuginfo


@dataclass(frozen=True)
class Site:
    """The installed plugins and languages that cleaning checks against."""

    auths: frozenset[str] = frozenset(
        {"manual", "nologin", "oauth2", "ldap", "saml2", "shibboleth", "cas", "db", "email", "mnet", "webservice"}
    )
    langs: frozenset[str] = frozenset({"en"})
    themes: frozenset[str] = frozenset({"boost", "classic"})


def validate_email(address: str) -> bool:
    """``validate_email()``: PHPMailer's html5 pattern, and no angle brackets."""
    return bool(address) and _HTML5_EMAIL.fullmatch(address) is not None and not re.search(r"[<>]", address)


def clean_username(value: str) -> str:
    """PARAM_USERNAME without extended characters: trim, lowercase, keep ``[-.@_a-z0-9]``."""
    return re.sub(r"[^-.@_a-z0-9]", "", value.strip(_PHP_TRIM).lower().replace(" ", ""))


def clean_param(value: str, ptype: str, site: Site) -> str:
    """``clean_param`` for string input, answered as the string PHP would compare against."""
    if ptype == INT:
        return value if re.fullmatch(r"-?(0|[1-9][0-9]*)", value) and value != "-0" else "\0not-an-int"
    if ptype == BOOL:
        lowered = value.lower()
        if lowered in ("on", "yes", "true"):
            return "1"
        if lowered in ("off", "no", "false"):
            return "0"
        return "0" if value in ("", "0") else "1"
    if ptype == RAW:
        return value
    if ptype == RAW_TRIMMED:
        return value.strip(_PHP_TRIM)
    if ptype == USERNAME:
        return clean_username(value)
    if ptype in (NOTAGS, TEXT):
        return _TAG.sub("", value)
    if ptype == ALPHA:
        return re.sub(r"[^a-zA-Z]", "", value)
    if ptype == ALPHANUMEXT:
        return re.sub(r"[^a-zA-Z0-9_-]", "", value)
    if ptype == EMAIL:
        return value if validate_email(value) else ""
    if ptype == TIMEZONE:
        return value if _TIMEZONE.fullmatch(value) else ""
    if ptype in (PLUGIN, AUTH, THEME):
        plugin = value if _PLUGIN.fullmatch(value) and "__" not in value else ""
        if ptype == AUTH:
            return plugin if plugin in site.auths else ""
        return plugin if ptype == PLUGIN or plugin in site.themes else ""
    if ptype == LANG:
        return value if value in site.langs else ""
    raise ValueError(f"unknown PARAM type {ptype}")


@dataclass(frozen=True)
class Value:
    type: str
    required: int = REQUIRED
    default: Any = None


@dataclass(frozen=True)
class Single:
    keys: Mapping[str, Value | Single | Multiple]
    required: int = REQUIRED


@dataclass(frozen=True)
class Multiple:
    content: Value | Single | Multiple
    required: int = REQUIRED
    default: list[Any] = field(default_factory=list)


Description = Value | Single | Multiple


def _php_string(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value)


def _print_r(value: Any) -> str:
    if isinstance(value, dict):
        inner = "".join(f"    [{k}] => {_print_r(v)}\n" for k, v in value.items())
        return f"Array\n(\n{inner})\n"
    return _php_string(value)


def validate(desc: Description, params: Any, site: Site) -> Any:
    """``external_api::validate_parameters``: the cleaned value, or :class:`InvalidParameter`."""
    if isinstance(desc, Value):
        if isinstance(params, dict):
            raise InvalidParameter("Scalar type expected, array or object received.")
        if desc.type == BOOL and (isinstance(params, bool) or params in (0, 1, "0", "1")):
            return bool(int(params))
        text = _php_string(params)
        if clean_param(text, desc.type, site) != text:
            raise InvalidParameter(
                f'Invalid external api parameter: the value is "{text}", the server was expecting "{desc.type}" type'
            )
        if desc.type == INT:
            return int(text)
        return bool(int(text)) if desc.type == BOOL else text
    if not isinstance(params, dict):
        raise InvalidParameter(f"Only arrays accepted. The bad value is: '{_print_r(params)}'")
    if isinstance(desc, Multiple):
        return [validate(desc.content, item, site) for item in params.values()]
    result: dict[str, Any] = {}
    remaining = dict(params)
    for key, sub in desc.keys.items():
        if key not in remaining:
            if sub.required == REQUIRED:
                raise InvalidParameter(f"Missing required key in single structure: {key}")
            if isinstance(sub, Single) or sub.required != DEFAULT:
                continue
            given: Any = dict(enumerate(sub.default)) if isinstance(sub, Multiple) else sub.default
        else:
            given = remaining.pop(key)
        try:
            result[key] = validate(sub, given, site)
        except InvalidParameter as exc:
            raise InvalidParameter(f"{key} => Invalid parameter value detected: {exc.debuginfo}") from exc
    if remaining:
        raise InvalidParameter(f"Unexpected keys ({', '.join(remaining)}) detected in parameter array.")
    return result


def _register(target: dict[str, Any], name: str, value: str) -> None:
    """``php_register_variable_ex``: one ``name=value`` into ``target``."""
    name = name.lstrip(" ")
    cut = name.find("[")
    base = (name if cut < 0 else name[:cut]).replace(" ", "_").replace(".", "_")
    if not base:
        return
    indexes: list[str | None] = []
    pos = cut
    while pos >= 0:
        close = name.find("]", pos + 1)
        if close < 0:
            if not indexes:  # not an index: the bracket and the rest belong to the name
                base += "_" + re.sub(r"[ .\[]", "_", name[pos + 1 :])
            break
        indexes.append(name[pos + 1 : close] or None)
        pos = close + 1 if close + 1 < len(name) and name[close + 1] == "[" else -1
    path: list[str | None] = [base, *indexes]
    node = target
    for depth, key in enumerate(path):
        last = depth == len(path) - 1
        if key is None:
            key = str(max((int(k) + 1 for k in node if re.fullmatch(r"-?[0-9]+", k)), default=0))
        if last:
            node[key] = value
        else:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]


def php_decode(sources: Iterable[Iterable[tuple[str, str]]], max_input_vars: int) -> dict[str, Any]:
    """Decode each source (``$_GET``, ``$_POST``) keeping its first ``max_input_vars`` pairs, then merge them."""
    merged: dict[str, Any] = {}
    for pairs in sources:
        decoded: dict[str, Any] = {}
        for number, (name, value) in enumerate(pairs, start=1):
            if number > max_input_vars:  # "Input variables exceeded": the rest is dropped silently
                break
            _register(decoded, name, value)
        merged.update(decoded)  # array_merge($_GET, $_POST)
    return merged


def _opt(ptype: str) -> Value:
    return Value(ptype, OPTIONAL)


_TYPED_PAIRS = Multiple(Single({"type": Value(ALPHANUMEXT), "value": Value(RAW)}), OPTIONAL)
_NAMES = {k: _opt(NOTAGS) for k in ("firstnamephonetic", "lastnamephonetic", "middlename", "alternatename")}
_USER_OPTIONAL = {
    "maildisplay": _opt(INT),
    "city": _opt(NOTAGS),
    "country": _opt(ALPHA),
    "timezone": _opt(TIMEZONE),
    "description": _opt(RAW),
    **_NAMES,
    "interests": _opt(TEXT),
}
_USER_MORE = {
    "institution": _opt(TEXT),
    "department": _opt(TEXT),
    "phone1": _opt(NOTAGS),
    "phone2": _opt(NOTAGS),
    "address": _opt(TEXT),
}
CREATE_USER = Single(
    {
        "createpassword": _opt(BOOL),
        "username": Value(USERNAME),
        "auth": Value(AUTH, DEFAULT, "manual"),
        "password": _opt(RAW),
        "firstname": Value(NOTAGS),
        "lastname": Value(NOTAGS),
        "email": Value(RAW_TRIMMED),
        **_USER_OPTIONAL,
        "idnumber": Value(RAW, DEFAULT, ""),
        **_USER_MORE,
        "lang": Value(LANG, DEFAULT, "en"),
        "calendartype": Value(PLUGIN, DEFAULT, "gregorian"),
        "theme": _opt(THEME),
        "mailformat": _opt(INT),
        "customfields": _TYPED_PAIRS,
        "preferences": _TYPED_PAIRS,
    }
)
UPDATE_USER = Single(
    {
        "id": Value(INT),
        "username": _opt(USERNAME),
        "auth": _opt(AUTH),
        "suspended": _opt(BOOL),
        "password": _opt(RAW),
        "firstname": _opt(NOTAGS),
        "lastname": _opt(NOTAGS),
        "email": _opt(RAW_TRIMMED),
        **_USER_OPTIONAL,
        "userpicture": _opt(INT),
        "idnumber": _opt(RAW),
        **_USER_MORE,
        "lang": _opt(LANG),
        "calendartype": _opt(PLUGIN),
        "theme": _opt(THEME),
        "mailformat": _opt(INT),
        "customfields": _TYPED_PAIRS,
        "preferences": _TYPED_PAIRS,
    }
)
_COHORT: dict[str, Value | Single | Multiple] = {
    "categorytype": Single({"type": Value(TEXT), "value": Value(RAW)}),
    "name": Value(RAW),
    "idnumber": Value(RAW),
    "description": _opt(RAW),
    "descriptionformat": Value(INT, DEFAULT, 1),
    "visible": _opt(BOOL),
    "theme": _opt(THEME),
}
_COHORT_REF = Single({"type": Value(ALPHANUMEXT), "value": Value(RAW)})

PARAMETERS: dict[str, Single] = {
    "core_webservice_get_site_info": Single({"serviceshortnames": Multiple(Value(ALPHANUMEXT), DEFAULT)}),
    "core_user_get_users_by_field": Single({"field": Value(ALPHA), "values": Multiple(Value(RAW))}),
    "core_user_get_users": Single({"criteria": Multiple(Single({"key": Value(ALPHA), "value": Value(RAW)}))}),
    "core_user_create_users": Single({"users": Multiple(CREATE_USER)}),
    "core_user_update_users": Single({"users": Multiple(UPDATE_USER)}),
    "core_user_delete_users": Single({"userids": Multiple(Value(INT))}),
    "core_cohort_create_cohorts": Single({"cohorts": Multiple(Single(_COHORT))}),
    "core_cohort_search_cohorts": Single(
        {
            "query": Value(RAW),
            "context": Single(
                {
                    "contextid": Value(INT, DEFAULT, 0),
                    "contextlevel": Value(ALPHA, DEFAULT, ""),
                    "instanceid": Value(INT, DEFAULT, 0),
                }
            ),
            "includes": Value(ALPHA, DEFAULT, "parents"),
            "limitfrom": Value(INT, DEFAULT, 0),
            "limitnum": Value(INT, DEFAULT, 25),
        }
    ),
    "core_cohort_get_cohorts": Single({"cohortids": Multiple(Value(INT), DEFAULT)}),
    "core_cohort_get_cohort_members": Single({"cohortids": Multiple(Value(INT))}),
    "core_cohort_update_cohorts": Single({"cohorts": Multiple(Single({"id": Value(INT), **_COHORT}))}),
    "core_cohort_add_cohort_members": Single(
        {"members": Multiple(Single({"cohorttype": _COHORT_REF, "usertype": _COHORT_REF}))}
    ),
    "core_cohort_delete_cohort_members": Single(
        {"members": Multiple(Single({"cohortid": Value(INT), "userid": Value(INT)}))}
    ),
}
