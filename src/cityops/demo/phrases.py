"""What people say when they report a problem: varied report texts for the demo city.

Callers do not speak in GB/T 30428 category names. A text is put together from the category's
keywords and its filing condition (立案条件), with the openings and closings heard on a 12345
line, so that the classifier trained on the demo's history has real work to do.
"""

from __future__ import annotations

import random

from cityops.domain.taxonomy import Category

OPENINGS = ("", "", "您好，", "你好，我要反映个问题，", "市民来电反映：", "麻烦问一下，",
            "我是附近居民，")  # fmt: skip
PLACES = ("{place}", "{place}门口", "{place}旁边", "小区门口", "路口", "{place}附近", "这边")
CLOSINGS = ("", "请尽快处理。", "已经好几天了，希望有关部门管一管。", "存在安全隐患。",
            "影响居民出行。", "麻烦派人来看看。", "多次反映没人管。", "晚上特别明显。")  # fmt: skip
INSPECTOR = ("巡查发现{what}，现场拍照取证。", "{what}，已拍照上报。", "网格巡查：{what}。")


def _what(category: Category, rng: random.Random) -> str:
    """The problem in a few words: a keyword, or a clause of the filing condition."""
    clauses = [c for c in category.filing_condition.replace("；", "，").split("，") if c]
    keyword = rng.choice(category.keywords or (category.name,))
    if clauses and rng.random() < 0.5:
        return rng.choice(clauses[:2])
    return keyword


def report_text(category: Category, rng: random.Random, place: str, by_inspector: bool) -> str:
    what = _what(category, rng)
    if by_inspector:
        return rng.choice(INSPECTOR).format(what=what)
    where = rng.choice(PLACES).format(place=place)
    shape = rng.random()
    if shape < 0.4:
        body = f"{where}{what}"
    elif shape < 0.7:
        body = f"{where}有{what}的情况"
    else:
        body = f"{what}，在{where}"
    opening, closing = rng.choice(OPENINGS), rng.choice(CLOSINGS)
    return f"{opening}{body}，{closing}" if closing else f"{opening}{body}。"


def category_weights(categories: list[Category], seed: int = 30428) -> list[float]:
    """A few problems make most reports (a Zipf-like spread, in a seeded order)."""
    order = list(range(len(categories)))
    random.Random(seed).shuffle(order)
    rank = {index: position + 1 for position, index in enumerate(order)}
    return [1.0 / rank[i] ** 0.9 for i in range(len(categories))]
