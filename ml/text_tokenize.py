"""Tokens for mixed Chinese and English text, which must not assume spaces between words.

Latin-script runs become lower-cased, lightly stemmed words (as ``ml.models.text_matching``
tokenizes English). Han runs become either jieba words or character bigrams plus single
characters (``chinese="bigram"``, no dictionary: robust to shop-specific words jieba splits
badly, such as product names). Which one serves is chosen by measurement (bench/faq.py, the
demo FAQ's held-out Chinese paraphrases, every family tuned alike): bigrams won in each family
(top-1 BM25 0.698 vs jieba 0.651, dual encoder 0.756 vs 0.698), so they are the default.
"""

from __future__ import annotations

import re
import unicodedata

from ml.models.text_matching import tokenize as english_words

CHINESE_MODES = ("bigram", "jieba")
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"([{_HAN}]+)|([A-Za-z0-9\u00c0-\u024f]+)")
_HAN_CHAR = re.compile(rf"[{_HAN}]")
_LATIN_CHAR = re.compile(r"[A-Za-z\u00c0-\u024f]")
# Function characters that carry no topic; kept inside bigrams, dropped as single characters.
_CHINESE_STOP = frozenset("的了吗呢吧啊我你您是在有和就也都要会能可以怎么什么请问")


def script_of(text: str) -> str:
    """``zh`` or ``en`` by the script that carries more of the text (a Han character counts
    as three Latin letters, about a word's share: "订单 order 在哪" is Chinese), ``other`` for
    text in neither script (Cyrillic, Arabic, emoji, digits only)."""
    han = len(_HAN_CHAR.findall(text))
    latin = len(_LATIN_CHAR.findall(text))
    if han == 0 and latin == 0:
        return "other"
    return "zh" if 3 * han >= latin else "en"


def _jieba_words(run: str) -> list[str]:
    import jieba  # imported on first Chinese text: its dictionary loads in about a second

    return [word for word in jieba.lcut(run) if word not in _CHINESE_STOP]


def _bigrams(run: str) -> list[str]:
    singles = [char for char in run if char not in _CHINESE_STOP]
    return singles + [run[i : i + 2] for i in range(len(run) - 1)]


def tokenize(text: str, chinese: str = "bigram") -> list[str]:
    """Tokens of ``text`` in reading order: English words and the Chinese tokens of ``chinese``
    (``bigram`` or ``jieba``). Full-width letters and digits are folded to ASCII first."""
    if chinese not in CHINESE_MODES:
        raise ValueError(f"chinese must be one of {CHINESE_MODES}, not {chinese!r}")
    tokens: list[str] = []
    for han, latin in _RUNS.findall(unicodedata.normalize("NFKC", text)):
        if han:
            tokens += _jieba_words(han) if chinese == "jieba" else _bigrams(han)
        else:
            tokens += english_words(latin)
    return tokens


def features(text: str, chinese: str = "bigram", max_features: int = 300) -> list[str]:
    """What the dual encoder embeds: the tokens, English word bigrams and the character
    3-grams of each English word (typo-tolerant), cut at ``max_features``."""
    tokens = tokenize(text, chinese)
    found = [f"t:{token}" for token in tokens]
    words = [token for token in tokens if token.isascii()]
    found += [f"b:{a}_{b}" for a, b in zip(words, words[1:], strict=False)]
    for word in words:
        padded = f"<{word}>"
        found += [f"c:{padded[i : i + 3]}" for i in range(len(padded) - 2)]
    return found[:max_features]
