"""Where the Chariot server is and how to prove who we are. Secrets stay ``SecretStr``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError, plain_message


class ChariotSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    url: str
    token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    ca_bundle: Path | None = None  # a file of CA certificates, or a directory of them (as SSL_CERT_DIR)
    ca_source: str = "CHARIOT_CA_BUNDLE"  # the variable ``ca_bundle`` came from, for a message about it
    client_cert: Path | None = None
    client_key: Path | None = None
    timeout_seconds: float = Field(default=30.0, gt=0, le=3600, allow_inf_nan=False)

    @model_validator(mode="after")
    def _credentials_pair(self) -> ChariotSettings:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"CHARIOT_URL must start with http:// or https://, not {without_credentials(self.url)!r}")
        if (self.client_id is None) != (self.client_secret is None):
            raise ValueError("CHARIOT_CLIENT_ID and CHARIOT_CLIENT_SECRET must be given together")
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("a client key needs its client certificate (CHARIOT_CLIENT_CERT)")
        if "@" in self.url.partition("://")[2].partition("/")[0]:
            raise ValueError(f"CHARIOT_URL holds credentials ({without_credentials(self.url)}): they would replace "
                             "the token and end in a 401; give the URL alone and the token in CHARIOT_TOKEN (or "
                             "CHARIOT_CLIENT_ID/CHARIOT_CLIENT_SECRET)")
        for variable, path in ((self.ca_source, self.ca_bundle), ("CHARIOT_CLIENT_CERT", self.client_cert),
                               ("CHARIOT_CLIENT_KEY", self.client_key)):
            if path is None:
                continue
            if not path.exists():
                raise ValueError(f"{variable} names {str(path)!r}, which does not exist")
            if not os.access(path, os.R_OK):
                raise ValueError(f"{variable} names {str(path)!r}, which cannot be read")
            if path.is_dir() and variable != "SSL_CERT_DIR":
                raise ValueError(f"{variable} names {str(path)!r}, a directory, not a file")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> ChariotSettings | None:
        """Settings from ``CHARIOT_*`` variables (then ``overrides``); ``None`` when no URL is set."""
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "url": env.get("CHARIOT_URL"),
            "token": env.get("CHARIOT_TOKEN"),
            "client_id": env.get("CHARIOT_CLIENT_ID"),
            "client_secret": env.get("CHARIOT_CLIENT_SECRET"),
            **_ca_bundle(env),
            "client_cert": env.get("CHARIOT_CLIENT_CERT"),
            "client_key": env.get("CHARIOT_CLIENT_KEY"),
            "timeout_seconds": env.get("CHARIOT_TIMEOUT"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        values = {k: v for k, v in values.items() if v not in (None, "")}
        if "url" not in values:
            return None
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError("invalid Chariot settings: " + "; ".join(plain_message(e) for e in exc.errors()),
                                hint="check the CHARIOT_* environment variables (and --chariot-url)") from None


def _ca_bundle(env: Mapping[str, str]) -> dict[str, object]:
    """The CA certificates to trust: ``CHARIOT_CA_BUNDLE``, else OpenSSL's ``SSL_CERT_FILE`` or ``SSL_CERT_DIR``
    (as httpx honours them), else certifi's bundle (nothing set)."""
    for variable in ("CHARIOT_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        if env.get(variable):
            return {"ca_bundle": env[variable], "ca_source": variable}
    return {}


class SettingsError(UserError):
    """The ``CHARIOT_*`` settings do not make a usable connection."""

    code = codes.SETTINGS


def without_credentials(url: str) -> str:
    """``url`` with any ``user:password@`` replaced, so that it can be shown."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.rpartition("@")[2] if "@" in url.partition("/")[0] else url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}{sep}{authority}{slash}{path}"


def url_password(url: str) -> str | None:
    """The ``user:password@`` part's password (or the whole userinfo where there is no colon), to mask it."""
    authority = url.partition("://")[2].partition("/")[0] if "://" in url else url.partition("/")[0]
    if "@" not in authority:
        return None
    userinfo = authority.rpartition("@")[0]
    return userinfo.partition(":")[2] or userinfo
