"""What the console's management views need beyond the admin imports: every category (also
retired ones) with its keywords, and editing a category's keywords (关键词)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from cityops.adapters.db.models import CategoryRow
from cityops.domain.errors import ImportProblem, NotFound
from cityops.entrypoints.api.deps import AppDep
from cityops.entrypoints.api.routers.admin import Admin, AdminOrAuditor
from cityops.service.admin import audit, category_view
from cityops.service.admin.common import reject

router = APIRouter(prefix="/api/v1/admin", tags=["admin 管理"])

MAX_KEYWORDS = 50


def _full_view(row: CategoryRow) -> dict[str, Any]:
    return {
        **category_view(row),
        "major_code": row.major_code,
        "major_key": ("C" if row.key.startswith("C") else "E") + row.major_code,
        "keywords": list(row.keywords or []),
        "owner_hint": row.owner_hint,
    }


@router.get("/categories")
def all_categories(app: AppDep, _: AdminOrAuditor) -> list[dict[str, Any]]:
    """Every category, retired ones too, with its major class, keywords and owner hint."""
    with app.reads() as s:
        return [_full_view(c) for c in s.scalars(select(CategoryRow).order_by(CategoryRow.key))]


class KeywordsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keywords: Annotated[list[str], Field(max_length=MAX_KEYWORDS)]


@router.put("/categories/{key}/keywords")
def set_keywords(key: str, body: KeywordsIn, app: AppDep, who: Admin) -> dict[str, Any]:
    """Replace a category's keywords: non-blank, at most 20 characters, no duplicates."""
    problems: list[ImportProblem] = []
    cleaned: list[str] = []
    for i, word in enumerate(body.keywords):
        text = word.strip()
        if not text or len(text) > 20:
            problems.append(ImportProblem(f"keywords[{i}]", "must be 1 to 20 characters"))
        elif text in cleaned:
            problems.append(ImportProblem(f"keywords[{i}]", f"duplicate keyword {text!r}"))
        else:
            cleaned.append(text)
    now = app.clock()
    with app.sessions.begin() as s:
        row = s.get(CategoryRow, key, with_for_update=True)
        if row is None:
            raise NotFound(f"unknown category {key} / 未知分类", category=key)
        reject(f"keywords of {key} not changed: {len(problems)} problem(s)", problems)
        before = list(row.keywords or [])
        row.keywords = cleaned
        audit(s, who.username, "edit_category", key,
              {"keywords": {"before": before, "after": cleaned}}, now)  # fmt: skip
        view = _full_view(row)
    app.reference.invalidate()
    return view
