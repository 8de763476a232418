"""Word segmentation for report text: jieba for Chinese, lowercase word tokens for English.

jieba's packaged dictionary is loaded once, on first use of Chinese text, with its logger at
WARNING (no "Building prefix dict" chatter). Results are memoised per line (the last 32,768
lines), so cross-validation and retraining on the same corpus segment each message only once.

The analysers at the bottom are module-level functions (not lambdas) so that fitted vectorisers
that use them can be pickled with joblib.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from functools import lru_cache
from typing import Any

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ASCII_WORD = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*")
# A token is kept when it holds at least one letter (any script) or CJK character.
_HAS_LETTER = re.compile(r"[^\W\d_]")
# Minimal stopwords: function words that carry no topic in either language.
_STOPWORDS_TEXT = (
    "的 了 是 在 和 与 及 也 都 就 而 或 被 把 将 对 于 之 其 着 吗 呢 吧 啊 呀 么 "
    "我 你 他 她 它 我们 你们 他们 这 那 这个 那个 有 个 一个 请 您好 你好 谢谢 "
    "a an the of to in on at for and or is are was were be been by with as it this that "
    "from i we you he she they my our your please"
)
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

# City-management words jieba's general dictionary splits badly (路灯不亮 → 路 / 灯不亮):
# each is given a frequency just high enough to be kept whole; entries that glue a
# subject to its predicate are removed.
_DOMAIN_WORDS_TEXT = (
    "路灯 不亮 井盖 窨井盖 占道 噪声 噪音 扰民 积水 垃圾桶 乱扔 违章建筑 违建 渣土车 油烟 偷排 "
    "广场舞 共享单车 人行道 盲道 网约车 公积金 农民工 物业费 乱收费 黑车 摩的 下水道 化粪池 "
    "乱停乱放 乱搭乱建"
)
DOMAIN_WORDS = tuple(_DOMAIN_WORDS_TEXT.split())
REMOVED_WORDS = ("灯不亮",)

_lock = threading.Lock()
_jieba: Any = None


def _segmenter() -> Any:
    """The jieba tokenizer, built once and quietly on first use."""
    global _jieba
    if _jieba is None:
        with _lock:
            if _jieba is None:
                import jieba

                logging.getLogger("jieba").setLevel(logging.WARNING)
                jieba.setLogLevel(logging.WARNING)
                segmenter = jieba.Tokenizer()
                segmenter.initialize()
                for word in REMOVED_WORDS:
                    segmenter.del_word(word)
                for word in DOMAIN_WORDS:
                    segmenter.suggest_freq(word, True)
                _jieba = segmenter
    return _jieba


def _tokens(text: str) -> tuple[str, ...]:
    # Line by line: jieba never joins words across a line break, so the words of a text are
    # the words of its lines, and the subject line (segmented again for the subject blocks)
    # comes from the memo instead of from jieba.
    lowered = text.lower()
    how = "zh" if _CJK.search(lowered) else ("ascii" if lowered.isascii() else "words")
    lines = lowered.splitlines()
    if len(lines) == 1:
        return _line_tokens(lines[0], how)
    return tuple(w for line in lines for w in _line_tokens(line, how))


@lru_cache(maxsize=32768)
def _line_tokens(line: str, how: str) -> tuple[str, ...]:
    if how == "zh":
        pieces = _segmenter().lcut(line)
    else:
        pieces = _ASCII_WORD.findall(line) if how == "ascii" else re.findall(r"\w+", line)
    kept = (s.strip() for s in pieces)
    # Interned: the memo then holds one copy of each distinct word, not one per occurrence.
    return tuple(sys.intern(p) for p in kept if p and _HAS_LETTER.search(p) and p not in STOPWORDS)


def tokenize(text: str) -> list[str]:
    """Words of ``text``: jieba segments for Chinese, lowercase word tokens for English.

    Punctuation, whitespace, bare numbers and a minimal stopword list are dropped.
    """
    return list(_tokens(text))


def subject_of(text: str) -> str:
    """The first non-empty line (a message's subject; the whole text when it is one line)."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def normalise(text: str) -> str:
    """Lowercase with runs of whitespace collapsed: the input of the character n-grams."""
    return " ".join(text.lower().split())


# -- analysers for the vectorisers (module level so that they pickle) -------------------------


def body_words(text: str) -> list[str]:
    return list(_tokens(text))


def subject_words(text: str) -> list[str]:
    return list(_tokens(subject_of(text)))


def subject_normalised(text: str) -> str:
    return normalise(subject_of(text))


def clear_cache() -> None:
    """Forget memoised segmentations (tests, or after changing jieba's dictionary)."""
    _line_tokens.cache_clear()
