"""Site secrets from the environment, or generated once into ``TELECAMPAIGN_HOME``.

A fresh machine runs with nothing set: a secret missing from the environment is made
once, written owner-only (0600) to a file in the home folder and read from there by
every process after. Production sets them in the environment, the same on every process.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from runner.settings import Settings
from store.suppression import SuppressionKey

__all__ = [
    "ERASURE_KEY_FILE",
    "MIN_SECRET_LENGTH",
    "SecretKeyError",
    "generated_secret",
    "suppression_key",
]

log = logging.getLogger("telecampaign.privacy")

ERASURE_KEY_FILE = "erasure.key"
MIN_SECRET_LENGTH = 32


class SecretKeyError(ValueError):
    """A configured secret or a generated key file cannot be used."""


def generated_secret(home: Path, name: str, setting: str) -> str:
    """The secret in ``home/name``, written once (mode 0600) when missing.

    Written to a private temporary file and linked into place, so two processes starting
    together end up with the same secret and nobody reads a half-written one.
    """
    path = home / name
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        tmp = home / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
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
            f"{path} holds no usable key: delete it to have a new one made, or set {setting}"
        )
    return secret


def suppression_key(settings: Settings) -> SuppressionKey:
    """The key of the erased customers' hashes: TELECAMPAIGN_ERASURE_SALT, else the
    generated key file. It must never change: hashes made under the old key would no
    longer stop an erased customer's number."""
    if settings.erasure_salt is not None:
        secret = settings.erasure_salt.get_secret_value()
        if len(secret) < MIN_SECRET_LENGTH:
            raise SecretKeyError(
                f"TELECAMPAIGN_ERASURE_SALT is too short ({len(secret)} characters): "
                f"use at least {MIN_SECRET_LENGTH} random characters"
            )
        return SuppressionKey(secret.encode("utf-8"))
    return SuppressionKey(
        generated_secret(settings.home, ERASURE_KEY_FILE, "TELECAMPAIGN_ERASURE_SALT").encode()
    )
