"""Every MQTT topic the hub and the centre use, the hub-id pattern, and the session settings both
sides connect with: one place, from which the broker's ACL (`centre broker-config`) is built too.
docs/protocol.md, "MQTT"."""

from __future__ import annotations

import re
from typing import Literal

NAMESPACE = "dho/v1"
HUB_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{2,62}$"
_HUB_ID = HUB_ID_PATTERN[1:-1]
DocType = Literal["care_plan", "message", "centre_key", "call_ack"]
DOC_TYPES: tuple[DocType, ...] = ("care_plan", "message", "centre_key", "call_ack")

# A persistent session (clean_start false) the broker keeps for a week: a hub that is offline
# for days still gets the acks and documents queued for it.
SESSION_EXPIRY_S = 7 * 24 * 3600

BATCH_TOPIC = re.compile(rf"^{NAMESPACE}/hub/({_HUB_ID})/batch$")
STATUS_TOPIC = re.compile(rf"^{NAMESPACE}/hub/({_HUB_ID})/status$")
DOWNLINK_TOPIC = re.compile(rf"^{NAMESPACE}/hub/({_HUB_ID})/down/({'|'.join(DOC_TYPES)})$")


def hub_topic(hub_id: str, leaf: str) -> str:
    """A topic under one hub; `hub_id` may be a wildcard (+) or the broker's %u."""
    return f"{NAMESPACE}/hub/{hub_id}/{leaf}"


def batch_topic(hub_id: str) -> str:
    return hub_topic(hub_id, "batch")


def ack_topic(hub_id: str) -> str:
    return hub_topic(hub_id, "ack")


def status_topic(hub_id: str) -> str:
    return hub_topic(hub_id, "status")


def downlink_topic(hub_id: str, doc_type: str) -> str:
    return hub_topic(hub_id, f"down/{doc_type}")


def shared_batch_subscription(group: str) -> str:
    """What the centre's ingest workers subscribe to: each batch goes to one worker of `group`."""
    return f"$share/{group}/{batch_topic('+')}"
