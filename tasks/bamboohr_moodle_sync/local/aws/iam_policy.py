"""IAM policy evaluation for the offline run: moto's evaluator, made as strict as AWS where this project needs it.

moto 5.2.5's ``IAMPolicyStatement`` (``moto/iam/access_control.py``) matches Action and Resource and knows only
string-equality conditions; any other operator (``ArnEquals`` on ``ecs:cluster`` included) is ignored, so the
statement comes out allowed. It also treats a statement whose condition fails as an explicit deny, has no
``NotResource``, and matches actions case-sensitively with unescaped regular expressions. ``StrictStatement``
extends it with AWS's documented semantics (IAM User Guide, "Policy evaluation logic" and "Condition operators"):

- Action and NotAction match case-insensitively, Resource and NotResource case-sensitively; ``*`` and ``?`` are
  the only wildcards.
- A statement applies when its action, resource and every condition match; a Deny that applies wins, else an
  Allow that applies allows, else the request is implicitly denied. A condition that fails makes the statement
  not apply (it never denies by itself).
- Conditions: the String*, Arn* and Bool operators, each with ``IfExists`` or behind ``ForAllValues:`` /
  ``ForAnyValue:`` (multi-valued keys such as ``dynamodb:LeadingKeys``), and ``Null``. A key missing from the
  request context fails a positive operator (passes with ``IfExists``, and under ``ForAllValues:``, as on AWS).
  Anything else (Numeric*, Date*, IpAddress, Binary, a set qualifier on a negated operator, a negated operator on
  a missing key) raises ``CannotDecide``: the evaluation never silently allows what it does not understand.
- Condition keys are compared case-insensitively, as AWS does, and a condition may only name a key the request
  models (``Request.modelled``: the keys the enforcement supplies for it, present or legitimately absent). A key
  it does not model (``aws:SecureTransport``, ``aws:PrincipalTag/...``, ``dynamodb:Attributes``) raises
  ``CannotDecide``: on AWS the request would carry it, and an Allow or a Deny on it could go either way.
- Trust policies: ``Principal`` is matched against the ``Service`` or ``AWS`` principal of the request.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from moto.iam.access_control import IAMPolicyStatement


class CannotDecide(Exception):
    """A policy uses something this evaluator does not implement; the request is neither allowed nor denied."""


class Decision(enum.Enum):
    ALLOWED = "allowed"
    IMPLICIT_DENY = "implicitly denied"
    EXPLICIT_DENY = "explicitly denied"


@dataclass(frozen=True)
class Request:
    """One authorisation request: who, what, on which resource, with which condition keys."""

    action: str  # service:Action
    resource: str  # an ARN, or "*" for actions that take none
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    principal: Mapping[str, str] = field(default_factory=dict)  # trust policies: {"Service": ...} or {"AWS": arn}
    absent: frozenset[str] = frozenset()
    """Condition keys the request models as absent (AWS would not send them either); with the context's keys,
    the only keys a condition may name."""

    @property
    def modelled(self) -> frozenset[str]:
        return frozenset(key.lower() for key in (*self.context, *self.absent))


@lru_cache(maxsize=1024)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's ``*``/``?`` matching of one pattern against one value."""
    return _wildcard(pattern, ignore_case).match(value) is not None


def arn_match(pattern: str, value: str) -> bool:
    """ArnEquals/ArnLike: the six colon-separated parts matched one by one, wildcards within a part."""
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return False
    return all(wildcard_match(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _string_equals(pattern: str, value: str) -> bool:
    return pattern == value


def _string_equals_ignore_case(pattern: str, value: str) -> bool:
    return pattern.lower() == value.lower()


def _string_like(pattern: str, value: str) -> bool:
    return wildcard_match(pattern, value)


def _bool(pattern: str, value: str) -> bool:
    return str(pattern).lower() == str(value).lower()


_POSITIVE = {
    "StringEquals": _string_equals,
    "StringEqualsIgnoreCase": _string_equals_ignore_case,
    "StringLike": _string_like,
    "ArnEquals": arn_match,
    "ArnLike": arn_match,
    "Bool": _bool,
}
_NEGATED = {
    "StringNotEquals": _string_equals,
    "StringNotEqualsIgnoreCase": _string_equals_ignore_case,
    "StringNotLike": _string_like,
    "ArnNotEquals": arn_match,
    "ArnNotLike": arn_match,
}


def condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, str | Sequence[str]]) -> bool:
    """One ``operator: {key: expected}`` entry of a Condition block, against the request context."""
    qualifier, _, rest = operator.partition(":")
    if rest and qualifier in ("ForAnyValue", "ForAllValues"):
        return _set_condition_holds(qualifier, rest, key, expected, context)
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    present = key in context
    if base == "Null" and not if_exists:
        return all(str(e).lower() == ("false" if present else "true") for e in _as_list(expected))
    if base in _POSITIVE:
        if not present:
            return if_exists
        values = [str(v) for v in _as_list(context[key])]
        return any(_POSITIVE[base](str(e), v) for e in _as_list(expected) for v in values)
    if base in _NEGATED:
        if not present:
            if if_exists:
                return True
            raise CannotDecide(f"{operator} on {key}, which the request does not carry")
        values = [str(v) for v in _as_list(context[key])]
        return not any(_NEGATED[base](str(e), v) for e in _as_list(expected) for v in values)
    raise CannotDecide(f"condition operator {operator} is not implemented")


def _set_condition_holds(
    qualifier: str, operator: str, key: str, expected: Any, context: Mapping[str, str | Sequence[str]]
) -> bool:
    """``ForAllValues:``/``ForAnyValue:`` with a positive operator, on a multi-valued key (IAM User Guide,
    "Multivalued context keys"): ForAllValues holds when every request value matches some policy value, and also
    when the key is missing or empty; ForAnyValue holds when some request value matches some policy value."""
    if operator not in _POSITIVE:
        raise CannotDecide(f"set operator {qualifier}:{operator} on {key} is not implemented")
    values = [str(v) for v in _as_list(context.get(key, []))]

    def matches(value: str) -> bool:
        return any(_POSITIVE[operator](str(e), value) for e in _as_list(expected))

    if qualifier == "ForAllValues":
        return all(matches(v) for v in values)
    return any(matches(v) for v in values)


class StrictStatement(IAMPolicyStatement):
    """moto's statement wrapper with AWS's matching rules (see the module docstring)."""

    def __init__(self, statement: Mapping[str, Any]) -> None:
        super().__init__(dict(statement))
        unknown = set(statement) - {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource"}
        unknown -= {"Condition", "Principal"}
        if unknown or "NotPrincipal" in statement:
            raise CannotDecide(f"statement elements {sorted(unknown | ({'NotPrincipal'} & set(statement)))}")

    @property
    def effect(self) -> str:
        return str(self._statement["Effect"])

    def _element(self, name: str) -> list[str]:
        return [str(v) for v in _as_list(self._statement[name])]

    def _action_matches(self, action: str) -> bool:
        if "NotAction" in self._statement:
            return not any(wildcard_match(p, action, ignore_case=True) for p in self._element("NotAction"))
        return any(wildcard_match(p, action, ignore_case=True) for p in self._element("Action"))

    def _resource_matches(self, resource: str) -> bool:
        if "NotResource" in self._statement:
            return not any(wildcard_match(p, resource) for p in self._element("NotResource"))
        if "Resource" not in self._statement:
            return True  # trust policies name no resource
        return any(wildcard_match(p, resource) for p in self._element("Resource"))

    def _principal_matches(self, principal: Mapping[str, str]) -> bool:
        if "Principal" not in self._statement:
            return True
        expected = self._statement["Principal"]
        if expected == "*":
            return True
        return any(
            any(wildcard_match(str(p), principal[kind]) for p in _as_list(values))
            for kind, values in expected.items()
            if kind in principal
        )

    def _conditions_hold(self, request: Request) -> bool:
        block: Mapping[str, Mapping[str, Any]] = self._statement.get("Condition") or {}
        context = {key.lower(): value for key, value in request.context.items()}
        for entries in block.values():
            for key in entries:
                if key.lower() not in request.modelled:
                    raise CannotDecide(f"a condition on {key}, which {request.action} is not modelled with")
        return all(
            condition_holds(operator, key.lower(), expected, context)
            for operator, entries in block.items()
            for key, expected in entries.items()
        )

    def applies_to(self, request: Request) -> bool:
        return (
            self._action_matches(request.action)
            and self._resource_matches(request.resource)
            and self._principal_matches(request.principal)
            and self._conditions_hold(request)
        )


def statements_of(document: Mapping[str, Any]) -> list[StrictStatement]:
    return [StrictStatement(s) for s in _as_list(document.get("Statement", []))]


def evaluate(documents: Iterable[Mapping[str, Any]], request: Request) -> Decision:
    """AWS's evaluation over one principal's policies: an applying Deny wins, then an applying Allow."""
    allowed = False
    for document in documents:
        for statement in statements_of(document):
            if statement.applies_to(request):
                if statement.effect == "Deny":
                    return Decision.EXPLICIT_DENY
                allowed = True
    return Decision.ALLOWED if allowed else Decision.IMPLICIT_DENY


def denial_message(principal_arn: str, request: Request, decision: Decision) -> str:
    """AWS's wording of an AccessDenied answer."""
    why = (
        "with an explicit deny in an identity-based policy"
        if decision is Decision.EXPLICIT_DENY
        else f"because no identity-based policy allows the {request.action} action"
    )
    return f"User: {principal_arn} is not authorized to perform: {request.action} on resource: {request.resource} {why}"
