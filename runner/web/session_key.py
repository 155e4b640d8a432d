"""The session cookie's key: derived from ``TELECAMPAIGN_SECRET_KEY``, or from a random
key written once to ``$TELECAMPAIGN_HOME/secret.key`` on a fresh machine without it.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from runner.settings import Settings
from runner.site_secrets import MIN_SECRET_LENGTH, SecretKeyError, generated_secret

__all__ = [
    "KEY_FILE",
    "MIN_SECRET_LENGTH",
    "SecretKeyError",
    "derive_session_key",
    "session_fernet",
]

log = logging.getLogger("telecampaign.auth")

KEY_FILE = "secret.key"


# --- the session key ---------------------------------------------------------------


def derive_session_key(secret: str) -> bytes:
    """A Fernet key (urlsafe base64 of 32 bytes) derived from the configured secret.

    HKDF with a purpose label, so the same secret could key something else one day
    without the two keys being related.
    """
    raw = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"telecampaign session cookie"
    ).derive(secret.encode("utf-8"))
    return base64.urlsafe_b64encode(raw)


def _generated_secret(home: Path) -> str:
    """The secret in ``home/secret.key``, written once (mode 0600) when missing."""
    return generated_secret(home, KEY_FILE, "TELECAMPAIGN_SECRET_KEY")


def session_fernet(settings: Settings) -> Fernet:
    """The cookie cipher: from TELECAMPAIGN_SECRET_KEY, else from the generated key file."""
    if settings.secret_key is not None:
        secret = settings.secret_key.get_secret_value()
        if len(secret) < MIN_SECRET_LENGTH:
            raise SecretKeyError(
                f"TELECAMPAIGN_SECRET_KEY is too short ({len(secret)} characters): "
                f"use at least {MIN_SECRET_LENGTH} random characters"
            )
    else:
        secret = _generated_secret(settings.home)
        log.warning(
            "TELECAMPAIGN_SECRET_KEY is not set: sessions use the generated key in %s; "
            "production must set TELECAMPAIGN_SECRET_KEY (the same on every web process)",
            settings.home / KEY_FILE,
        )
    return Fernet(derive_session_key(secret))
