"""Settings, read from the environment (prefix ``DHO_``) with safe defaults for a laptop."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def data_dir() -> Path:
    return Path(user_data_dir("dho", appauthor=False))


def default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'dho.sqlite3'}"


def stored_secret_key() -> str:
    """A key made once and kept in the user data folder (mode 0600), so that every process on
    this machine and every restart share it. Production sets DHO_SECRET_KEY instead."""
    path = data_dir() / "secret_key"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_text(encoding="ascii").strip()
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key)
        return key


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DHO_", extra="ignore")

    database_url: str = Field(default_factory=default_database_url)
    # Cookies are marked Secure unless explicitly relaxed for plain-http local use.
    cookie_secure: bool = True
    session_hours: int = 12
    session_idle_minutes: int = 120
    login_max_failures: int = 5
    login_window_minutes: int = 15
    login_max_failures_per_ip: int = 30
    default_locale: str = "en"
    # Signs short-lived values such as the pre-login CSRF cookie.
    secret_key: str = Field(default_factory=stored_secret_key)
    # Addresses of reverse proxies whose X-Forwarded-For/-Proto headers are believed ("" = none).
    forwarded_allow_ips: str = ""
    max_request_bytes: int = 2_000_000
    max_import_bytes: int = 500_000_000
    max_upload_bytes: int = 10_000_000  # one evidence document
    link_check_allow_private: bool = False  # let link checks reach private addresses (intranets, tests)
    # The trust anchor's certificate (PEM file): the web process checks participant registrations with it.
    trust_anchor_cert: str | None = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
