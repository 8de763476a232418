"""The media table, on the shared ``Base`` (the package ``__init__`` imports this module, so
every user of ``Base.metadata`` — Alembic, the schema test — sees it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from cityops.adapters.db.models import Base


class MediaRow(Base):
    """One stored photo; identical content is one row (``sha256`` is unique)."""

    __tablename__ = "media"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # public, random
    sha256: Mapped[str] = mapped_column(String(64), unique=True)  # of the stored bytes
    content_type: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int]
    width: Mapped[int]  # as displayed (EXIF orientation applied)
    height: Mapped[int]
    uploaded_by: Mapped[str | None] = mapped_column(String(64))  # username; None = anonymous
    channel: Mapped[str] = mapped_column(String(16))  # api, anonymous, open311
    created_at: Mapped[datetime]
