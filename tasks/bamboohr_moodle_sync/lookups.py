"""The Moodle accounts a batch's plan depends on, found in bulk before anything is written.

Every employee of the batch is looked up by idnumber (the BambooHR id), in one bulk
``core_user_get_users_by_field`` call. Only the employees whose own account does not already hold their
username and e-mail need more (an account made by hand to adopt, or another account holding the value):

- by username, one bulk call for all of them;
- an employee without an account by idnumber (a hire, or an account to adopt) by e-mail ignoring case, with
  the one function that compares e-mail that way, ``core_user_get_users`` (``ILIKE``, one e-mail criterion per
  call): ``core_user_create_users`` refuses an e-mail equal to an existing one but for case, and the exact
  ``get_users_by_field`` lookup is case-sensitive on a real Moodle (PostgreSQL; docs/moodle.md). Its answer holds
  every account the exact lookup would find for those addresses, so they get no exact lookup;
- an employee whose account holds another e-mail by e-mail exactly, as given and lowercased, in one bulk call.

Cost: per e-mail domain, up to ``ONE_BY_ONE_UP_TO`` addresses are looked up one call each, with ``%``, ``_`` and
``\\`` escaped, so each answer is (on PostgreSQL) exactly that address in any case; more share one ``%@domain``
call, whose answer is every account of the domain. A batch of a steady window costs the idnumber call, and
when someone is hired or changes address the username call and a few small ones; a batch of a first load costs
three calls, the last one answering the accounts already in the domain. The e-mail answers are filtered here by
a case-insensitive comparison, so a wider answer (another database's LIKE) never matters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .plan import AccountIndex

if TYPE_CHECKING:
    from .mapping import DesiredUser
    from .models import Change, MoodleUser
    from .moodle import MoodleClient

ONE_BY_ONE_UP_TO = 5
"""Addresses of one domain looked up one call each; past this the domain's accounts come in one call."""


def accounts_for(moodle: MoodleClient, batch: Sequence[Change], desired: Iterable[DesiredUser]) -> list[MoodleUser]:
    """Accounts whose idnumber is a batch employee's id, or whose username or e-mail (ignoring case for an employee
    without an account) an employee has whose own account does not hold it already."""
    found = moodle.find_users("idnumber", [c.employee_id for c in batch])
    own = AccountIndex(found).by_idnumber
    unsettled = [d for d in desired if not _holds(own.get(d.employee_id), d)]
    if unsettled:
        found += moodle.find_users("username", sorted({d.username for d in unsettled}))
    moved = {d.email for d in unsettled if d.employee_id in own and not _same_email(own[d.employee_id], d)}
    if moved:
        found += moodle.find_users("email", sorted(moved | {email.lower() for email in moved}))
    new = [d.email for d in unsettled if d.employee_id not in own]
    if new:
        found += accounts_with_emails_ignoring_case(moodle, new)
    return found


def _holds(account: MoodleUser | None, desired: DesiredUser) -> bool:
    """Whether the employee's own account already has their username and e-mail: Moodle's usernames are unique,
    and an e-mail the account has (ignoring case) is no change to the plan, so there is nothing to look up."""
    return account is not None and account.username == desired.username and _same_email(account, desired)


def _same_email(account: MoodleUser, desired: DesiredUser) -> bool:
    return account.email.lower() == desired.email.lower()


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
