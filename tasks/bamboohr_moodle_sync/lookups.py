"""The Moodle accounts a batch's plan depends on, found in bulk before anything is written.

Three bulk ``core_user_get_users_by_field`` lookups serve every employee of the batch: by idnumber, by username,
and by e-mail as BambooHR gives it and lowercased. That last one is exact and case-sensitive on a real Moodle
(PostgreSQL), while ``core_user_create_users`` refuses an e-mail that matches an existing one ignoring case
(docs/moodle.md). So an employee the plan would create gets one more look, ignoring case, with the one function
that compares e-mail that way: ``core_user_get_users`` (``ILIKE``, one e-mail criterion per call).

Cost: per e-mail domain, up to ``ONE_BY_ONE_UP_TO`` addresses are looked up one call each, with ``%``, ``_`` and
``\\`` escaped, so each answer is (on PostgreSQL) exactly that address in any case; more share one ``%@domain``
call, whose answer is every account of the domain. A steady window (a few hires a batch) costs a few small calls;
a first load costs one call a batch, whose answer grows with the accounts already in the domain. Either answer is
filtered here by a case-insensitive comparison, so a wider answer (another database's LIKE) never matters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .mapping import DesiredUser
    from .models import Change, MoodleUser
    from .moodle import MoodleClient

ONE_BY_ONE_UP_TO = 5
"""Addresses of one domain looked up one call each; past this the domain's accounts come in one call."""


def accounts_for(moodle: MoodleClient, batch: Sequence[Change], desired: Iterable[DesiredUser]) -> list[MoodleUser]:
    """Accounts whose idnumber is a batch employee's id, or whose username or exact e-mail a desired user has."""
    wanted = list(desired)
    emails = {d.email for d in wanted} | {d.email.lower() for d in wanted}
    found = moodle.find_users("idnumber", [c.employee_id for c in batch])
    found += moodle.find_users("username", sorted({d.username for d in wanted}))
    found += moodle.find_users("email", sorted(emails))
    return found


def accounts_with_emails_ignoring_case(moodle: MoodleClient, emails: Iterable[str]) -> list[MoodleUser]:
    """Accounts whose e-mail equals one of ``emails`` ignoring case."""
    wanted = {email.lower() for email in emails if "@" in email}
    by_domain: dict[str, list[str]] = {}
    for email in sorted(wanted):
        by_domain.setdefault(email.rpartition("@")[2], []).append(email)
    found: list[MoodleUser] = []
    for domain, addresses in by_domain.items():
        if len(addresses) <= ONE_BY_ONE_UP_TO:
            patterns = [like_escape(address) for address in addresses]
        else:
            patterns = ["%@" + like_escape(domain)]
        for pattern in patterns:
            found += [u for u in moodle.users_with_email_like(pattern) if u.email.lower() in wanted]
    return found


def like_escape(text: str) -> str:
    """``text`` as a literal in Moodle's ``sql_like`` (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
