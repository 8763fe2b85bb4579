"""The signed reply token every sent message carries in its Reply-To plus address.

``ar+<token>@vendor.example``: the token is the first 16 characters of the outbox
message's key and 10 characters of an HMAC over them, all lowercase hex (mail
servers may change the case of a local part). A reply that lost its
``In-Reply-To`` (forwarded, retyped, sent from a phone) still reaches its account
by the token; a forged token fails the HMAC and counts for nothing.

The key is ``DUNNING_REPLY_TOKEN_SECRET`` when set, else a random key the database
made once (``instance.reply_secret``), so tokens survive restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tools.tables import Instance

KEY_PART = 16
SIGNATURE_PART = 10
_TOKEN = re.compile(rf"\+([0-9a-f]{{{KEY_PART + SIGNATURE_PART}}})@", re.IGNORECASE)


def _signature(key_part: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), key_part.encode(), hashlib.sha256).hexdigest()
    return digest[:SIGNATURE_PART]


def make_token(message_key: str, secret: str) -> str:
    key_part = message_key[:KEY_PART].lower()
    return key_part + _signature(key_part, secret)


def reply_address(base: str, token: str) -> str:
    """``local+token@domain`` for the address ``base`` (any existing ``+tag`` replaced)."""
    local, _, domain = base.rpartition("@")
    local = local.split("+", 1)[0]
    return f"{local}+{token}@{domain}"


def key_prefix_from(addresses: Iterable[str], secret: str) -> str | None:
    """The message-key prefix of the first correctly signed token among ``addresses``."""
    for address in addresses:
        for match in _TOKEN.finditer(address + ("" if "@" in address else "@")):
            token = match.group(1).lower()
            key_part, signature = token[:KEY_PART], token[KEY_PART:]
            if hmac.compare_digest(signature, _signature(key_part, secret)):
                return key_part
    return None


def load_secret(conn: Connection, configured: str | None) -> str:
    if configured:
        return configured
    secret = conn.execute(sa.select(Instance.reply_secret).where(Instance.id == 1)).scalar()
    if not secret:
        raise RuntimeError("the database has no reply-token key: run a migration first")
    return str(secret)
