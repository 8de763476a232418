"""The single place where adapters are built from Settings; API, CLI, workers and tests use it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cityops.adapters.db.engine import make_engine, migrate, session_factory
from cityops.config import Settings
from cityops.service.bus import EventBus, MemoryBus
from cityops.service.classifying import ReportClassifier
from cityops.service.reference import ReferenceData

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    """Everything a service needs, built once."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]  # for writes: ``with app.sessions.begin() as s``
    reads: sessionmaker[Session]  # for queries
    bus: EventBus
    reference: ReferenceData
    classifier: ReportClassifier
    clock: Clock = utc_now

    def dispose(self) -> None:
        self.engine.dispose()


def bootstrap(
    settings: Settings | None = None,
    *,
    bus: EventBus | None = None,
    clock: Clock = utc_now,
    migrate_schema: bool = True,
) -> App:
    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    if migrate_schema:
        migrate(engine)
    sessions = session_factory(engine, write=True)
    return App(
        settings=settings,
        engine=engine,
        sessions=sessions,
        reads=session_factory(engine, write=False),
        bus=bus or MemoryBus(),
        reference=ReferenceData(session_factory(engine, write=False), settings),
        classifier=ReportClassifier(settings.model_dir, settings.classify_min_confidence),
        clock=clock,
    )
