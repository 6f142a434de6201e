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
    assert payload in out.subject
    assert payload in out.text
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
    assert "\x1b" not in out.subject
    assert "Bcc: victim@evil.example" in out.subject  # kept as harmless words on the one line


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
