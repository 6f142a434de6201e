"""The fast scans of extract/ give exactly what the plain ones give.

accounts.py tries its label, own-handle and profile-link patterns only where
they can match (module docstring there); with the fast fields of AccountRules
cleared it runs the plain patterns over the whole text, as before. Both must
agree on any text, including characters that re.IGNORECASE equates with ASCII
letters ('ı', 'İ', 'ſ', Kelvin 'K').
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from abuse_intake import config
from abuse_intake.extract import accounts, compile_rules

REPO = Path(__file__).resolve().parent.parent
SETTINGS = config.load(REPO / "config.example.toml")
FAST = compile_rules(SETTINGS).accounts
PLAIN = dataclasses.replace(FAST, label_words=None, label_at=None, own_at=None, url_anchors=())

pieces = st.sampled_from([
    "akun", "AKUN", "aKun", "ID", "id", "ıd", "İD", "user", "uſer", "uSer name", "username", "profil",
    "profile", "pengguna", "nama akun", "account", "Obrolan ID", "ID Obrolan", "akun saya", "ku", "aku",
    "my", "MY", "my own", "my username is", "is", ":", "：", "@", ".", "_", "-", "#", "/", '"', "(",
    " ", "  ", "\n", "obrolan.example/u/", "OBROLAN.EXAMPLE/add/", "https://", "www.", "foo_bar9",
    "x.y", "abc1", "gmail.com", "IG", "\u212a", "é", "ß",
])
texts = st.lists(st.one_of(pieces, st.text(max_size=3)), max_size=30).map("".join)


def _plain_own(text: str) -> list[str]:
    return [m.group("h") for m in FAST.own.finditer(text)]


@hsettings(max_examples=400, deadline=None)
@given(text=texts)
def test_fast_scans_equal_plain_scans(text):
    assert accounts._scan_text(FAST, text) == accounts._scan_text(PLAIN, text)
    assert accounts.own_handles(FAST, text) == _plain_own(text)
    assert (accounts.find_accounts(FAST, text, [text], text, text, "a@b.example", "A B")
            == accounts.find_accounts(PLAIN, text, [text], text, text, "a@b.example", "A B"))


@pytest.mark.parametrize("text", [
    "ID: akun foo_bar",  # a label right after the previous label's separator
    "user id x, user name: foo_bar, username: baz_qux",
    "my username is foo_bar, akun saya baz_qux1, akunku qux_quux",
    "my ID akun saya foo_bar",  # overlapping own-handle matches: only the first counts
    "ıd: foo_bar and uſername: baz_qux and A\u212aUN @qux_quux",  # IGNORECASE look-alikes
    "İD: foo_bar akun baz_qux1",  # 'İ' lower-cases to two characters
    "x.akun foo_bar1 a@akun: baz_qux #id: qux_quux",  # glued labels do not count
    "https://www.OBROLAN.example/u/foo_bar obrolan.example/add/baz_qux www.obrolan.example/user/a",
    "obrolan.example/u/obrolan.example/u/foo_bar",
])
def test_tricky_texts_agree(text):
    assert accounts._scan_text(FAST, text) == accounts._scan_text(PLAIN, text)
    assert accounts.own_handles(FAST, text) == _plain_own(text)


def test_example_config_uses_the_fast_scans():
    assert FAST.label_words == ("account", "akun", "id", "nama", "obrolan", "pengguna", "profil", "user")
    assert FAST.label_at is not None and FAST.own_at is not None
    assert FAST.url_anchors == (accounts.UrlAnchor("obrolan.example/", 0, len("https://www.")),)


@pytest.mark.parametrize("pattern, anchor", [
    (r"chat\.example/~(?P<handle>[a-z]{4,30})", accounts.UrlAnchor("chat.example/~", 0, 0)),
    (r"(?:https?://)?Chat\.Example/(?P<handle>\w{4,30})", accounts.UrlAnchor("chat.example/", 0, 8)),
    (r"(?:a|b)x\.example/(?P<handle>\w+)", accounts.UrlAnchor("x.example/", 1, 1)),
    (r"\w+\.example/(?P<handle>\w+)", None),  # unbounded before the host text
    (r"a\.example/(?P<handle>\w+)|b\.example/(?P<h2>\w+)", None),  # no text common to every match
])
def test_url_anchor(pattern, anchor):
    assert accounts.url_anchor(pattern) == anchor


@pytest.mark.parametrize("pattern", [
    r"(?:https?://)?(?:www\.)?chat\.example/(?P<handle>[a-z][a-z0-9_]{3,29})",
    r"\w+\.chat\.example/(?P<handle>[a-z][a-z0-9_]{3,29})",
])
def test_configured_links_found_with_and_without_anchor(pattern):
    s = dataclasses.replace(SETTINGS, accounts=dataclasses.replace(SETTINGS.accounts, profile_urls=(pattern,)))
    rules = compile_rules(s).accounts
    text = "see https://WWW.chat.example/foo_bar, x.chat.example/baz_qux and chat.example/qux_quux1"
    plain = dataclasses.replace(rules, url_anchors=())
    assert accounts._scan_urls(rules, text) == accounts._scan_urls(plain, text)
    assert accounts._scan_urls(rules, text)  # the pattern does find something here


@pytest.mark.parametrize("labels", [("ID", "id x", "Id y z"), ("a", "ab", "b"), ("user", "x-id", "9lives"),
                                    ("IDxyz abc", "id abcd", "ID")])  # "id abcd" must be tried before "ID"
def test_grouped_labels_match_like_the_flat_alternation(labels):
    s = dataclasses.replace(SETTINGS, accounts=dataclasses.replace(SETTINGS.accounts, labels=labels))
    fast = compile_rules(s).accounts
    plain = dataclasses.replace(fast, label_words=None, label_at=None, own_at=None)
    for text in ["ID: foo_bar, id x baz_qux1, iD  y\nz: qux_quux a: abc1 ab: abcd b x_yz",
                 "my id x is foo_bar; Id y z saya baz_qux; user: ab_cd x-id: ef_gh 9lives: ij_kl",
                 "id abcd: foo_bar, my id abcd is baz_qux"]:
        assert accounts._scan_text(fast, text) == accounts._scan_text(plain, text)
        assert accounts.own_handles(fast, text) == [m.group("h") for m in plain.own.finditer(text)]


def test_non_ascii_label_scans_everywhere():
    s = dataclasses.replace(SETTINGS, accounts=dataclasses.replace(SETTINGS.accounts, labels=("pengenal",
                                                                                              "nomé")))
    rules = compile_rules(s).accounts
    assert rules.label_words is None
    assert accounts.find_accounts(rules, "nomé: foo_bar", [], "", "", None, "") == ["foo_bar"]


def test_fold_keeps_indexes_and_ignorecase_equivalents():
    assert accounts.fold("AKUN ıd uſer \u212a") == "akun id user k"
    assert accounts.fold("İD") is None
    for text in ["ıD: x", "uſer", "A\u212aUN"]:
        low = accounts.fold(text)
        assert len(low) == len(text)
        for word in ("id", "user", "akun"):
            if re.search(re.escape(word), text, re.IGNORECASE):
                assert word in low


# --- category and language: the same answers as the plain loops -------------

from abuse_intake.config import SEVERITY_RANK  # noqa: E402
from abuse_intake.extract import category, language  # noqa: E402

CATEGORIES = compile_rules(SETTINGS).categories
TOKEN = re.compile(r"[\w+]+(?:\.[\w+]+)*")
category_words = [w for c in SETTINGS.categories.values() for w in c.words]
prose = st.lists(st.one_of(st.sampled_from(category_words + ["di", "akun", "foto", "teman", "saya", "the",
                                                             "my", ".", "..", "+", "_", " ", "\n", "/",
                                                             "A.B", "x.", ".y", "İ", "\u212a", "é"]),
                           st.text(max_size=4)), max_size=40).map(" ".join)


def _plain_classify(rules, token_lists):
    """The loop classify_tokens had before its speed-ups."""
    hits: dict[int, set[str]] = {}
    matched: dict[str, None] = {}
    for toks in token_lists:
        n, covered = len(toks), 0
        for i in [i for i, t in enumerate(toks) if t in rules.first_tokens]:
            if i < covered:
                continue
            for length in rules.first_tokens[toks[i]]:
                if i + length > n:
                    continue
                found = rules.phrases.get(toks[i] if length == 1 else " ".join(toks[i:i + length]))
                if found:
                    for idx, word in found:
                        hits.setdefault(idx, set()).add(word)
                        matched.setdefault(word, None)
                    covered = i + length
                    break
    if not hits:
        return None, None, []
    best = max(hits, key=lambda i: (SEVERITY_RANK[rules.severities[i]], len(hits[i]), -i))
    return rules.names[best], rules.severities[best], list(matched)


def _plain_language(token_lists):
    id_count = sum(t in language._ID for toks in token_lists for t in toks)
    en_count = sum(t in language._EN for toks in token_lists for t in toks)
    return None if id_count == en_count else ("id" if id_count > en_count else "en")


@hsettings(max_examples=400, deadline=None)
@given(text=st.one_of(prose, st.text(max_size=60)))
def test_tokenize_classify_language_equal_plain(text):
    toks = category.tokenize(text)
    assert toks == TOKEN.findall(text.lower())
    assert category.classify_tokens(CATEGORIES, [toks]) == _plain_classify(CATEGORIES, [toks])
    assert language.detect_language_tokens([toks]) == _plain_language([toks])


@pytest.mark.parametrize("text", [
    "akun palsu, di bawah umur, teman malam; foto bugil dan foto. bugil",
    "sexual harassment harassment asked me for nudes asked for nude",
    "a..b .c d. e.f.g 18+ x_y. +.+ ..",
])
def test_tricky_category_texts_agree(text):
    toks = category.tokenize(text)
    assert toks == TOKEN.findall(text.lower())
    assert category.classify_tokens(CATEGORIES, [toks]) == _plain_classify(CATEGORIES, [toks])
