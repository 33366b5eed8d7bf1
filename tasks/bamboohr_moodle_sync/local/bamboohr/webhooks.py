"""BambooHR's webhook side: one signed POST of the documented payload per changed employee.

Payload and headers as shared/reference/bamboohr.md ("Webhooks") and docs/webhooks.md give them: ``{"type",
"timestamp", "data": {"companyId", "employeeId", "changedFields"}}``, ``X-BambooHR-Timestamp`` (Unix seconds)
and ``X-BambooHR-Signature`` (hex HMAC-SHA256 of the body then the timestamp, keyed with the private key).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import requests

from bamboohr_moodle_sync.webhook import iso, sign


def payload(employee_id: str, event_type: str, changed: tuple[str, ...] = (), at: float | None = None) -> bytes:
    event = {
        "type": event_type,
        "timestamp": iso(time.time() if at is None else at),
        "data": {"companyId": 1, "employeeId": employee_id, "changedFields": list(changed)},
    }
    return json.dumps(event).encode("utf-8")


def signed_headers(body: bytes, private_key: str, at: float | None = None) -> dict[str, str]:
    stamp = str(int(time.time() if at is None else at))
    return {
        "Content-Type": "application/json",
        "X-BambooHR-Timestamp": stamp,
        "X-BambooHR-Signature": sign(private_key, body, stamp),
    }


@dataclass(frozen=True)
class Delivery:
    employee_id: str
    event_type: str
    status: int


@dataclass
class WebhookSender:
    """A registered webhook: where BambooHR posts, and the key it signs with (another key: a forged delivery)."""

    url: str
    private_key: str
    deliveries: list[Delivery] = field(default_factory=list)

    def send(self, employee_id: str, event_type: str, changed: tuple[str, ...] = ()) -> Delivery:
        body = payload(employee_id, event_type, changed)
        answer = requests.post(self.url, data=body, headers=signed_headers(body, self.private_key), timeout=30)
        delivery = Delivery(employee_id, event_type, answer.status_code)
        self.deliveries.append(delivery)
        return delivery
