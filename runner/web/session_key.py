"""The session cookie's key: derived from ``TELECAMPAIGN_SECRET_KEY``, or from a random
key written once to ``$TELECAMPAIGN_HOME/secret.key`` on a fresh machine without it.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from runner.settings import Settings

__all__ = [
    "KEY_FILE",
    "MIN_SECRET_LENGTH",
    "SecretKeyError",
    "derive_session_key",
    "session_fernet",
]

log = logging.getLogger("telecampaign.auth")

KEY_FILE = "secret.key"
MIN_SECRET_LENGTH = 32


class SecretKeyError(ValueError):
    """TELECAMPAIGN_SECRET_KEY or the generated key file cannot be used."""


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
    """The secret in ``home/secret.key``, written once (mode 0600) when missing.

    Written to a private temporary file and linked into place, so two processes starting
    together end up with the same key and nobody reads a half-written one.
    """
    path = home / KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        tmp = home / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    secret = path.read_text(encoding="utf-8").strip()
    if len(secret) < MIN_SECRET_LENGTH:
        raise SecretKeyError(
            f"{path} holds no usable key: delete it to have a new one made, "
            "or set TELECAMPAIGN_SECRET_KEY"
        )
    return secret


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
