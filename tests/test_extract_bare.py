"""Bare handles (issue 16.3): a handle typed with no label, '@' or link counts
in a report, and none of its look-alikes does. The handles here are made up
for these tests (none is in the evaluation set)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from abuse_intake import config
from abuse_intake.extract import extract

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def settings() -> config.Settings:
    return config.load(REPO / "config.example.toml")


def ids(settings, text="", subject="", forwarded="", address="pelapor@gmail.com", name="Pelapor"):
    return extract(text, [], forwarded, subject, address, name, settings).account_ids


# --- what counts --------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("min tolong cek ini mawar.nakal07 open bo di status", ["mawar.nakal07"]),
    ("laporin kucing_liar.sby dia ngajak vcs", ["kucing_liar.sby"]),
    ("tante88jkt psk tarif 1jt", ["tante88jkt"]),
    ("akun2 judi: slotku.maxwin dan @gacor_hari88 spam terus", ["slotku.maxwin", "gacor_hari88"]),
    ("open BO: ayu.manis_22, dewi_molek & rina.cantik77", ["ayu.manis_22", "dewi_molek", "rina.cantik77"]),
    ("prostitusi: a) bunga_desa.01 b) melati.putih9", ["bunga_desa.01", "melati.putih9"]),
    ("He kept asking for nudes, his name is Brad.Pitt99.", ["brad.pitt99"]),
    ("this account posts porn: spicy.kitten_ (trailing '_' stripped, as after a label)", ["spicy.kitten"]),
    ("this account posts porn: spicykitten_ and more", []),  # no inner . or _, no digit
    ("the escort ad is from luna.moon22.", ["luna.moon22"]),
])
def test_bare_handles_in_a_report(settings, text, expected):
    assert ids(settings, text) == expected


def test_forwarded_chat_lines_count_even_without_abuse_words(settings):
    chat = ("ini chatnya kak\n\nbang.ojol_77: dek lagi dimana\n[22.10] bang.ojol_77: ketemuan yuk\n"
            "aku: gamau\n")
    assert ids(settings, chat) == ["bang.ojol_77"]


@pytest.mark.parametrize("text", [
    "Pesan baru dari bang.ojol_77: \"halo cantik\"\nBuka Obrolan untuk membalas.",
    "New message from bang.ojol_77: hey there\nOpen Obrolan to reply.",
    "You have a new message from bang.ojol_77:",
    "Permintaan pertemanan dari bang.ojol_77",
])
def test_forwarded_platform_notifications_count(settings, text):
    assert ids(settings, "FYI\n\n" + text) == ["bang.ojol_77"]


def test_a_forward_in_the_forwarded_part_counts(settings):
    assert ids(settings, "see below", forwarded="Pesan baru dari bang.ojol_77: mau ga") == ["bang.ojol_77"]


def test_a_request_for_action_makes_a_report_without_abuse_words(settings):
    assert ids(settings, "tolong diblokir kakek.genit22, dia ganggu terus") == ["kakek.genit22"]
    assert ids(settings, "Please ban uncle.tom55, he keeps messaging my kid.") == ["uncle.tom55"]


def test_a_handle_only_in_the_subject(settings):
    assert ids(settings, "dia kirim foto bugil ke grup", subject="lapor mawar.nakal07") == ["mawar.nakal07"]


# --- what must NOT count ---------------------------------------------------------

@pytest.mark.parametrize("noise", [
    "kirim email ke mawar.nakal07@gmail.com",          # an e-mail address
    "daftar di slotmaxwin.vip atau www.slot-maxwin.example",  # domains
    "link: https://bit.ly/abc_123 dan wa.me/6281234",  # URLs
    "instagram.com/mawar.nakal07",                      # another site's URL path
    "buktinya IMG_2041.jpg sama bukti_transfer.png",    # file names
    "jam 21.30 atau pk.21.00 tgl 17.11.2026",          # times and dates
    "tarif 1.5jt, 300rb, Rp.750.000",                  # prices
    "a.n. Budi s.d. besok dll. di Jl.Sudirman no.5",    # abbreviations
    "i.e. the U.S.A. e.g. this",                        # English abbreviations
    "akun2 ini tiba2 kirim2 foto, cewek2nya",           # plurals written with 2
    "umur14 kelas3 jam10",                              # a number glued to a word
    "pake kode referal MAXWIN88",                       # a code in capitals
    "app version v2.3.1 on android12",                  # versions
    "self.__init__.__globals__",                        # code
    "tolong.cek ini.juga",                              # ordinary words glued by a dot
])
def test_look_alikes_are_never_handles(settings, noise):
    assert ids(settings, f"dia nawarin open BO, {noise}, tolong ditindak") == []


@pytest.mark.parametrize("text", [
    "di IG dia ig.mawar_07 open bo",
    "on Instagram as mawar.insta7, she sells paid sex",
    "she's on TikTok as @mawar.tiktok7 selling escort",
    "telegramnya mawar_tele.7 jual vcs",
    "Twitter/X @mawar.x7 posts porn",
    "his snap is mawar.snap7, he asked for nudes",
    "FB: mawar.fb7 open BO",
    "WA nya 0812-3456-7890, wa.me/6281234567890 open bo",
])
def test_other_sites_handles_never_count(settings, text):
    assert ids(settings, text) == []


def test_another_sites_handle_never_hides_ours(settings):
    text = "dia juga pakai IG @melati.real, di sini akunnya melati_bo.sby open BO"
    assert ids(settings, text) == ["melati_bo.sby"]
    text = "on TikTok as luna.tt99 and here as luna.ob99; escort rates in her status"
    assert ids(settings, text) == ["luna.ob99"]


def test_the_senders_own_handle_and_signature_never_count(settings):
    text = "akun mawar.nakal07 open bo. akun saya dewi.pelapor1, jangan diblokir ya"
    assert ids(settings, text) == ["mawar.nakal07"]
    text = "mawar.nakal07 posts porn.\n\nThanks,\nDewi L (dewi.l)"
    assert ids(settings, text, name="Dewi Lestari", address="dewi.lestari@gmail.com") == ["mawar.nakal07"]
    # after the sign-off: the sender's signature block
    text = "mawar.nakal07 open bo\n\nSalam,\nRina\nStaff IT_Support.team3"
    assert ids(settings, text) == ["mawar.nakal07"]
    # the sender's name spelt as a handle
    assert ids(settings, "mawar.nakal07 open bo, cc andi.w", name="Andi Wijaya") == ["mawar.nakal07"]


def test_a_victim_named_is_not_reported(settings):
    text = "mawar.nakal07 asked me and my friend sari.w22 for nudes; sari.w22 is a victim too."
    assert ids(settings, text) == ["mawar.nakal07"]


def test_quoted_mail_and_our_own_quoted_ack_do_not_count(settings):
    text = ("terima kasih\n\nOn Tue, Obrolan Support <support@obrolan.example> wrote:\n"
            "> laporan tentang mawar.nakal07 open bo sudah kami terima\n")
    assert ids(settings, text) == []


def test_no_abuse_words_and_no_request_means_no_bare_handle(settings):
    # a question that mentions the sender's creator handle is not a report
    assert ids(settings, "How do I get the verified badge for studio.rina_art?") == []


def test_bare_handles_can_be_switched_off(settings):
    off = dataclasses.replace(settings, accounts=dataclasses.replace(settings.accounts, bare_handles=False))
    text = "min tolong cek ini mawar.nakal07 open bo, juga @melati_bo.sby"
    assert extract(text, [], "", "", None, "", off).account_ids == ["melati_bo.sby"]
    assert ids(settings, text) == ["mawar.nakal07", "melati_bo.sby"]


def test_config_key(tmp_path):
    from helpers import write_config
    path = write_config(tmp_path, replace={"bare_handles = true": "bare_handles = false"})
    assert config.load(path).accounts.bare_handles is False
    bad = write_config(tmp_path, replace={"bare_handles = true": 'bare_handles = "yes"'})
    with pytest.raises(config.ConfigError):
        config.load(bad)
