"""One Settings object, read from the environment / ``.env`` with the ``CITYOPS_`` prefix."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator
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
    # Photo uploads (docs/media.md): per-file size, decoded-size guard, thumbnail's long side.
    media_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    media_max_pixels: int = Field(default=50_000_000, ge=1)
    media_max_files: int = Field(default=9, ge=1)  # per upload request
    media_thumb_px: int = Field(default=320, ge=32, le=2048)
    # Anonymous uploads (citizen portal), per client IP: files a request, files an hour (0: off).
    media_anonymous_max_files: int = Field(default=3, ge=1)
    media_anonymous_per_hour: int = Field(default=20, ge=0)
    # Below this, a geocoded address goes to a person (the manual-location queue).
    geocode_min_confidence: float = Field(default=0.6, ge=0, le=1)
    # Report classification (智能分类): models trained by `cityops train` live here; a report
    # without a category is labelled at or above this confidence, else it goes to triage.
    model_dir: Path | None = Path("./var/models")
    classify_min_confidence: float = Field(default=0.6, ge=0, le=1)

    @field_validator("model_dir", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        return None if value == "" else value  # CITYOPS_MODEL_DIR= switches classification off

    # Web screens (docs/web.md). Front-end packages come from `npm ci` in web/; None finds
    # web/node_modules beside the source tree or under the working directory.
    web_vendor_dir: Path | None = None
    # The map's base layer, a Leaflet URL template ({z}/{x}/{y}); None draws district and grid
    # polygons on a plain background (isolated city intranets have no public tiles).
    map_tile_url: str | None = None
    map_tile_attribution: str = ""
    map_tile_max_zoom: int = Field(default=18, ge=1, le=24)
    # Live stream (SSE): heartbeat, how long one stream lives before the client reconnects,
    # and the per-client queue; a client that falls this far behind is dropped, not buffered.
    live_heartbeat_seconds: float = Field(default=15, gt=0)
    live_stream_seconds: float = Field(default=300, gt=0)
    live_queue_size: int = Field(default=256, ge=8)
    simulate: bool = False
    simulate_rate: float = 0.5  # reports per second from the demo simulator

    # City lifeline telemetry (docs/lifeline.md): raw readings and roll-ups are kept this many
    # days (`cityops telemetry retention`); readings older than the raw retention, or more than
    # max_future_s ahead of the clock, are dead-lettered. The pipeline queue holds at most
    # queue_bytes of messages (backpressure beyond) and writes batches of batch_messages.
    telemetry_raw_retention_days: int = Field(default=30, ge=1)
    telemetry_rollup_1m_days: int = Field(default=90, ge=1)
    telemetry_rollup_1h_days: int = Field(default=730, ge=1)
    telemetry_max_future_s: float = Field(default=300, ge=0)
    # Payload bytes queued before ingestion at most (then submit blocks: TCP backpressure).
    # The MQTT window normally bounds the queue far below this, but a broker that sends past
    # the receive maximum (Mosquitto 2.0.11 does) is held by this bound alone.
    telemetry_queue_bytes: int = Field(default=16 * 1024 * 1024, ge=64 * 1024)
    # Messages per ingest transaction at full rate (a slow stream commits what came within
    # batch_wait_s): a batch dirties about one page per series and table, so more rows per
    # batch write fewer bytes per row (bench/telemetry.py, SQLite, 100k messages: 500 → 14.6k
    # messages/s, 1,000 → 16.0k, 2,000 → 20.4k). The MQTT window should hold two batches:
    # the one being written and the next (service/telemetry/pipeline.py).
    telemetry_batch_messages: int = Field(default=2000, ge=1)
    telemetry_batch_wait_s: float = Field(default=0.05, gt=0)
    telemetry_ingest_process: bool = False  # in a child process: service/telemetry/remote.py
    telemetry_http_max_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # A device is offline when no reading came for this many sampling intervals.
    telemetry_offline_intervals: float = Field(default=3.0, gt=1)

    # MQTT ingestion (docs/lifeline.md "MQTT"): with mqtt_url set (mqtt://[user:pass@]host:port,
    # mqtts:// for TLS) `cityops serve` and `cityops mqtt` consume the broker with QoS 1 in a
    # persistent session named mqtt_client_id (one per consumer process), acknowledging each
    # message only after its batch committed. mqtt_receive_maximum unacknowledged messages at
    # most are in flight (the window: throughput vs memory); the broker keeps the session and
    # its queue mqtt_session_expiry_s while the consumer is away. mqtt_ca_file: the CA that
    # signed an mqtts:// broker's certificate (a city's private CA), else the system's CAs.
    mqtt_url: str | None = None
    mqtt_ca_file: str | None = None
    mqtt_topic_prefix: str = "cityops/v1/telemetry"
    mqtt_topic_filter: str | None = None  # None: "{mqtt_topic_prefix}/#"
    mqtt_client_id: str = "cityops-ingest"
    mqtt_receive_maximum: int = Field(default=4000, ge=1, le=65535)
    mqtt_session_expiry_s: int = Field(default=7 * 86_400, ge=0)
    mqtt_keepalive_s: int = Field(default=30, ge=5)
    # HTTP forwarding (docs/lifeline.md "HTTP"): a `cityops mqtt` worker ingests everything,
    # so one alarm engine sees every reading; this API checks what is posted to it, publishes
    # the good points to the broker at mqtt_url and dead-letters the rest. `serve` then starts
    # no consumer and the API never ticks.
    telemetry_http_forward: bool = False

    @model_validator(mode="after")
    def _forwarding_needs_a_broker(self) -> Settings:
        if self.telemetry_http_forward and not self.mqtt_url:
            raise ValueError("CITYOPS_TELEMETRY_HTTP_FORWARD=true needs CITYOPS_MQTT_URL, the "
                             "broker the `cityops mqtt` worker consumes")  # fmt: skip
        return self

    # The lifeline simulator (`serve --simulate`, `cityops simulate-lifeline`): an incident
    # (gas leak, water-main burst, drainage overflow, bridge overload) starts this often.
    # At least 300 s: an incident lasts 0.6 of it, and busy sensors report each minute — a
    # spike-cleaned, duration-held alarm needs a few readings (shorter ones raised nothing).
    simulate_incident_every_s: float = Field(default=600, ge=300)

    # Lifeline alarms (docs/lifeline.md "Alarms"): an alarm clears itself once its condition
    # has been gone clear_hold_s; a condition back within reraise_window_s of a clear reopens
    # the same alarm, and flap_count such re-raises mark it flapping (no new case). Rule state
    # is snapshotted every state_snapshot_s (and on shutdown); the tick runs every tick_s, in
    # the process that sees the readings (docs/lifeline.md "Where the tick runs"; lifeline_tick
    # true: an API process ticks from its start, false: never here). An engine notices a rule
    # set written by another process within rules_check_s.
    lifeline_alarms: bool = True
    lifeline_clear_hold_s: float = Field(default=300, ge=0)
    lifeline_reraise_window_s: float = Field(default=1800, ge=0)
    lifeline_flap_count: int = Field(default=3, ge=1)
    lifeline_state_snapshot_s: float = Field(default=300, gt=0)
    lifeline_tick_s: float = Field(default=15, gt=0)
    lifeline_tick: bool | None = None  # None: decided by where the readings arrive
    lifeline_rules_check_s: float = Field(default=10, ge=0)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
