"""One Settings object, read from the environment / ``.env`` with the ``CITYOPS_`` prefix."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYOPS_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./var/cityops.db"
    timezone: str = "Asia/Shanghai"
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: str = Field(default="change-me-in-production-please-32b", min_length=16)
    token_minutes: int = 12 * 60
    # argon2id cost (the library's defaults); tests lower it to keep the suite fast.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=1024)
    working_day: str = "08:30-12:00,13:30-17:30"
    # Escalate a case one level each time a stage is this far past its deadline (working hours).
    escalate_after_overdue_hours: float = 4.0
    media_dir: Path = Path("./var/media")
    # Below this, a geocoded address goes to a person (the manual-location queue).
    geocode_min_confidence: float = Field(default=0.6, ge=0, le=1)
    simulate: bool = False
    simulate_rate: float = 0.5  # reports per second from the demo simulator

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
