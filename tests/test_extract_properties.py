"""Properties of extract() on arbitrary text: never raises, IDs are valid,
lower-case, unique; and a handle written in any recognised style is found."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings as hsettings, strategies as st

from abuse_intake import config
from abuse_intake.extract import extract

REPO = Path(__file__).resolve().parent.parent
SETTINGS = config.load(REPO / "config.example.toml")
HANDLE = re.compile(SETTINGS.accounts.handle_pattern)

# Text built from the pieces that matter to the patterns, plus any character.
pieces = st.sampled_from(["akun", "ID", ":", "@", ".", "_", " ", "\n", "obrolan.example/u/", "saya",
                          "my username is", "open BO", "foo_bar9", "x.y", "gmail.com", "IG", "/"])
texts = st.lists(st.one_of(pieces, st.text(max_size=5)), max_size=40).map("".join)


@hsettings(max_examples=150, deadline=None)
@given(text=texts, fwd=texts, subject=texts)
def test_ids_are_valid_lowercase_unique(text, fwd, subject):
    e = extract(text, [text], fwd, subject, "someone@example.com", "Some One", SETTINGS)
    assert len(e.account_ids) == len(set(e.account_ids))
    for h in e.account_ids:
        assert h == h.lower() and HANDLE.fullmatch(h) and not h.endswith((".", "_"))
    assert (e.category is None) == (e.severity is None) == (not e.matched_words)
    assert e.language in (None, "id", "en")


# With a '_' so that "@abc.com"-like handles (taken for domains) are not generated.
handles = st.from_regex(r"[a-z][a-z0-9.]{1,10}_[a-z0-9]{1,10}", fullmatch=True)
styles = st.sampled_from(["ID: {}", "ID Obrolan: {}", "user id {}", "username: {}", "akun {}",
                          "akun @{}", "@{}", "https://obrolan.example/u/{}", "obrolan.example/add/{}",
                          "https://obrolan.example/u/{}?ref=share"])


@hsettings(max_examples=150, deadline=None)
@given(handle=handles, style=styles, end=st.sampled_from(["", ".", " ", ", ", ".\n", "!"]))
def test_every_style_finds_the_handle(handle, style, end):
    text = "Tolong cek " + style.format(handle) + end + " terima kasih"
    assert extract(text, [], "", "", None, "", SETTINGS).account_ids == [handle]
