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


# --- resends (issue 16.4): same reporter, same accounts, case open, nothing new ---

from datetime import datetime, timedelta, timezone  # noqa: E402

from abuse_intake import config  # noqa: E402
from abuse_intake.cases.dedupe import EarlierReport, resend_of  # noqa: E402
from abuse_intake.flow.process import process_one  # noqa: E402
from abuse_intake.models import RawMessage, Source  # noqa: E402
from abuse_intake.store.db import open_db  # noqa: E402
from helpers import email, write_config  # noqa: E402


def _earlier(row=1, accounts=("a_b1",), fp="x y z", files=(), open_=True):
    return EarlierReport(row, tuple(accounts), fp, frozenset(files), open_)


def test_resend_of_needs_no_similar_words_when_accounts_match():
    assert resend_of(["a_b1"], [], "completely different words", [_earlier()]) == 1
    assert resend_of(["a_b1"], [], "", [_earlier(accounts=("a_b1", "c_d2"))]) == 1  # no new account


def test_resend_of_new_account_attachment_or_closed_case_is_a_report():
    assert resend_of(["a_b1", "new_one9"], [], "x y z", [_earlier()]) is None
    assert resend_of(["a_b1"], ["f" * 64], "x y z", [_earlier()]) is None
    assert resend_of(["a_b1"], ["f" * 64], "x y z", [_earlier(files=["f" * 64])]) == 1  # the same file again
    assert resend_of(["a_b1"], [], "x y z", [_earlier(open_=False)]) is None


def test_resend_of_without_accounts_needs_the_same_words():
    assert resend_of([], [], "x y z", [_earlier(accounts=())]) == 1
    assert resend_of([], [], "a b c", [_earlier(accounts=())]) is None
    assert resend_of([], [], "x y z", [_earlier()]) is None  # the earlier one named an account


def test_resend_of_picks_the_first_original():
    assert resend_of(["a_b1"], [], "", [_earlier(row=3), _earlier(row=7)]) == 3


@pytest.fixture
def feed(tmp_path):
    settings = config.load(write_config(tmp_path))
    db = open_db(settings.database_path)

    def run(data: bytes):
        return process_one(db, settings, RawMessage(data, Source("test")))

    run.db, run.settings = db, settings
    yield run
    db.conn.close()


T0 = datetime(2026, 11, 17, 8, 0, tzinfo=timezone.utc)


def test_reworded_repeats_are_resends_of_the_first_report(feed):
    first = feed(email(body="akun @tante.rosa_bo nawarin open BO tarif 500rb", date=T0))
    words = ["min tolong, @tante.rosa_bo masih aktif sampai sekarang",
             "Selamat siang, saya ulangi laporan saya tentang akun @tante.rosa_bo. Mohon ditindak.",
             "kok blm diblokir jg si @tante.rosa_bo??"]
    for i, body in enumerate(words):
        out = feed(email(body=body, date=T0 + timedelta(hours=1 + i)))
        assert out.kind == "resend" and out.duplicate_of == first.message_row, (body, out.kind)
    case = feed.db.execute("SELECT reports, reporters FROM cases").fetchall()
    assert case == [(1, 1)]  # repetition inflates nothing
    assert feed.db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'ack'").fetchone()[0] == 1


def test_repeat_with_an_attachment_or_a_new_account_stays_a_report(feed):
    from test_cli import _with_attachment
    feed(email(body="akun @tante.rosa_bo nawarin open BO", date=T0))
    shot = feed(_with_attachment(email(body="ini screenshotnya @tante.rosa_bo", date=T0 + timedelta(hours=1)), 5))
    assert shot.kind == "report"
    more = feed(email(body="@tante.rosa_bo sama @tante.rosa_bo2 open BO", date=T0 + timedelta(hours=2)))
    assert more.kind == "report"
    # the same screenshot once more adds nothing new
    again = feed(_with_attachment(email(body="@tante.rosa_bo lagi", date=T0 + timedelta(hours=3)), 5))
    assert again.kind == "resend"


def test_repeat_after_the_window_another_reporter_or_a_decided_case_is_a_report(feed):
    from abuse_intake.cases.triage import decide
    first = feed(email(body="akun @om.mesum_88 ngajak vcs", date=T0))
    late = feed(email(body="akun @om.mesum_88 masih ngajak vcs",
                      date=T0 + timedelta(hours=feed.settings.resend_window_hours + 1)))
    assert late.kind == "report"
    other = feed(email(sender="lain@gmail.com", body="akun @om.mesum_88 ngajak vcs", date=T0 + timedelta(hours=1)))
    assert other.kind == "report"
    decide(feed.db, feed.settings, first.case_refs[0], by="staff", violation="sexual_solicitation")
    closed = feed(email(body="akun @om.mesum_88 ngajak vcs lagi", date=T0 + timedelta(hours=feed.settings.resend_window_hours)))
    assert closed.kind == "report" and closed.case_refs != first.case_refs
