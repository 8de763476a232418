"""Every string the screens show exists in Chinese and English (static/i18n)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cityops.domain.model import CaseState, Channel
from cityops.domain.workflow import EVENT_NAMES
from cityops.entrypoints.web.pages import PAGES, STATIC_DIR, TEMPLATES_DIR

I18N = STATIC_DIR / "i18n"
# t("a.b"), t(`a.b`) with no ${…}, data-i18n="a.b", data-i18n-attr="title:a.b"
KEY = r"(\w+\.[\w.]+)"
USES = re.compile(
    rf"""\bt\(\s*["'`]{KEY}["'`]|data-i18n="{KEY}"|data-i18n-attr="[\w-]+:{KEY}"""
)


def _load(path: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads(path.read_text("utf-8"))
    return data


def _bundles() -> list[Path]:
    return [I18N, *(p for p in I18N.iterdir() if p.is_dir())]


def test_each_language_has_the_same_keys() -> None:
    for folder in _bundles():
        zh, en = _load(folder / "zh-CN.json"), _load(folder / "en.json")
        assert sorted(zh) == sorted(en), folder.name
        assert all(v.strip() or k == "common.unit.case" for k, v in zh.items()), folder.name


def test_every_key_the_pages_use_exists() -> None:
    known = {k for folder in _bundles() for k in _load(folder / "zh-CN.json")}
    sources = [*STATIC_DIR.rglob("*.js"), *TEMPLATES_DIR.glob("*.html")]
    used = {key for src in sources for m in USES.finditer(src.read_text("utf-8"))
            for key in m.groups() if key}  # fmt: skip
    used |= {p.title for p in PAGES}
    assert sorted(used - known) == []


def test_states_channels_and_events_are_all_named() -> None:
    zh = _load(I18N / "zh-CN.json")
    missing = [f"state.{s.value}" for s in CaseState if f"state.{s.value}" not in zh]
    missing += [f"channel.{c.value}" for c in Channel if f"channel.{c.value}" not in zh]
    missing += [f"event.{n}" for n in EVENT_NAMES.values() if f"event.{n}" not in zh]
    assert missing == []
