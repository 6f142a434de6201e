"""Account IDs from report text: every writing style, and every look-alike
that must not become an ID."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from abuse_intake import config
from abuse_intake.extract import compile_rules, extract

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def settings() -> config.Settings:
    return config.load(REPO / "config.example.toml")


def ids(settings, text="", links=(), forwarded="", subject="", address=None, name=""):
    return extract(text, list(links), forwarded, subject, address, name, settings).account_ids


# --- styles that name an account --------------------------------------------

@pytest.mark.parametrize("text", [
    "ID: dewi_manja88",
    "ID:dewi_manja88",
    "ID Obrolan: dewi_manja88",
    "ID Obrolan dewi_manja88",
    "Obrolan ID: dewi_manja88",
    "user id dewi_manja88",
    "userid: dewi_manja88",
    "username: dewi_manja88",
    "user name: dewi_manja88",
    "akun dewi_manja88",
    "akun @dewi_manja88",
    "Akun: @dewi_manja88",
    "@dewi_manja88",
    "tolong cek (@dewi_manja88) ya",
    "account dewi_manja88 keeps messaging me",
    "nama akun: dewi_manja88",
    "akun bernama dewi_manja88",
    "the username is dewi_manja88",
    'akun "dewi_manja88" itu',
    "ID:\ndewi_manja88",
    "https://obrolan.example/u/dewi_manja88",
    "http://www.obrolan.example/u/dewi_manja88",
    "obrolan.example/add/dewi_manja88",
    "https://obrolan.example/u/dewi_manja88?ref=share",
    "lihat <https://obrolan.example/profile/dewi_manja88>",
])
def test_each_style_names_the_account(settings, text):
    assert ids(settings, text) == ["dewi_manja88"]


def test_handle_is_lower_cased(settings):
    assert ids(settings, "ID Obrolan: Sinta_BO.jkt") == ["sinta_bo.jkt"]
    assert ids(settings, "@SINTA_BO.JKT") == ["sinta_bo.jkt"]


@pytest.mark.parametrize("text, expected", [
    ("akun @foo.bar.", "foo.bar"),
    ("akun @foo.bar_. Terima kasih", "foo.bar"),
    ("username: foo_bar, dan dia", "foo_bar"),
    ("lapor @foo.bar!", "foo.bar"),
    ("ID: foo.bar?", "foo.bar"),
    ("obrolan.example/add/lala.st_lt.", "lala.st_lt"),
])
def test_sentence_punctuation_is_stripped(settings, text, expected):
    assert ids(settings, text) == [expected]


def test_plain_word_handle_after_colon_counts(settings):
    # ':' or '@' after the label says a handle follows, even an all-letters one.
    assert ids(settings, "username: sintabo") == ["sintabo"]
    assert ids(settings, "akun @sintabo") == ["sintabo"]


def test_inner_capital_counts_after_bare_label(settings):
    assert ids(settings, "akun SintaBo nawarin BO") == ["sintabo"]


def test_order_of_first_mention_without_duplicates(settings):
    text = "akun @b_two dan @a_one, lagi @B_TWO dan obrolan.example/u/c_three dan @a_one"
    assert ids(settings, text) == ["b_two", "a_one", "c_three"]


def test_several_sources_in_order_text_links_forwarded_subject(settings):
    got = ids(settings, text="akun @from_text", links=["https://obrolan.example/u/from_link"],
              forwarded="Add aku: @from_fwd", subject="Lapor @from_subject")
    assert got == ["from_text", "from_link", "from_fwd", "from_subject"]


def test_forwarded_text_alone_names_the_account(settings):
    fwd = "Add Obrolan aku ya: https://obrolan.example/u/jessy.escort_bdg"
    assert ids(settings, "Forwarding this spam.", forwarded=fwd) == ["jessy.escort_bdg"]


def test_html_link_alone_names_the_account(settings):
    assert ids(settings, "I want to report this user.", links=["https://obrolan.example/u/om.genit_77"]) == ["om.genit_77"]


def test_two_styles_in_one_message(settings):
    text = "min ini 2 akun open BO ganggu bgt: @SINTA_BO.JKT sama obrolan.example/add/lala.st_lt"
    assert ids(settings, text) == ["sinta_bo.jkt", "lala.st_lt"]


def test_label_is_case_insensitive(settings):
    assert ids(settings, "AKUN @foo_bar") == ["foo_bar"]
    assert ids(settings, "Username: foo_bar") == ["foo_bar"]


# --- look-alikes that are not IDs -------------------------------------------

@pytest.mark.parametrize("text", [
    "saya lupa kata sandi akun Obrolan saya",
    "Saya melaporkan akun dengan konten aneh. Mohon akun tersebut ditindak.",
    "ada akun yang nawarin BO",
    "min ini 2 akun open BO ganggu",
    "This account pretends to be a loan company",
    "this user contacted me yesterday",
    "I want to report this user. He keeps sending messages",
    "saya mau menghapus akun saya. Caranya bagaimana?",
    "Saya tidak sempat lihat ID-nya, cuma ada screenshot ini.",
    "I live in Indonesia and my identity was stolen",
    "ID: 12345678",
    "username: ab",
    "akun @abc",
])
def test_ordinary_words_are_not_ids(settings, text):
    assert ids(settings, text) == []


@pytest.mark.parametrize("text", [
    "They also use the email quickloan.cs@gmail.com.",
    "kirim ke sinta_bo.jkt@yahoo.co.id",
    "username: foo.bar@gmail.com",
    "balas ke support@obrolan.example",
    "email saya di @gmail.com",
    "alamat @yahoo.co.id",
    "Bcc: victim@evil.example",
])
def test_email_addresses_and_domains_are_not_ids(settings, text):
    assert ids(settings, text) == []


@pytest.mark.parametrize("text", [
    "Dia minta konfirmasi lewat WhatsApp wa.me/628571234098",
    "https://instagram.com/@sinta_bo.jkt",
    "https://www.tiktok.com/@foo_bar99/video/1",
    "https://evil.example/akun/foo_bar99",
    "https://example.com/?id=foo_bar99&user=x_y_z1",
    "https://notobrolan.example/u/foo_bar99",
    "akun instagram.com/foo_bar99",
])
def test_other_sites_urls_are_not_ids(settings, text):
    assert ids(settings, text) == []


def test_profile_link_with_too_long_handle_is_ignored(settings):
    assert ids(settings, "obrolan.example/u/" + "a" * 40) == []


def test_reporters_own_handle_is_not_reported(settings):
    text = ("My own username is kate_w.92 – I'm writing because user id dreamgirls.agency "
            "contacted me.")
    assert ids(settings, text) == ["dreamgirls.agency"]


@pytest.mark.parametrize("text", [
    "username saya: my_handle1, yang ganggu @bad_guy99",
    "akun saya @my_handle1 diganggu @bad_guy99",
    "akunku my_handle1, pelakunya @bad_guy99",
    "My username is @my_handle1 and @bad_guy99 harasses me",
    "my account: my_handle1. Reporting @bad_guy99",
    "my ID is my_handle1, theirs is @bad_guy99; also @my_handle1 again",
])
def test_own_handle_variants(settings, text):
    assert ids(settings, text) == ["bad_guy99"]


def test_own_marker_in_forwarded_spam_is_the_spammers_account(settings):
    # In the forwarded spam, "akun aku" is the spammer speaking: that's the reported account.
    assert ids(settings, "Forwarding spam", forwarded="Add akun aku: @jessy_bdg") == ["jessy_bdg"]


def test_signature_matching_reporter_address_is_not_an_id(settings):
    text = "akun om.genit_77 kirim pesan jorok.\n\nSalam,\n@reza.kurnia"
    assert ids(settings, text, address="rezakurnia@icloud.com", name="") == ["om.genit_77"]


def test_signature_matching_reporter_name_is_not_an_id(settings):
    text = "akun @om.genit_77 ganggu. Salam, akun Reza_Kurnia"
    assert ids(settings, text, address="x9@icloud.com", name="Reza Kurnia") == ["om.genit_77"]


def test_not_handles_after_at_are_ignored(settings):
    assert ids(settings, "hubungi @admin atau @obrolan") == []


def test_nothing_at_all(settings):
    assert ids(settings) == []
    assert extract("", [], "", "", None, "", settings).account_ids == []


# --- configuration drives the rules -----------------------------------------

def _with_accounts(settings, **changes):
    return dataclasses.replace(settings, accounts=dataclasses.replace(settings.accounts, **changes))


def test_labels_come_from_config(settings):
    s = _with_accounts(settings, labels=("handle",))
    assert ids(s, "handle: foo_bar") == ["foo_bar"]
    assert ids(s, "akun foo_bar") == []
    assert ids(s, "@foo_bar") == ["foo_bar"]  # '@x' needs no label


def test_profile_urls_come_from_config(settings):
    s = _with_accounts(settings, profile_urls=(r"chat\.example/~(?P<handle>[a-z][a-z0-9_]{3,29})",))
    assert ids(s, "see chat.example/~foo_bar") == ["foo_bar"]
    assert ids(s, "obrolan.example/u/foo_bar") == []


def test_handle_pattern_comes_from_config(settings):
    s = _with_accounts(settings, handle_pattern=r"[a-z]{2}[0-9]{4}")
    assert ids(s, "ID: ab1234 dan @cd5678") == ["ab1234", "cd5678"]
    assert ids(s, "ID: foo_bar") == []


def test_not_handles_come_from_config(settings):
    s = _with_accounts(settings, not_handles=("foo_bar",))
    assert ids(s, "ID: foo_bar") == []
    assert ids(settings, "ID: foo_bar") == ["foo_bar"]


def test_rules_compiled_once_per_settings(settings):
    assert compile_rules(settings) is compile_rules(settings)
    other = _with_accounts(settings, labels=("x",))
    assert compile_rules(other) is not compile_rules(settings)


def test_long_adversarial_input_is_handled(settings):
    text = ("akun " + " " * 5000 + "@" * 5000 + "a." * 20000 + " ID: ?" * 3000) * 2
    assert ids(settings, text) == []
    assert ids(settings, "@" + "a_" * 50000) == []


def test_no_labels_configured_still_finds_at_and_links(settings):
    s = _with_accounts(settings, labels=())
    assert ids(s, "ID: foo_bar, @baz_qux, obrolan.example/u/quux_1") == ["baz_qux", "quux_1"]


def test_lower_case_handle_pattern_still_matches_any_case(settings):
    s = _with_accounts(settings, handle_pattern=r"[a-z][a-z0-9._]{3,29}")
    assert ids(s, "ID: Foo_Bar dan @BAZ_QUX") == ["foo_bar", "baz_qux"]


def test_platform_own_address_local_parts_are_not_ids(settings):
    assert ids(settings, "username: noreply, akun @abuse") == []


@pytest.mark.parametrize("text, expected", [
    ("sinta.id", ["sinta.id"]),  # a country code alone is a plausible handle ending
    ("yahoo.co.id", []),
    ("gmail.com", []),
    ("foo_bar.com", ["foo_bar.com"]),  # '_' never appears in a domain
])
def test_at_domain_forms(settings, text, expected):
    assert ids(settings, "hubungi @" + text) == expected


@pytest.mark.parametrize("text", [
    "Follow kami di Instagram @tokoku.official",
    "dia juga ada IG: @sinta_ig99",
    "Telegram @sinta_tg",
    "MiChat ID: sinta_mc99",
    "akun IG username: sinta_ig99",
])
def test_other_services_handles_are_not_ids(settings, text):
    assert ids(settings, text) == []


def test_other_service_handle_next_to_an_obrolan_one(settings):
    assert ids(settings, "IG @sinta_ig99, Obrolan @sinta_ob99") == ["sinta_ob99"]
