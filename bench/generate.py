"""Deterministic, realistic mail for the support mailbox, one message at a time.

Message i of a seed is a pure function of (seed, i): nothing is kept between
messages, so 20,000 of them stream to a Maildir in constant memory, and a
duplicate or resend regenerates the earlier message it repeats.

The mix (issue 6): ~70 % reports of 5-60 KB (Indonesian and English, account
IDs in every style of DOMAIN.md, screenshots as small valid PNG/JPEG,
quoted-printable and base64 bodies, HTML alternatives), ~10 % robots
(auto-replies, bounces, list mail), ~10 % non-reports, ~10 % duplicates and
resends; about 25 KB on average. Line endings are LF, as a Maildir holds them.
"""

from __future__ import annotations

import base64
import binascii
import os
import random
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Iterator

SUPPORT = "support@obrolan.example"
BASE_TIME = datetime(2026, 4, 1, 0, 0, tzinfo=timezone.utc)
SPACING_S = 37  # mean seconds between arrivals: 5,000 messages span about two days
DUP_WINDOW = 150  # a duplicate/resend repeats one of the previous 150 messages
HANDLE_POOL = 4000  # accounts reported; skewed, so popular accounts collect reports

# kind -> cumulative weight
_KINDS = (("report", 0.70), ("robot", 0.80), ("non_report", 0.90), ("duplicate", 1.0))


@dataclass(frozen=True)
class Generated:
    index: int
    kind: str  # report | robot | non_report | duplicate
    variant: str  # e.g. "png", "bounce", "same_bytes", "resend"
    data: bytes
    account_ids: tuple[str, ...] = ()
    repeats: int | None = None  # index of the message a duplicate/resend repeats


# -- names ---------------------------------------------------------------------

_FIRST = ("dewi", "sinta", "mami", "om", "tante", "rina", "ayu", "jeni", "bunga", "cici", "mas", "bang",
          "nona", "lala", "vivi", "kiki", "sasa", "tata", "mira", "putri", "angel", "baby", "manis",
          "ratu", "dara", "lia", "nia", "rara", "gadis", "cewek", "kak", "bos", "agen", "bunda",
          "dedek", "kakak", "sayang", "sweet", "hot", "vip")
_SECOND = ("manja", "genit", "rosa", "vip", "jkt", "sby", "bdg", "mdn", "bali", "malam", "cantik",
           "seksi", "imut", "ready", "real", "asli", "official", "store", "promo", "dream", "love",
           "kece", "hits", "sultan", "gacor", "hoki", "jaya", "indah", "mulia", "bahagia")


def handle(k: int) -> str:
    """The k-th account handle: injective in k, always holding '_' or '.' (DOMAIN.md's shape)."""
    a, rest = k % len(_FIRST), k // len(_FIRST)
    b, n = rest % len(_SECOND), rest // len(_SECOND)
    sep = "_" if (k // 7) % 3 else "."
    return f"{_FIRST[a]}{sep}{_SECOND[b]}{n if n else ''}"


_GIVEN = ("Dewi", "Budi", "Siti", "Agus", "Rina", "Joko", "Yulia", "Andi", "Putri", "Rizky", "Fitri",
          "Hendra", "Wulan", "Bayu", "Indah", "Fajar", "Maya", "Dimas", "Nur", "Eko", "Oliver", "Emma",
          "Liam", "Sophie", "Daniel", "Grace", "Kevin", "Jessica", "Ryan", "Chloe")
_FAMILY = ("Lestari", "Santoso", "Rahmawati", "Pratama", "Wijaya", "Susilo", "Anggraeni", "Saputra",
           "Kurniawan", "Hidayat", "Nugroho", "Setiawan", "Permata", "Siregar", "Harahap", "Grant",
           "Tan", "Lim", "Wong", "Smith")
_PROVIDERS = ("gmail", "gmail", "gmail", "android", "iphone", "outlook", "yahoo")
_DOMAINS = {"gmail": "gmail.com", "android": "gmail.com", "iphone": "icloud.com",
            "outlook": "outlook.com", "yahoo": "yahoo.co.id"}


def reporter(k: int) -> tuple[str, str, str]:
    """(display name, address, provider) of the k-th reporter (a pool of 3,000)."""
    given, family = _GIVEN[k % len(_GIVEN)], _FAMILY[(k // len(_GIVEN)) % len(_FAMILY)]
    provider = _PROVIDERS[(k * 7 + 3) % len(_PROVIDERS)]
    local = f"{given}.{family}{k // 600 or ''}".lower() if k % 2 else f"{given}{family}{k % 97}".lower()
    return f"{given} {family}", f"{local}@{_DOMAINS[provider]}", provider


# -- text ----------------------------------------------------------------------

_ID_STYLES_ID = ("ID: {h}", "ID Obrolan: {h}", "user id {h}", "username: {h}", "akun {h}", "akun @{h}",
                 "@{h}", "https://obrolan.example/u/{h}", "obrolan.example/add/{h}",
                 "https://obrolan.example/u/{h}?ref=share")
_ID_STYLES_EN = ("ID: {h}", "username: {h}", "user id {h}", "account @{h}", "@{h}",
                 "https://obrolan.example/u/{h}", "https://obrolan.example/u/{h}?ref=share",
                 "Obrolan ID: {h}")

_COMPLAINTS = {
    "id": (
        ("Akun ini open BO, pasang tarif short time dan long time di status.", "prostitusi"),
        ("Dia nawarin jasa pijat plus dan booking lewat chat pribadi.", "prostitusi"),
        ("Ada yang jual cewek di bawah umur, katanya masih anak SMA.", "trafficking"),
        ("Orang ini kayak mucikari, nawarin beberapa cewek sekaligus.", "trafficking"),
        ("Saya terus diajak VCS dan dikirimi pesan jorok padahal sudah saya tolak.", "solicitation"),
        ("Dia minta foto bugil dan ngajak check in, ini pelecehan seksual.", "solicitation"),
        ("Foto profilnya vulgar, konten porno dipasang di status setiap hari.", "content"),
        ("Statusnya penuh foto panas dan video porno.", "content"),
        ("Ini penipuan, katanya saya menang undian tapi harus transfer dulu.", "other"),
        ("Akun palsu yang mengaku admin, modus penipuan pinjol.", "other"),
    ),
    "en": (
        ("This account is offering paid sex and posts its rates in the status.", "prostitution"),
        ("They advertise escort services and full service bookings.", "prostitution"),
        ("Someone is selling girls, and some of them look underage.", "trafficking"),
        ("This user acts like a pimp and offers several women.", "trafficking"),
        ("He keeps sending me sexual messages and asked me for nudes.", "solicitation"),
        ("I received explicit messages and a dick pic I never asked for.", "solicitation"),
        ("The profile picture is explicit and the status has nude photos.", "content"),
        ("Their status updates are porn, posted every day.", "content"),
        ("This is a scam: they said I won a prize but must pay a fee first.", "other"),
        ("A fake account impersonating your support team, asking for money.", "other"),
    ),
}
_FILLER = {
    "id": (
        "Kejadiannya tadi malam sekitar jam 11, dia tiba-tiba chat saya.",
        "Saya sudah blokir tapi dia bikin akun baru lagi dan chat lagi.",
        "Teman saya juga dapat pesan yang sama dari orang ini.",
        "Di grup komunitas dia juga sering promosi hal yang sama.",
        "Saya takut karena dia tahu kota tempat saya tinggal.",
        "Tolong admin cek riwayat chatnya, masih ada semua di HP saya.",
        "Saya lampirkan screenshot percakapan sebagai bukti.",
        "Mohon segera ditindak supaya tidak ada korban lain.",
        "Dia bilang punya banyak akun cadangan jadi tidak takut diblokir.",
        "Awalnya dia ngaku cari teman ngobrol biasa, lama-lama mulai aneh.",
        "Profilnya pakai foto orang lain, bukan foto asli.",
        "Saya pengguna Obrolan sudah lama dan baru kali ini lihat yang seperti ini.",
    ),
    "en": (
        "It started last night around 11 pm when they messaged me out of nowhere.",
        "I blocked them but they came back with another account.",
        "A friend of mine received the same messages from this person.",
        "They also promote the same thing in community groups.",
        "I am worried because they seem to know which city I live in.",
        "Please check the chat history, I still have all of it on my phone.",
        "I attached screenshots of the conversation as evidence.",
        "Please act quickly so nobody else gets hurt.",
        "They said they have many backup accounts so blocking does not matter.",
        "At first it looked like a normal chat, then it got weird.",
        "The profile uses photos of someone else.",
        "I have used Obrolan for years and never saw anything like this.",
    ),
}
_CHAT = {
    "id": ("halo kak, lagi sibuk ga?", "ready kak, mau yang ST atau LT?", "kirim foto dulu dong",
           "transfer dulu ya baru ketemu", "jangan bilang siapa-siapa ya", "aku tunggu di hotel",
           "mau vcs ga? bayar 100rb aja", "ini nomor WA aku 0857xxxx", "masih ada yang baru nih kak"),
    "en": ("hey, are you free tonight?", "rates are in my status, dm me", "send me a pic first",
           "pay first then we meet", "don't tell anyone ok", "i'm waiting at the hotel",
           "want a video call? only 10 dollars", "add me on whatsapp", "new girls available today"),
}
_GREET = {"id": ("Halo admin,", "Selamat pagi,", "Selamat malam min,", "Permisi,", "Halo Obrolan,"),
          "en": ("Hello,", "Hi support,", "Dear Obrolan team,", "Good morning,", "Hi,")}
_SUBJECT = {
    "id": ("Laporan akun {h}", "Tolong blokir akun ini", "Lapor akun mencurigakan", "Akun open BO",
           "Pelecehan di Obrolan", "Laporan penipuan", "Mohon ditindak", "Akun {h} meresahkan"),
    "en": ("Report: {h}", "Please ban this account", "Reporting a user", "Harassment on Obrolan",
           "Abuse report", "Scam account", "Inappropriate profile {h}", "Fwd: this user"),
}
_CLOSE = {"id": ("Terima kasih.", "Makasih min.", "Mohon bantuannya, terima kasih."),
          "en": ("Thank you.", "Thanks.", "Thanks for your help.")}
_RESEND = {"id": "Saya kirim ulang laporan ini karena belum ada balasan. Tolong segera ditindak!",
           "en": "Sending this again because I have not heard back. Please act on it!"}

_NON_REPORT = {
    "id": (("Lupa kata sandi", "Saya lupa kata sandi dan tidak bisa masuk lagi. Email pemulihan tidak "
            "pernah sampai ke kotak masuk saya, padahal sudah saya coba berkali-kali."),
           ("Tagihan dobel", "Kartu kredit saya ditagih dua kali untuk langganan bulan ini. Mohon "
            "dikembalikan salah satunya, bukti transfer ada di bank saya."),
           ("Hapus akun saya", "Saya ingin menghapus akun saya dan semua datanya. Bagaimana caranya? "
            "Di menu pengaturan tidak ada pilihan itu."),
           ("Ganti nomor HP", "Nomor HP saya sudah ganti dan kode verifikasi dikirim ke nomor lama. "
            "Bagaimana cara memindahkan ke nomor baru?")),
    "en": (("Forgot password", "I forgot my password and the recovery email never arrives, even in the "
            "junk folder. I tried several times today."),
           ("Charged twice", "My card was charged twice for this month's subscription. Please refund "
            "one of the charges; my bank shows both."),
           ("Delete my account", "I would like to delete my account and all its data. I cannot find the "
            "option in the settings menu."),
           ("Cannot log in", "The app says my session expired and then shows a blank screen. I already "
            "reinstalled it twice.")),
}


# -- images: small but valid, grown to a byte budget ------------------------------

def png(rng: random.Random, budget: int) -> bytes:
    """A grayscale PNG of about `budget` bytes: noise does not compress, so size ~ pixels."""
    width = 240
    height = max(1, budget // (width + 1))
    rows = rng.randbytes(height * width)
    raw = b"".join(b"\x00" + rows[y * width:(y + 1) * width] for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


def _segment(marker: int, body: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body


_JPEG_HEAD = (
    _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    + _segment(0xDB, b"\x00" + bytes([1] * 64))  # quantisation table 0, all ones
    + _segment(0xC0, struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00")  # 8x8, one grey component
    + _segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00")  # DC table: one 1-bit code, category 0
    + _segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\x00")  # AC table: one 1-bit code, EOB
    + _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    + b"\x3f"  # DC diff 0 ("0"), EOB ("0"), padded with ones: a flat grey block
)


def jpeg(rng: random.Random, budget: int) -> bytes:
    """A valid 8x8 baseline JPEG, padded with comment segments (camera metadata stands in) to `budget`."""
    out = [b"\xff\xd8"]
    left = max(0, budget - len(_JPEG_HEAD) - 4)
    while left > 4:
        n = min(left - 4, 65000)
        out.append(_segment(0xFE, rng.randbytes(n)))
        left -= n + 4
    out.append(_JPEG_HEAD + b"\xff\xd9")
    return b"".join(out)


# -- MIME assembly (by hand: the email package is too slow to make 20,000) -------

def _qp(text: str) -> str:
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii")


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def _part(ctype: str, body: str, encoding: str, extra: str = "") -> str:
    if encoding == "quoted-printable":
        body = _qp(body)
    elif encoding == "base64":
        body = _b64(body.encode("utf-8"))
    return f"Content-Type: {ctype}\nContent-Transfer-Encoding: {encoding}\n{extra}\n{body}\n"


def _multipart(subtype: str, boundary: str, parts: list[str]) -> str:
    inner = "".join(f"--{boundary}\n{p}\n" for p in parts)
    return f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n{inner}--{boundary}--\n'


def _html(paragraphs: list[str], provider: str) -> str:
    if provider == "outlook":
        style = ('class="elementToProof" style="font-family: Aptos, Aptos_EmbeddedFont, '
                 'Aptos_MSFontService, Calibri, Helvetica, sans-serif; font-size: 12pt; color: rgb(0, 0, 0);"')
        head = ('<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\n'
                '<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style>\n'
                '</head>\n<body dir="ltr">\n')
    else:
        style = 'dir="ltr" style="font-family:arial,sans-serif;font-size:small"'
        head = '<html><head></head><body>\n'
    body = []
    for p in paragraphs:
        escaped = p.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>\n")
        if "obrolan.example/" in escaped:
            escaped = " ".join(f'<a href="{w if w.startswith("http") else "https://" + w}">{w}</a>'
                               if "obrolan.example/" in w else w for w in escaped.split(" "))
        body.append(f"<div {style}>{escaped}</div>\n<div {style}><br></div>\n")
    return head + "".join(body) + "</body>\n</html>"


def _dkim(rng: random.Random, domain: str) -> str:
    sig = base64.b64encode(rng.randbytes(256)).decode()
    lines = "\n         ".join(sig[i:i + 64] for i in range(0, len(sig), 64))
    bh = base64.b64encode(rng.randbytes(32)).decode()
    return (f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\n        d={domain}; s=20230601; "
            f"t={rng.randrange(1_770_000_000, 1_790_000_000)};\n        h=to:subject:message-id:date:from:"
            f"mime-version:from:to:cc:subject\n         :date:message-id:reply-to;\n        bh={bh};\n"
            f"        b={lines}\n")


def _ident(rng: random.Random, n: int, alphabet: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _message_id(rng: random.Random, provider: str) -> str:
    if provider == "gmail":
        return f"CA+{_ident(rng, 40, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-')}@mail.gmail.com"
    if provider == "android":
        return f"{_ident(rng, 8, '0123456789abcdef')}-{_ident(rng, 4, '0123456789abcdef')}-" \
               f"{_ident(rng, 12, '0123456789abcdef')}@email.android.com"
    if provider == "iphone":
        return f"{_ident(rng, 8)}-{_ident(rng, 4)}-{_ident(rng, 4)}-{_ident(rng, 12)}@icloud.com"
    if provider == "outlook":
        return f"KL1PR0601MB{_ident(rng, 36)}@KL1PR0601MB8812.apcprd06.prod.outlook.com"
    return f"{rng.randrange(10**9)}.{rng.randrange(10**6)}.{rng.randrange(10**13)}@mail.yahoo.com"


def _envelope(rng: random.Random, *, sender: str, return_path: str, when: datetime, hops: int = 2) -> str:
    """Return-Path, Delivered-To, a Received chain and Authentication-Results, newest first."""
    domain = sender.rsplit("@", 1)[-1] if "@" in sender else "unknown.example"
    ip = f"{rng.randrange(17, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    host = f"mail-{_ident(rng, 6, 'abcdefghijklmnopqrstuvwxyz0123456789')}.{domain}"
    stamp = format_datetime(when.astimezone(timezone.utc))
    out = [f"Return-Path: <{return_path}>", f"Delivered-To: {SUPPORT}",
           f"Received: from {host} ({host} [{ip}])\n\tby mx1.obrolan.example (Postfix) with ESMTPS id "
           f"{_ident(rng, 11, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789')}\n\tfor <{SUPPORT}>; "
           f"{stamp} (UTC)",
           f"Authentication-Results: mx1.obrolan.example;\n\tdkim=pass (2048-bit key) header.d={domain};\n"
           f"\tspf=pass (mx1.obrolan.example: domain of {sender} designates {ip} as permitted sender) "
           f"smtp.mailfrom={sender};\n\tdmarc=pass (p=NONE) header.from={domain}"]
    for _ in range(hops - 1):
        earlier = format_datetime((when - timedelta(seconds=rng.randrange(1, 5))).astimezone(timezone.utc))
        out.append(f"Received: by {host} with SMTP id {_ident(rng, 24, 'abcdefghijklmnopqrstuvwxyz0123456789')}"
                   f"\n        for <{SUPPORT}>; {earlier}")
    return "\n".join(out) + "\n"


# -- message kinds ---------------------------------------------------------------

def _when(seed: int, i: int) -> datetime:
    jitter = random.Random(f"{seed}:t:{i}").randrange(SPACING_S)
    return BASE_TIME + timedelta(seconds=i * SPACING_S + jitter)


def kind_of(seed: int, i: int) -> str:
    if i == 0:
        return "report"
    x = random.Random(f"{seed}:k:{i}").random()
    return next(kind for kind, edge in _KINDS if x < edge)


def _report(seed: int, i: int, *, resend_at: datetime | None = None) -> Generated:
    rng = random.Random(f"{seed}:m:{i}")
    lang = "id" if rng.random() < 0.6 else "en"
    name, address, provider = reporter(rng.randrange(3000))
    when = _when(seed, i)
    n_accounts = 1 if rng.random() < 0.8 else (0 if rng.random() < 0.3 else 2)
    handles = [handle(int(HANDLE_POOL * rng.random() ** 2)) for _ in range(n_accounts)]
    handles = list(dict.fromkeys(handles))
    styles = _ID_STYLES_ID if lang == "id" else _ID_STYLES_EN
    written = [rng.choice(styles).format(h=h if rng.random() < 0.8 else h.capitalize()) for h in handles]

    attach = rng.random() < 0.65
    target = rng.randrange(14_000, 59_000) if attach else rng.randrange(5_500, 18_000)
    complaint = rng.choice(_COMPLAINTS[lang])[0]
    paras = [rng.choice(_GREET[lang]), complaint + " " + " ".join(written)]
    if not handles:
        paras.append("Saya tidak tahu ID-nya, cuma ada fotonya." if lang == "id"
                     else "I don't know the ID, I only have the picture.")
    filler = _FILLER[lang]
    paras.append(" ".join(rng.sample(filler, rng.randrange(2, 6))))
    if rng.random() < 0.5:
        chat = "\n".join(f"[{rng.randrange(19, 24)}.{rng.randrange(60):02d}] "
                         f"{handles[0] if handles else 'dia'}: {rng.choice(_CHAT[lang])}"
                         for _ in range(rng.randrange(4, 14)))
        paras.append(("Isi chatnya:\n" if lang == "id" else "The chat:\n") + chat)
    # Screenshots carry most of an attachment report's bytes; a text-only one is all words.
    text_budget = target // 8 if attach else target // 3
    while sum(len(p) for p in paras) < text_budget:
        paras.append(" ".join(rng.sample(filler, rng.randrange(3, 7))))
    paras += [rng.choice(_CLOSE[lang]), name]
    subject = rng.choice(_SUBJECT[lang]).format(h=handles[0] if handles else "ini")
    message_id = _message_id(rng, provider)
    boundary = f"000000000000{_ident(rng, 12, '0123456789abcdef')}"
    tz = timezone(timedelta(hours=7)) if lang == "id" else timezone.utc

    def head(at: datetime, mid: str) -> str:
        # Own random streams, so a resend differs from its original only where it should.
        out = _envelope(random.Random(f"{seed}:env:{i}"), sender=address, return_path=address, when=at)
        if provider in ("gmail", "android"):
            out += _dkim(random.Random(f"{seed}:dkim:{i}:{at.timestamp()}"), "gmail.com")
        out += (f"MIME-Version: 1.0\nDate: {format_datetime(at.astimezone(tz))}\nMessage-ID: <{mid}>\n"
                f"Subject: {subject}\nFrom: {name} <{address}>\nTo: {SUPPORT}\n")
        if provider == "iphone":
            out += "X-Mailer: iPhone Mail (22D82)\n"
        elif provider == "outlook":
            out += f"Thread-Topic: {subject}\nContent-Language: en-US\nX-MS-Has-Attach: {'yes' if attach else ''}\n"
        return out

    headers = head(when, message_id)
    body = _report_body(boundary, provider, paras)
    while not attach and len(headers) + len(body) < target:
        # Top up to the drawn size; the rendering (QP, base64, HTML) multiplies each word.
        ratio = len(body) / sum(len(p) for p in paras)
        want = (target - len(headers) - len(body)) / ratio
        paras.insert(-2, " ".join(rng.choice(filler) for _ in range(max(1, int(want / 60)))))
        body = _report_body(boundary, provider, paras)
    room = target - len(headers) - len(body)
    if resend_at is not None:
        # The same reporter sends the same report again, one line added on top.
        paras.insert(1, _RESEND[lang])
        body = _report_body(boundary, provider, paras)
        message_id = _message_id(random.Random(f"{seed}:resend:{i}:{resend_at.timestamp()}"), provider)
        headers = head(resend_at, message_id)
    variant = "text"
    if attach:
        parts = [body]
        n_img = 1 if rng.random() < 0.7 else 2
        room = max(1_500, int(room * 0.74 / n_img))
        for k in range(n_img):
            is_png = rng.random() < 0.5
            data = png(rng, room) if is_png else jpeg(rng, room)
            fname = (f"Screenshot_2026{rng.randrange(10**8):08d}.png" if is_png
                     else f"IMG_{rng.randrange(1000, 9999)}.jpeg")
            ctype = "image/png" if is_png else "image/jpeg"
            parts.append(f'Content-Type: {ctype}; name="{fname}"\nContent-Disposition: attachment; '
                         f'filename="{fname}"\nContent-Transfer-Encoding: base64\n\n{_b64(data)}')
            variant = "png" if is_png else "jpeg"
        body = _multipart("mixed", f"Apple-Mail-{_ident(rng, 8)}-{_ident(rng, 4)}", parts)
    data = (headers + body).encode("utf-8")
    return Generated(i, "report", variant, data, tuple(h.lower() for h in handles))


def _report_body(boundary: str, provider: str, paras: list[str]) -> str:
    text = "\n\n".join(paras) + "\n"
    if provider == "android":
        return _part('text/plain; charset="UTF-8"', text, "base64")
    if provider == "iphone":
        return _part("text/plain; charset=utf-8", text, "quoted-printable")
    return _multipart("alternative", boundary, [
        _part('text/plain; charset="UTF-8"', text, "quoted-printable"),
        _part('text/html; charset="UTF-8"', _html(paras, provider), "quoted-printable")])


def _robot(seed: int, i: int) -> Generated:
    rng = random.Random(f"{seed}:m:{i}")
    when = _when(seed, i)
    x = rng.random()
    if x < 0.35:  # out-of-office answering one of our acknowledgments
        name, address, provider = reporter(rng.randrange(3000))
        ours = f"obr-{rng.randrange(10**6):06d}.{_ident(rng, 12, '0123456789abcdef')}@obrolan.example"
        auto = rng.choice(("X-Auto-Response-Suppress: All\n", "Auto-Submitted: auto-replied\n",
                           "X-Autoreply: yes\nPrecedence: auto_reply\n"))
        subject = rng.choice(("Automatic reply: [Obrolan] We have received your report",
                              "Balasan otomatis: [Obrolan] Laporan Anda telah kami terima", "Out of office"))
        text = ("I am out of the office until next week with limited access to email.\n\n" + name + "\n")
        head = _envelope(rng, sender=address, return_path=address, when=when)
        head += (f"MIME-Version: 1.0\nDate: {format_datetime(when)}\nMessage-ID: <{_message_id(rng, provider)}>\n"
                 f"Subject: {subject}\nFrom: {name} <{address}>\nTo: Obrolan Support <{SUPPORT}>\n"
                 f"In-Reply-To: <{ours}>\nReferences: <{ours}>\n{auto}")
        return Generated(i, "robot", "auto_reply", (head + _part('text/plain; charset="us-ascii"', text,
                                                                 "quoted-printable")).encode())
    if x < 0.65:  # a bounce of one of our acknowledgments
        _, address, _ = reporter(rng.randrange(3000))
        qid = _ident(rng, 10, "0123456789ABCDEF")
        head = _envelope(rng, sender="MAILER-DAEMON@relay.obrolan.example", return_path="", when=when, hops=1)
        head += (f"Date: {format_datetime(when)}\nFrom: MAILER-DAEMON@relay.obrolan.example (Mail Delivery System)\n"
                 f"Subject: Undelivered Mail Returned to Sender\nTo: {SUPPORT}\nAuto-Submitted: auto-replied\n"
                 f"MIME-Version: 1.0\nMessage-Id: <{when:%Y%m%d%H%M%S}.{qid}@relay.obrolan.example>\n")
        notice = ("This is the mail system at host relay.obrolan.example.\n\nI'm sorry to have to inform you "
                  "that your message could not\nbe delivered to one or more recipients. It's attached below.\n\n"
                  f"<{address}>: host mx.example[203.0.113.9] said: 550 5.1.1 user unknown\n")
        status = (f"Reporting-MTA: dns; relay.obrolan.example\nX-Postfix-Queue-ID: {qid}\n\n"
                  f"Final-Recipient: rfc822; {address}\nAction: failed\nStatus: 5.1.1\n"
                  "Diagnostic-Code: smtp; 550 5.1.1 user unknown\n")
        ack = " ".join(rng.sample(_FILLER["id"], 6))
        original = (f"From: Obrolan Support <{SUPPORT}>\nTo: {address}\nSubject: [Obrolan] Laporan Anda telah "
                    f"kami terima\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n"
                    + _multipart("alternative", f"ack-{qid}", [
                        _part("text/plain; charset=utf-8", ack * 3, "quoted-printable"),
                        _part("text/html; charset=utf-8", _html([ack] * 6, "gmail"), "quoted-printable")]))
        body = _multipart("report; report-type=delivery-status", f"{qid}/relay.obrolan.example", [
            "Content-Description: Notification\n" + _part("text/plain; charset=utf-8", notice, "8bit"),
            "Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n" + status,
            "Content-Description: Undelivered Message\nContent-Type: message/rfc822\n"
            "Content-Transfer-Encoding: 8bit\n\n" + original])
        return Generated(i, "robot", "bounce", (head + body).encode())
    # list mail / newsletter
    shop = rng.choice(("tokoku", "belanjaku", "promoku"))
    head = _envelope(rng, sender=f"hello@mail.{shop}.example", return_path=f"bounce-{i}@mail.{shop}.example",
                     when=when, hops=1)
    head += (f"From: {shop.capitalize()} <hello@mail.{shop}.example>\nTo: {SUPPORT}\n"
             f"Subject: Promo Gajian: voucher ongkir Rp 0\nDate: {format_datetime(when)}\n"
             f"Message-ID: <{_ident(rng, 28, '0123456789abcdef')}@mail.{shop}.example>\n"
             f"List-Id: {shop} Newsletter <newsletter.mail.{shop}.example>\n"
             f"List-Unsubscribe: <https://mail.{shop}.example/u/{i}>\nPrecedence: bulk\nMIME-Version: 1.0\n")
    items = [f"Produk pilihan nomor {k}: diskon {rng.randrange(10, 80)}% hanya minggu ini." for k in range(60)]
    text = "\n".join(items[: rng.randrange(10, 60)])
    body = _multipart("alternative", f"nl-{_ident(rng, 16)}", [
        _part("text/plain; charset=utf-8", text, "quoted-printable"),
        _part("text/html; charset=utf-8", _html(text.split("\n") * 2, "outlook"), "quoted-printable")])
    return Generated(i, "robot", "list", (head + body).encode())


def _non_report(seed: int, i: int) -> Generated:
    rng = random.Random(f"{seed}:m:{i}")
    lang = "id" if rng.random() < 0.6 else "en"
    name, address, provider = reporter(rng.randrange(3000))
    when = _when(seed, i)
    subject, ask = rng.choice(_NON_REPORT[lang])
    paras = [rng.choice(_GREET[lang]), ask, rng.choice(_CLOSE[lang]), name]
    text = "\n\n".join(paras) + "\n"
    head = _envelope(rng, sender=address, return_path=address, when=when)
    if provider in ("gmail", "android"):
        head += _dkim(rng, "gmail.com")
    head += (f"MIME-Version: 1.0\nDate: {format_datetime(when)}\nMessage-ID: <{_message_id(rng, provider)}>\n"
             f"Subject: {subject}\nFrom: {name} <{address}>\nTo: {SUPPORT}\n")
    body = _multipart("alternative", f"0000{_ident(rng, 16, '0123456789abcdef')}", [
        _part('text/plain; charset="UTF-8"', text, "quoted-printable"),
        _part('text/html; charset="UTF-8"', _html(paras, provider), "quoted-printable")])
    if rng.random() < 0.3:  # a screenshot of the error screen
        body = _multipart("mixed", f"mixed-{_ident(rng, 12)}", [
            body, 'Content-Type: image/png; name="error.png"\nContent-Disposition: attachment; '
                  f'filename="error.png"\nContent-Transfer-Encoding: base64\n\n{_b64(png(rng, rng.randrange(3000, 20000)))}'])
    return Generated(i, "non_report", "question", (head + body).encode())


def _duplicate(seed: int, i: int) -> Generated:
    rng = random.Random(f"{seed}:m:{i}")
    earlier = [j for j in range(max(0, i - DUP_WINDOW), i) if kind_of(seed, j) == "report"]
    if not earlier:
        return _report(seed, i)
    j = rng.choice(earlier)
    x = rng.random()
    if x < 0.4:  # delivered twice: the very same bytes
        first = _report(seed, j)
        return Generated(i, "duplicate", "same_bytes", first.data, first.account_ids, j)
    if x < 0.7:  # the same message through a second relay: new Received line, same Message-ID
        first = _report(seed, j)
        hop = (f"Received: from mx1.obrolan.example (mx1.obrolan.example [10.0.0.5])\n\tby mx2.obrolan.example "
               f"(Postfix) with ESMTP id {_ident(rng, 11)}\n\tfor <{SUPPORT}>; {format_datetime(_when(seed, i))}\n")
        return Generated(i, "duplicate", "same_message_id", hop.encode() + first.data, first.account_ids, j)
    again = _report(seed, j, resend_at=_when(seed, i))  # the reporter sends it again, a line added
    return Generated(i, "duplicate", "resend", again.data, again.account_ids, j)


def message(seed: int, i: int) -> Generated:
    """Message i of the stream for `seed`."""
    kind = kind_of(seed, i)
    if kind == "report":
        return _report(seed, i)
    if kind == "robot":
        return _robot(seed, i)
    if kind == "non_report":
        return _non_report(seed, i)
    return _duplicate(seed, i)


def generate(n: int, seed: int = 1, start: int = 0) -> Iterator[Generated]:
    """Messages start .. start+n-1, one at a time."""
    for i in range(start, start + n):
        yield message(seed, i)


def big_message(seed: int, size: int) -> bytes:
    """One report of about `size` bytes: mostly one large photo (base64 adds a third)."""
    rng = random.Random(f"{seed}:big")
    first = _report(seed, 0).data
    head, _, _ = first.partition(b"\n\n")
    head = b"\n".join(l for l in head.split(b"\n") if not l.lower().startswith(b"content-"))
    photo = jpeg(rng, int(size * 0.74))
    text = _part("text/plain; charset=utf-8", "Ini videonya, akun ID: dewi_manja88 open BO.\n", "quoted-printable")
    att = ('Content-Type: image/jpeg; name="IMG_0001.jpeg"\nContent-Disposition: attachment; '
           f'filename="IMG_0001.jpeg"\nContent-Transfer-Encoding: base64\n\n{_b64(photo)}')
    body = _multipart("mixed", "big-boundary-0001", [text, att])
    return head.replace(b"Message-ID: <", b"Message-ID: <big-") + b"\n" + body.encode()


def write_maildir(root: Path, n: int, seed: int = 1, start: int = 0) -> dict:
    """Stream n messages into root/new (Maildir names sort in arrival order); returns counts and bytes."""
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    total = 0
    for g in generate(n, seed, start):
        name = f"{1_780_000_000 + g.index:012d}.M{g.index}P{os.getpid()}.bench"
        (root / "new" / name).write_bytes(g.data)
        key = f"{g.kind}/{g.variant}"
        counts[key] = counts.get(key, 0) + 1
        total += len(g.data)
    return {"messages": n, "bytes": total, "kinds": counts}
