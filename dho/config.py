"""Settings, read from the environment (prefix ``DHO_``) with safe defaults for a laptop."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_database_url() -> str:
    data_dir = Path(user_data_dir("dho", appauthor=False))
    return f"sqlite:///{data_dir / 'dho.sqlite3'}"


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
    base_url: str = "http://127.0.0.1:8000"
    # Used only to sign short-lived values such as the pre-login CSRF cookie.
    secret_key: str = Field(default_factory=lambda: secrets.token_urlsafe(32))
    max_request_bytes: int = 2_000_000
    max_import_bytes: int = 500_000_000


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
