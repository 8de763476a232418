from __future__ import annotations

import logging

from cityops.classify import tokenize
from cityops.classify.tokens import subject_of


def test_chinese_is_segmented_into_words() -> None:
    words = tokenize("小区门口的路灯不亮了，晚上很黑！")
    assert "路灯" in words
    assert "小区" in words
    assert "的" not in words  # minimal stopwords
    assert all(w.strip() and w not in "，！" for w in words)


def test_english_is_lowercase_word_tokens() -> None:
    assert tokenize("The streetlight on Main St. is OUT!") == ["streetlight", "main", "st", "out"]
    assert tokenize("Bulky Items, e-waste pickup") == ["bulky", "items", "e-waste", "pickup"]


def test_mixed_text_keeps_both_scripts() -> None:
    words = tokenize("Main St 路灯不亮")
    assert "main" in words
    assert "路灯" in words


def test_punctuation_and_bare_numbers_are_dropped() -> None:
    assert tokenize("12345，。！ ... 2019") == []
    assert tokenize("") == []


def test_jieba_is_quiet() -> None:
    tokenize("井盖缺失")
    assert logging.getLogger("jieba").level == logging.WARNING


def test_subject_is_first_non_empty_line() -> None:
    assert subject_of("\n  路灯不亮 \n详细情况") == "路灯不亮"
    assert subject_of("只有一行") == "只有一行"
