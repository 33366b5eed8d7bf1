"""The Moodle emulator's tables: accounts with their lookup indexes, cohorts and cohort members.

A write call is one transaction (:meth:`State.begin`, :meth:`State.commit`, :meth:`State.rollback`):
the first change to an account saves that account's original, so a rollback costs what the call touched,
not the size of the site; cohorts and members (small) are copied when the transaction begins. Reads take
no copy at all. Id sequences never roll back, as in SQL. Accounts are changed only through
``insert_user``, ``update_user``, ``delete_user`` and ``writable_user``, which keep the indexes right.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bamboohr_moodle_sync.local.moodle import profile

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from bamboohr_moodle_sync.local.moodle.params import Site
    from bamboohr_moodle_sync.local.moodle.profile import FieldDefinition

SYSTEM_CONTEXT, CATEGORY_CONTEXT = 1, 3  # context ids of the site and of the default category (id 1)
_USER_DEFAULTS: dict[str, Any] = {
    "auth": "manual", "idnumber": "", "department": "", "institution": "", "city": "", "country": "",
    "lang": "en", "timezone": "99", "description": "", "suspended": False, "confirmed": True, "password": "",
    "mailformat": 1, "customfields": {}, "preferences": {},
}  # fmt: skip
# Indexed lookups: name -> the key an account is filed under. "email_ci" serves the uniqueness check,
# which ignores case as Moodle's does; the others are the exact matches get_users_by_field makes.
_INDEXES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "username": lambda u: u["username"],
    "idnumber": lambda u: u["idnumber"],
    "email": lambda u: u["email"],
    "email_ci": lambda u: str(u["email"]).lower(),
}


@dataclass
class State:
    """The site's tables. ``users`` is read freely; it is changed only through the methods below."""

    site: Site
    allowaccountssameemail: bool = False
    password_policy: bool = True
    profile_fields: dict[str, FieldDefinition] = field(default_factory=dict)  # shortname -> definition, sort order
    timezone: str = "Europe/London"
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    cohorts: dict[int, dict[str, Any]] = field(default_factory=dict)
    members: set[tuple[int, int]] = field(default_factory=set)
    rejected_usernames: set[str] = field(default_factory=set)
    rejected_idnumbers: set[str] = field(default_factory=set)
    outbox: list[str] = field(default_factory=list)  # usernames mailed a password; mail is never rolled back
    next_user_id: int = 1
    next_cohort_id: int = 1
    _index: dict[str, dict[Any, set[int]]] = field(default_factory=lambda: {name: {} for name in _INDEXES})
    _saved_users: dict[int, dict[str, Any] | None] | None = None  # id -> original (None: new); None: no call
    _saved_rest: tuple[dict[int, dict[str, Any]], set[tuple[int, int]]] | None = None

    def __post_init__(self) -> None:
        self.insert_user({"username": "guest", "firstname": "Guest user", "lastname": " ", "email": "root@localhost"})
        self.insert_user({"username": "admin", "firstname": "Admin", "lastname": "User", "email": "admin@example.test"})

    # --- transactions --------------------------------------------------------------------------------------
    def begin(self) -> None:
        self._saved_users = {}
        self._saved_rest = ({i: dict(c) for i, c in self.cohorts.items()}, set(self.members))

    def commit(self) -> None:
        self._saved_users = self._saved_rest = None

    def rollback(self) -> None:
        saved, rest = self._saved_users, self._saved_rest
        self.commit()
        if saved is None or rest is None:
            return
        reinserted = False
        for user_id, original in saved.items():
            current = self.users.pop(user_id, None)
            if current is not None:
                self._unfile(current)
            if original is not None:
                reinserted = reinserted or current is None
                self.users[user_id] = original
                self._file(original)
        if reinserted:  # a deleted account is back: keep the table in id order, as before the call
            self.users = dict(sorted(self.users.items()))
        self.cohorts, self.members = rest

    def _save(self, user_id: int) -> None:
        if self._saved_users is not None and user_id not in self._saved_users:
            existing = self.users.get(user_id)
            self._saved_users[user_id] = copy.deepcopy(existing) if existing is not None else None

    # --- accounts ------------------------------------------------------------------------------------------
    def insert_user(self, fields: dict[str, Any]) -> int:
        user_id, self.next_user_id = self.next_user_id, self.next_user_id + 1
        self._save(user_id)
        user = copy.deepcopy(_USER_DEFAULTS) | fields | {"id": user_id}
        self.users[user_id] = user
        self._file(user)
        return user_id

    def writable_user(self, user_id: int) -> dict[str, Any]:
        """The live account, saved for rollback first; change no indexed field through it."""
        self._save(user_id)
        return self.users[user_id]

    def update_user(self, user_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        user = self.writable_user(user_id)
        self._unfile(user)
        user.update(changes)
        self._file(user)
        return user

    def delete_user(self, user_id: int) -> None:
        self._save(user_id)
        self._unfile(self.users.pop(user_id))

    def ids_by(self, index: str, values: Iterable[Any]) -> list[int]:
        """Ids of the accounts filed under any of ``values`` in ``index``, in id order."""
        table = self._index[index]
        return sorted({i for value in values for i in table.get(value, ())})

    def _file(self, user: dict[str, Any]) -> None:
        for name, key in _INDEXES.items():
            self._index[name].setdefault(key(user), set()).add(user["id"])

    def _unfile(self, user: dict[str, Any]) -> None:
        for name, key in _INDEXES.items():
            ids = self._index[name].get(key(user))
            if ids is not None:
                ids.discard(user["id"])
                if not ids:
                    del self._index[name][key(user)]

    # --- cohorts and checks --------------------------------------------------------------------------------
    def insert_cohort(self, fields: dict[str, Any]) -> int:
        cohort_id, self.next_cohort_id = self.next_cohort_id, self.next_cohort_id + 1
        defaults = {"contextid": SYSTEM_CONTEXT, "description": "", "descriptionformat": 1, "visible": True}
        self.cohorts[cohort_id] = defaults | fields | {"id": cohort_id}
        return cohort_id

    def rejected(self, *users: dict[str, Any]) -> bool:
        return any(
            u.get("username") in self.rejected_usernames or u.get("idnumber") in self.rejected_idnumbers for u in users
        )

    def username_taken(self, username: str, except_id: int | None = None) -> bool:
        return bool(self._index["username"].get(username, set()) - {except_id})

    def email_taken(self, email: str, except_id: int | None = None) -> bool:
        return bool(self._index["email_ci"].get(email.lower(), set()) - {except_id})

    def set_profile(self, user: dict[str, Any], given: dict[str, Any]) -> None:
        for pair in given.get("customfields", []):
            definition = self.profile_fields.get(pair["type"])
            if definition is None:  # profile_save_data() ignores fields the site lacks
                continue
            user["customfields"][pair["type"]] = profile.stored(definition, pair["value"], self.timezone)
        for pair in given.get("preferences", []):
            user["preferences"][pair["type"]] = pair["value"]
