"""Reporter's language from their own words (never the forwarded message)."""

from __future__ import annotations

from pathlib import Path

import pytest

from abuse_intake import config
from abuse_intake.extract import extract
from abuse_intake.extract.language import detect_language

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def settings() -> config.Settings:
    return config.load(REPO / "config.example.toml")


@pytest.mark.parametrize("text, expected", [
    ("Pagi admin, saya mau lapor akun ini. Mohon ditindak, terima kasih.", "id"),
    ("Hello, I want to report this user. He keeps sending me messages. Thanks", "en"),
    ("min ini 2 akun open BO ganggu bgt: @x_y_z sama yg lain, spam ke semua member grup, pls ban", "id"),
    ("Good evening, I'd like to report ID Obrolan: foo_bar. Regards", "en"),
    ("Siang, ada akun di fitur Sekitar yang foto profilnya telanjang.", "id"),
])
def test_language_of_own_text(text, expected):
    assert detect_language([text]) == expected


@pytest.mark.parametrize("text", ["", "   ", "@foo_bar https://obrolan.example/u/foo_bar", "12345 !!!", "OK"])
def test_no_meaningful_words_is_none(text):
    assert detect_language([text]) is None


def test_forwarded_text_does_not_decide(settings):
    e = extract("Forwarding this spam email as an attachment. Thanks",
                [], "Hai, lagi di Bandung dan butuh teman? Chat aku ya, mau ketemu di hotel sama aku",
                "FW: Teman kencan", None, "", settings)
    assert e.language == "en"


def test_subject_counts_when_body_is_empty(settings):
    assert extract("", [], "", "Laporan akun yang mengirim pesan cabul", None, "", settings).language == "id"
    assert extract("", [], "", "Report of a user who sent me threats", None, "", settings).language == "en"
