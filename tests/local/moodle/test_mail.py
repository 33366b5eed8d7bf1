"""The mail-relay fault: ``core_user_create_users`` mails each new user inside its one transaction.

Observed on a real Moodle 4.5.6 (shared/reference/moodle.md): with a relay taking 0.25 s a message, 110 users
took 33.5 s instead of 0.9 s; past the client's read timeout the users of the call existed afterwards.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest
import requests

from tests.local.moodle.test_reference import form, person

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from bamboohr_moodle_sync.local.moodle.emulator import RunningMoodle

MAIL_DELAY_S = 0.3


def send(moodle: RunningMoodle, wsfunction: str, timeout: float = 30, **params: Any) -> requests.Response:
    data = [("wstoken", moodle.token), ("wsfunction", wsfunction), ("moodlewsrestformat", "json")]
    for name, value in params.items():
        data += form(value, name)
    return requests.post(moodle.endpoint, data=data, timeout=timeout)


def users(count: int, **extra: Any) -> list[dict[str, Any]]:
    return [person(f"u{n}", createpassword=1) | extra for n in range(count)]


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    done = threading.Event()
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        done.wait(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def slow_mail(moodle: RunningMoodle) -> Iterator[RunningMoodle]:
    moodle.server.faults.mail_delay_s = MAIL_DELAY_S
    yield moodle
    moodle.server.faults.mail_delay_s = 0.0


def test_each_created_user_is_mailed_once(moodle: RunningMoodle) -> None:
    send(moodle, "core_user_create_users", users=users(3))
    assert moodle.emulator.outbox == ["u0", "u1", "u2"]


def test_a_user_created_without_createpassword_is_not_mailed(moodle: RunningMoodle) -> None:
    send(moodle, "core_user_create_users", users=[person("ann", auth="oauth2")])
    assert (moodle.emulator.outbox, [u["username"] for u in moodle.emulator.users()]) == ([], ["ann"])


def test_slow_mail_makes_the_create_outlast_a_shorter_read_timeout(slow_mail: RunningMoodle) -> None:
    with pytest.raises(requests.ReadTimeout):
        send(slow_mail, "core_user_create_users", timeout=MAIL_DELAY_S, users=users(3))


def test_a_client_that_stops_waiting_does_not_stop_the_create(slow_mail: RunningMoodle) -> None:
    with pytest.raises(requests.ReadTimeout):
        send(slow_mail, "core_user_create_users", timeout=MAIL_DELAY_S, users=users(3))
    wait_until(lambda: len(slow_mail.emulator.users()) == 3, "the abandoned create to commit")
    assert slow_mail.emulator.outbox == ["u0", "u1", "u2"]


def test_users_of_a_mailing_create_are_invisible_until_it_commits(slow_mail: RunningMoodle) -> None:
    create = threading.Thread(target=send, args=(slow_mail, "core_user_create_users"), kwargs={"users": users(3)})
    create.start()
    wait_until(lambda: slow_mail.emulator.call_count("core_user_create_users") == 1, "the create to arrive")
    during = send(slow_mail, "core_user_get_users_by_field", field="username", values=["u0", "u1", "u2"]).json()
    create.join(timeout=10)
    after = send(slow_mail, "core_user_get_users_by_field", field="username", values=["u0", "u1", "u2"]).json()
    assert (during, len(after)) == ([], 3)


def test_a_create_resent_while_the_first_is_mailing_fails_and_nobody_is_mailed_twice(
    slow_mail: RunningMoodle,
) -> None:
    first = threading.Thread(target=send, args=(slow_mail, "core_user_create_users"), kwargs={"users": users(2)})
    first.start()
    wait_until(lambda: slow_mail.emulator.call_count("core_user_create_users") == 1, "the first create to arrive")
    again = send(slow_mail, "core_user_create_users", users=users(2)).json()
    first.join(timeout=10)
    assert again["errorcode"] == "dmlwriteexception"  # the unique index on username, once the first commits
    assert sorted(slow_mail.emulator.outbox) == ["u0", "u1"]
    assert len(slow_mail.emulator.users()) == 2


def test_the_demo_fault_moodle_mail_delay_ms_sets_the_relay_delay() -> None:
    from bamboohr_moodle_sync.local.pipeline.offline import Options
    from bamboohr_moodle_sync.local.pipeline.runner import parse_fault

    options = Options()
    parse_fault("moodle-mail-delay-ms=250", options)
    assert options.moodle_faults.mail_delay_s == 0.25
    with pytest.raises(ValueError, match="moodle-mail-delay-ms=-1"):
        parse_fault("moodle-mail-delay-ms=-1", options)
