"""Secret links (invitations, crowd entry links): only the token's SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 24


class LinkRefused(Exception):
    """A link that cannot be used: ``status`` 404 (unknown), 410 (expired, used up,
    revoked) or 403 (the person may not use it); the message says which."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def link_token_new() -> tuple[str, str]:
    """A fresh token and the hash to store."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, link_token_hash(token)


def link_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
