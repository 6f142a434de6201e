"""Resend detection: fingerprint(), similar(), same_accounts().

fingerprint() reads only an opening of the text and splits ASCII with
str.split(); it must give exactly what the plain definition gives (stored
fingerprints are compared with new ones): the first MAX_WORDS \\w+ words of
the lower-cased text without quote lines.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from abuse_intake.cases import dedupe
from abuse_intake.cases.dedupe import MAX_WORDS, fingerprint, same_accounts, similar


def plain_fingerprint(text: str, max_words: int = MAX_WORDS) -> str:
    words = re.findall(r"\w+", re.sub(r"^\s*>.*$", "", text, flags=re.MULTILINE).lower())
    return " ".join(words[:max_words])


lines = st.lists(st.one_of(
    st.sampled_from(["> quoted Words here", "  > indented quote", ">", "", "   ", "\t", "\r", "word",
                     "Halo ADMIN, akun @dewi_manja88 open BO.", "ΟΔΟΣ ΣΑΣ", "İstanbul", "\u212aelvin",
                     "a>b not a quote", "x_y 18+ foo.bar", "\u2028", "\x85", "\x0b\x0c", "é ß ﬁ"]),
    st.text(max_size=12)), max_size=60)


@hsettings(max_examples=400, deadline=None)
@given(parts=lines, sep=st.sampled_from(["\n", "\r\n", "\n\n", " "]))
def test_fingerprint_equals_plain_definition(parts, sep):
    text = sep.join(parts)
    assert fingerprint(text) == plain_fingerprint(text)


@pytest.mark.parametrize("prefix, max_words", [(1, 1), (7, 3), (40, 5), (40, 400)])
@hsettings(max_examples=150, deadline=None)
@given(parts=lines)
def test_fingerprint_with_tiny_prefixes(prefix, max_words, parts):
    # A tiny opening and word limit make texts stop early or read more, at every cut.
    text = "\n".join(parts)
    saved = dedupe._PREFIX, dedupe.MAX_WORDS
    dedupe._PREFIX, dedupe.MAX_WORDS = prefix, max_words
    try:
        assert fingerprint(text) == plain_fingerprint(text, max_words)
    finally:
        dedupe._PREFIX, dedupe.MAX_WORDS = saved


def test_long_text_keeps_the_first_words_only():
    text = "Halo admin.\n" + " ".join(f"kata{i}" for i in range(5000))
    fp = fingerprint(text)
    assert fp == plain_fingerprint(text)
    assert fp.split() == ["halo", "admin"] + [f"kata{i}" for i in range(MAX_WORDS - 2)]


def test_quotes_at_the_opening_are_skipped_past_the_prefix():
    quotes = "\n".join(f"> old line {i} with several quoted words" for i in range(400))
    text = quotes + "\n" + " ".join(f"new{i}" for i in range(500)) + "\n> tail"
    assert fingerprint(text) == plain_fingerprint(text)
    assert fingerprint(text).split()[0] == "new0"


def test_quote_lines_and_case_do_not_matter():
    a = "Tolong blokir akun @foo_bar\n> On Mon, someone wrote:\n> earlier text"
    b = "tolong BLOKIR akun @foo_bar"
    assert fingerprint(a) == fingerprint(b) == "tolong blokir akun foo_bar"


def test_similar_and_same_accounts():
    a = fingerprint("Tolong blokir akun foo_bar, dia open BO dan kirim pesan jorok.")
    b = fingerprint("Tolong blokir akun foo_bar, dia open BO dan kirim pesan jorok. Tolong segera!")
    assert similar(a, b)
    assert not similar(a, fingerprint("Lupa kata sandi, tidak bisa masuk lagi ke aplikasi."))
    assert similar("", "") and not similar("", a)
    assert same_accounts(["b", "a", "a"], ["a", "b"]) and not same_accounts(["a"], ["a", "b"])
