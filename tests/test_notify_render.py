"""Templates: every kind in both languages, escaping, literal user text, overrides."""

from __future__ import annotations

import pytest

from abuse_intake.errors import ConfigError, TemplateError
from abuse_intake.notify.render import KINDS, Renderer, shipped_templates_dir
from notify_fixtures import settings_for

JINJA_PAYLOADS = ["{{ config }}", "{% for x in range(3) %}X{% endfor %}", "{{ ''.__class__.__mro__ }}"]


@pytest.fixture
def renderer(tmp_path):
    return Renderer(settings_for(tmp_path))


def _vars(kind):
    v = dict(reporter_name="Dewi", subject="Akun penipu", case_refs=["OB-000123"],
             cases=[{"ref": "OB-000123", "account_id": "dewi_manja88"}])
    if kind.startswith("outcome"):
        v.update(account_id="dewi_manja88", action="ban", category="prostitution", functions=[], until=None)
    if kind.startswith("appeal"):
        v.update(appeal_id=7, account_id="dewi_manja88", note="the reason")
    return v


def test_every_kind_ships_three_templates_per_language():
    root = shipped_templates_dir()
    for lang in ("en", "id"):
        for kind in KINDS:
            for part in ("subject", "txt", "html"):
                assert (root / lang / f"{kind}.{part}.j2").is_file(), f"{lang}/{kind}.{part}.j2"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lang", ["en", "id"])
def test_renders_one_line_subject_with_case_tag(renderer, kind, lang):
    out = renderer.render(kind, lang, **_vars(kind))
    assert "\n" not in out.subject and "\r" not in out.subject
    if kind != "not_a_report":
        assert "[OB-000123]" in out.subject
        assert "OB-000123" in out.text and "OB-000123" in out.html
    assert out.html.lstrip().startswith("<!DOCTYPE html>")
    assert "Obrolan" in out.text


def test_language_changes_the_words(renderer):
    en = renderer.render("ack", "en", **_vars("ack"))
    idn = renderer.render("ack", "id", **_vars("ack"))
    assert "Thank you for your report" in en.text
    assert "Terima kasih atas laporan Anda" in idn.text
    assert '<html lang="id">' in idn.html


def test_unknown_language_falls_back_to_default(tmp_path):
    r = Renderer(settings_for(tmp_path, templates={"default_language": "id"}))
    assert "Terima kasih" in r.render("ack", None, **_vars("ack")).text
    assert "Terima kasih" in r.render("ack", "fr", **_vars("ack")).text


def test_ack_lists_every_case_and_asks_for_missing_ids(renderer):
    out = renderer.render("ack", "en", case_refs=["OB-000001", "OB-000002"],
                          cases=[{"ref": "OB-000001", "account_id": "dewi_manja88"},
                                 {"ref": "OB-000002", "account_id": None}])
    assert out.subject.startswith("[OB-000001] [OB-000002]")
    assert "dewi_manja88" in out.text
    assert "For OB-000002 we could not find" in out.text


@pytest.mark.parametrize("payload", JINJA_PAYLOADS)
def test_jinja_syntax_in_reporter_values_stays_literal(renderer, payload):
    out = renderer.render("ack", "en", reporter_name=payload, subject=payload, case_refs=["OB-000001"], cases=[])
    assert payload in out.text  # quoted in the body; our subject never echoes the sender's
    assert "XXX" not in out.text and "Settings(" not in out.text and "<class" not in out.text


def test_html_in_reporter_values_is_escaped_in_html_only(renderer):
    evil = '<script>alert("x")</script><a href="http://evil.example">'
    out = renderer.render("needs_info", "en", reporter_name=evil, subject=evil, case_refs=["OB-000001"])
    assert "<script>" not in out.html and "<a href=\"http://evil" not in out.html
    assert "&lt;script&gt;" in out.html
    assert evil in out.text  # the text body is plain text: no escaping there


def test_control_characters_in_values_never_reach_the_subject(renderer):
    out = renderer.render("ack", "en", subject="Report\r\nBcc: victim@evil.example\x00\x1b[31m",
                          reporter_name="A\nB", case_refs=["OB-000001"], cases=[])
    assert "\r" not in out.subject and "\n" not in out.subject and "\x00" not in out.subject
    assert "\x1b" not in out.subject and "\x1b" not in out.text
    assert out.subject == "[OB-000001] We received your report"  # the sender's subject stays out of ours
    # quoted in the body as harmless words on one line
    assert 'Thank you for your report "Report Bcc: victim@evil.example [31m"' in out.text


def test_outcome_restrict_shows_functions_and_until(renderer):
    out = renderer.render("outcome_actioned", "en", case_refs=["OB-000009"], account_id="x_y1",
                          action="restrict", category="prostitution", functions=["posting status updates"],
                          until="2026-05-21")
    assert "restricted the account until 2026-05-21" in out.text
    assert "posting status updates" in out.text and "posting status updates" in out.html


def test_operator_override_is_used_and_others_fall_back(tmp_path):
    override = tmp_path / "mine"
    (override / "en").mkdir(parents=True)
    (override / "en" / "ack.subject.j2").write_text("[{{ case_refs|join('] [') }}] Custom ack for {{ platform_name }}")
    (override / "en" / "ack.html.j2").write_text("<p>Hi {{ reporter_name }}</p>")
    r = Renderer(settings_for(tmp_path, templates={"dir": str(override)}))
    out = r.render("ack", "en", **_vars("ack") | {"reporter_name": "<b>Ana</b>"})
    assert out.subject == "[OB-000123] Custom ack for Obrolan"
    # An override .html.j2 is autoescaped too.
    assert out.html == "<p>Hi &lt;b&gt;Ana&lt;/b&gt;</p>"
    assert "Thank you for your report" in out.text  # not overridden: shipped
    assert "Terima kasih" in r.render("ack", "id", **_vars("ack")).text


def test_missing_override_dir_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as exc:
        settings_for(tmp_path, templates={"dir": str(tmp_path / "nope")})
    assert exc.value.key == "templates.dir"


def test_override_with_a_typo_fails_at_start_up(tmp_path):
    override = tmp_path / "mine"
    (override / "id").mkdir(parents=True)
    (override / "id" / "needs_info.txt.j2").write_text("Halo {{ reporter_nmae }}")
    with pytest.raises(TemplateError, match="reporter_nmae"):
        Renderer(settings_for(tmp_path, templates={"dir": str(override)}))


def test_override_with_bad_syntax_fails_at_start_up(tmp_path):
    override = tmp_path / "mine"
    (override / "en").mkdir(parents=True)
    (override / "en" / "ack.txt.j2").write_text("{% if %}")
    with pytest.raises(TemplateError, match="en/ack.txt.j2"):
        Renderer(settings_for(tmp_path, templates={"dir": str(override)}))


def test_override_cannot_reach_python_internals(tmp_path):
    override = tmp_path / "mine"
    (override / "en").mkdir(parents=True)
    (override / "en" / "ack.txt.j2").write_text("{{ cases.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateError):
        Renderer(settings_for(tmp_path, templates={"dir": str(override)}))


def test_unknown_kind_is_an_error(renderer):
    with pytest.raises(TemplateError):
        renderer.render("newsletter", "en")


# -- the fast paths (bench/store_cost.py): same output as stock jinja2 -----------

def _stock(renderer):
    """The same renderer on stock jinja2 environments (ChainMap globals), no template cache."""
    from jinja2.sandbox import SandboxedEnvironment

    def stock(env):
        return SandboxedEnvironment(loader=env.loader, undefined=env.undefined, trim_blocks=env.trim_blocks,
                                    lstrip_blocks=env.lstrip_blocks, keep_trailing_newline=env.keep_trailing_newline,
                                    autoescape=env.autoescape, auto_reload=False)

    renderer._text_env, renderer._html_env = stock(renderer._text_env), stock(renderer._html_env)
    renderer._render = lambda env, name, context: env.get_template(name).render(context)
    return renderer


def test_cached_templates_render_what_stock_jinja_renders(tmp_path):
    settings = settings_for(tmp_path)
    fast, slow = Renderer(settings), _stock(Renderer(settings))
    names = [("Dewi", "Akun penipu"), ("", ""), ("<b>Ana</b> & co", "Re: [OB-000123] {{ config }}\r\nBcc: x")]
    # Interleaved kinds and languages: a cache keyed too loosely would hand one the other's template.
    for name, subject in names:
        for lang in ("id", "en", "fr"):
            for kind in reversed(KINDS):
                v = _vars(kind) | {"reporter_name": name, "subject": subject}
                if kind == "needs_info":
                    v["cases"] = [{"ref": "OB-000123", "account_id": None}]
                assert fast.render(kind, lang, **v) == slow.render(kind, lang, **v), (kind, lang)


def test_templates_still_see_jinja_globals(tmp_path):
    override = tmp_path / "mine"
    (override / "en").mkdir(parents=True)
    (override / "en" / "ack.txt.j2").write_text(
        "{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}"
        "{{ ns.n }} {{ dict(a=1)['a'] }} {% set c = cycler('x', 'y') %}{{ c.next() }}{{ c.next() }} {{ case_refs[0] }}")
    settings = settings_for(tmp_path, templates={"dir": str(override)})
    out = Renderer(settings).render("ack", "en", **_vars("ack"))
    assert out.text == "6 1 xy OB-000123"
    assert out == _stock(Renderer(settings)).render("ack", "en", **_vars("ack"))


def _clean_text_reference(value, max_len=200):
    """clean_text before its printable fast path."""
    import re
    import unicodedata

    if not value:
        return ""
    chars = [" " if unicodedata.category(ch) in {"Cc", "Zl", "Zp"} else ch for ch in str(value)]
    text = re.sub(r"\s+", " ", "".join(chars)).strip()
    if len(text) > max_len:
        text = text[: max_len - 1].rstrip() + "…"
    return text


def test_clean_text_fast_path_cleans_as_before():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from abuse_intake.notify.headers import clean_text

    @settings(max_examples=500, deadline=None)
    @given(st.text(alphabet=st.characters(codec=None)) | st.text(alphabet="ab \t\r\n\x00\x1b\x7f\x85\u2028\u2029\u00a0\u200b\u3000é"),
           st.integers(min_value=1, max_value=40))
    def check(value, max_len):
        assert clean_text(value, max_len) == _clean_text_reference(value, max_len)

    check()
    for value in ("Laporan\r\nBcc: evil@x", "a\u2028b\u2029c\x85d", "tab\there", "  lots   of   space  ", None, ""):
        assert clean_text(value) == _clean_text_reference(value)
    assert "\n" not in clean_text("a\nb") and clean_text("a\u2028b") == "a b"


def test_our_subjects_never_echo_the_senders_and_the_body_quotes_it_cut_short(renderer):
    phish = "Your account is suspended! Verify at http://obrolan-verify.example/login " + "now " * 40
    for kind in ("ack", "not_a_report", "needs_info"):
        for lang in ("en", "id"):
            out = renderer.render(kind, lang, reporter_name="Security Team http://evil.example", subject=phish,
                                  case_refs=["OB-000001"], cases=[{"ref": "OB-000001", "account_id": None}])
            assert "suspended" not in out.subject and "Re:" not in out.subject
            assert "evil.example" not in out.text and "evil.example" not in out.html  # the name was dropped
            if kind != "needs_info" or lang == "en":
                assert "Your account is suspended!" in out.text
            assert phish.strip() not in out.text  # cut to 80 characters
            assert "now now now now now now now now now now now now now" not in out.text


def test_an_ack_for_several_cases_names_every_case_tag(renderer):
    refs = ["OB-000001", "OB-000002", "OB-000003"]
    for lang in ("en", "id"):
        out = renderer.render("ack", lang, subject="Re: Re: laporan", case_refs=refs,
                              cases=[{"ref": r, "account_id": f"acct_{i}"} for i, r in enumerate(refs)])
        assert out.subject.startswith("[OB-000001] [OB-000002] [OB-000003] ")
        assert "Re: Re:" not in out.subject
        assert all(r in out.text for r in refs) and "OB-000001, OB-000002, OB-000003" in out.text


def test_an_override_quoting_a_reply_subject_gets_one_prefix(tmp_path):
    from abuse_intake.notify.render import one_reply_prefix
    assert one_reply_prefix("[OB-000001] Re: Re: RE: Laporan") == "[OB-000001] Re: Laporan"
    assert one_reply_prefix("Re: AW: Re[2]: x") == "Re: x"
    assert one_reply_prefix("Re: x") == "Re: x"
