"""Render the emails we send to reporters from jinja2 templates.

Templates
---------
Each kind of email has three templates per language (``en``, ``id``):
``<kind>.subject.j2`` (one line), ``<kind>.txt.j2`` (plain-text body) and
``<kind>.html.j2`` (HTML body). The kinds:

==========================  ====================================================
``ack``                     report received: the case refs, what happens next,
                            how to add information by replying
``needs_info``              report received but no account ID found: reply with
                            the ID or profile link
``outcome_actioned``        the case was decided as a violation; what was done
``outcome_no_violation``    the case was decided: no violation found
``not_a_report``            this address handles abuse reports only
                            (``[classify] send_not_a_report = false`` turns it off)
``outcome_closed``          the case was closed without action: no account to
                            act on, not actionable, or a duplicate (``reason``)
``outcome_corrected``       a correction: the reporter was told action was
                            taken, the case was reopened and decided otherwise
``appeal_ack``              an appeal was received and will be reviewed by
                            someone who did not decide the case
``appeal_late``             an appeal came after ``[policy] appeal_days``
``appeal_unmatched``        an appeal named no sanctioned account (or decided
                            case) we know: how to name it
``appeal_upheld``           the appeal was reviewed; the decision stands
                            (``note``: the reason)
``appeal_overturned``       the appeal was granted: the sanction is lifted,
                            or the case is reviewed again (``note``)
==========================  ====================================================

The shipped templates live in ``templates/<lang>/`` (installed as the package
``abuse_intake.templates``). An operator overrides any of them by putting a
file of the same name in ``<[templates] dir>/<lang>/``; files not overridden
come from the shipped set. Every template is loaded and test-rendered when the
Renderer is created, so a broken override stops the program at start-up
(TemplateError, exit 78) instead of failing on the first report.

Subjects and text bodies are rendered without HTML escaping; HTML bodies with
autoescape on. Undefined variables are errors (StrictUndefined): test optional
values with ``{% if x %}`` only for the variables listed below, which are
always defined. The sandboxed environment blocks attribute tricks, and
everything a reporter wrote is passed as a value, never compiled as a
template, so ``{{ config }}`` in a subject appears literally.

Variables
---------
Every template gets:

``platform_name``      the platform's name (``[platform] name``)
``support_address``    the address reporters write to
``appeal_address``     where an account holder may appeal
``guidelines_url``     link to the community guidelines ("" if not set)
``language``           ``"en"`` or ``"id"``
``reporter_name``      the reporter's display name from their From header,
                       control characters removed, at most 40 characters;
                       "" if none or if it carries a link or an address
``subject``            the reporter's own subject line, control characters
                       removed, cut to 80 characters; "" if none. The shipped
                       templates quote it in the body only: a subject of ours
                       never echoes a sender's line (it may be a phishing one)
``case_refs``          list of case references, e.g. ``["OB-000123"]``; empty
                       for ``not_a_report``
``cases``              list of ``{"ref", "account_id"}`` for the same cases
                       (``account_id`` is None for a ``needs_info`` case)

Outcome templates (``outcome_actioned``, ``outcome_no_violation``,
``outcome_closed``, ``outcome_corrected``) also get:

``account_id``         the reported account's ID (the one this reporter named)
``action``             ``"warn"``, ``"restrict"``, ``"ban"``, ``"remove_content"``
                       or None (no sanction recorded)
``decision``           ``"violation"`` or ``"no_violation"`` (the new decision,
                       for ``outcome_corrected``)
``reason``             why it was closed without action: ``"not_actionable"``,
                       ``"no_account"``, ``"duplicate"`` or None
``category``           the violation category as words in the email's
                       language, e.g. "prostitution" / "prostitusi"
``functions``          for ``restrict``: the functions taken away, as words
                       in the email's language; else an empty list
``until``              for ``restrict``: the last day, ``YYYY-MM-DD`` (UTC);
                       else None

Appeal templates (``appeal_*``) also get: ``appeal_id`` (number),
``account_id`` (the account the appeal concerns, or None), ``case_ref`` (or
None), ``appeal_kind`` (``"sanction"``: the holder contests a sanction;
``"outcome"``: a reporter contests a "no violation" outcome), ``note`` (staff's
reason, for ``appeal_upheld`` / ``appeal_overturned``; else None) and
``appeal_days``.

Nothing else is available: no other reporter's address or name, and never
the reporter's identity in an email to anyone else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from ..config import LANGUAGES, Settings
from ..errors import TemplateError
from .headers import clean_text

KINDS = ("ack", "needs_info", "outcome_actioned", "outcome_no_violation", "not_a_report",
         "outcome_closed", "outcome_corrected")
# Answers to an appellant (issue 14.1): see appeals/service.py.
APPEAL_KINDS = ("appeal_ack", "appeal_late", "appeal_unmatched", "appeal_upheld", "appeal_overturned")
KINDS = KINDS + APPEAL_KINDS
ACK_KINDS = ("ack", "needs_info")  # get `critical` and `safety_contacts` (issue 14.7)
OUTCOME_KINDS = ("outcome_actioned", "outcome_no_violation", "outcome_closed", "outcome_corrected")
PARTS = ("subject", "txt", "html")
# Listed by hand: select_autoescape()'s defaults do not match "*.html.j2".
HTML_EXTENSIONS = ("html.j2", "htm.j2", "html", "htm")

CATEGORY_LABELS = {
    "en": {
        "human_trafficking": "human trafficking",
        "prostitution": "prostitution",
        "sexual_solicitation": "sexual solicitation or harassment",
        "sexual_content": "sexual content",
        "other": "other abuse",
    },
    "id": {
        "human_trafficking": "perdagangan manusia",
        "prostitution": "prostitusi",
        "sexual_solicitation": "ajakan seksual atau pelecehan",
        "sexual_content": "konten seksual",
        "other": "pelanggaran lain",
    },
}
FUNCTION_LABELS = {
    "en": {
        "message_new_contacts": "messaging new contacts",
        "nearby_discovery": "appearing in Nearby and discovery",
        "post_status": "posting status updates",
    },
    "id": {
        "message_new_contacts": "mengirim pesan ke kontak baru",
        "nearby_discovery": "tampil di fitur Sekitar dan pencarian",
        "post_status": "membuat status",
    },
}


SUBJECT_QUOTE_MAX = 80  # the reporter's subject, as quoted in our body
NAME_QUOTE_MAX = 40
_LINKISH = re.compile(r"://|www\.|@|\.[a-z]{2,}/|\bhttps?\b", re.IGNORECASE)
# "Re: Re: AW: ..." (an override that quotes a subject that was already a reply) -> "Re: "
_REPLY_PREFIXES = re.compile(r"(?:(?:re|aw|sv|antw|balas)(?:\[\d+\])?\s*:\s*){2,}", re.IGNORECASE)


def reporter_name(value: str | None) -> str:
    """The sender's display name for "Hello NAME,": cleaned, cut, and dropped
    ("") when it carries a link or an address."""
    name = clean_text(value, NAME_QUOTE_MAX)
    return "" if _LINKISH.search(name) else name


def one_reply_prefix(subject: str) -> str:
    """At most one reply prefix wherever a run of them appears."""
    return _REPLY_PREFIXES.sub("Re: ", subject)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def category_label(name: str | None, language: str) -> str:
    """Words for a category name; unknown (operator-added) names lose their '_'."""
    if not name:
        return ""
    return CATEGORY_LABELS.get(language, {}).get(name, name.replace("_", " "))


def function_labels(names, language: str) -> list[str]:
    table = FUNCTION_LABELS.get(language, {})
    return [table.get(n, str(n).replace("_", " ")) for n in names or ()]


class _Environment(SandboxedEnvironment):
    """Template globals as one plain dict instead of jinja2's ChainMap.

    Every render copies the globals into a new context and sets up its key set;
    iterating a ChainMap for that cost ~11 us per template (a third of a short
    template's render). The environment's globals never change after the
    Renderer is built, so a snapshot sees exactly what the ChainMap would.
    """

    def make_globals(self, d):
        return {**self.globals, **(d or {})}


def shipped_templates_dir() -> Path:
    return Path(str(resources.files("abuse_intake.templates")))


class Renderer:
    """Both jinja2 environments, built once per run from the settings."""

    def __init__(self, settings: Settings):
        self.settings = settings
        loaders: list[jinja2.BaseLoader] = []
        if settings.templates_dir is not None:
            # config.py already refused a missing directory; ChoiceLoader would skip it silently.
            loaders.append(jinja2.FileSystemLoader(str(settings.templates_dir)))
        loaders.append(jinja2.FileSystemLoader(str(shipped_templates_dir())))
        loader = jinja2.ChoiceLoader(loaders)
        common = dict(loader=loader, undefined=jinja2.StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, auto_reload=False)
        # (environment, name) -> Template: with auto_reload off jinja2 never reloads
        # one either, and its own cache lookup costs more than this dict's.
        self._templates: dict[tuple[int, str], jinja2.Template] = {}
        self._text_env = _Environment(autoescape=False, keep_trailing_newline=True, **common)
        self._html_env = _Environment(
            autoescape=jinja2.select_autoescape(enabled_extensions=HTML_EXTENSIONS,
                                                default_for_string=True, default=False),
            keep_trailing_newline=True, **common)
        self.check()

    def base_vars(self, language: str) -> dict:
        s = self.settings
        return {
            "platform_name": s.platform_name,
            "support_address": s.support_address,
            "appeal_address": s.appeal_address,
            "guidelines_url": s.guidelines_url,
            "language": language,
            "reporter_name": "",
            "subject": "",
            "case_refs": [],
            "cases": [],
        }

    def language(self, language: str | None) -> str:
        return language if language in LANGUAGES else self.settings.default_language

    def render(self, kind: str, language: str | None, **variables) -> Rendered:
        if kind not in KINDS:
            raise TemplateError(f"unknown email kind {kind!r} (known: {', '.join(KINDS)})")
        lang = self.language(language)
        context = self.base_vars(lang)
        if kind in OUTCOME_KINDS:
            context.update(account_id=None, action=None, category="", functions=[], until=None,
                           decision=None, reason=None)
        if kind in ACK_KINDS:
            context.update(critical=False, safety_contacts=[])
        if kind in APPEAL_KINDS:
            context.update(appeal_id=None, account_id=None, case_ref=None, appeal_kind="sanction", note=None,
                           appeal_days=self.settings.policy.appeal_days)
        context.update(variables)
        if kind in APPEAL_KINDS and context["case_ref"] is None and context["case_refs"]:
            context["case_ref"] = context["case_refs"][0]
        # Values from an email are cleaned here too, whoever the caller is. The
        # sender chose them: "Your account is suspended! Verify at http://..." is a
        # phishing line in our voice, so a name carrying a link or an address is
        # dropped and the subject is cut short (the shipped templates quote it in
        # the body only, never in our Subject; the From name is ours alone).
        context["reporter_name"] = reporter_name(context["reporter_name"])
        context["subject"] = clean_text(context["subject"], SUBJECT_QUOTE_MAX)
        subject = self._render(self._text_env, f"{lang}/{kind}.subject.j2", context)
        text = self._render(self._text_env, f"{lang}/{kind}.txt.j2", context)
        html = self._render(self._html_env, f"{lang}/{kind}.html.j2", context)
        # A template may wrap or leave a newline: a header is one clean line.
        return Rendered(subject=one_reply_prefix(clean_text(subject, 300)), text=text, html=html)

    def check(self) -> None:
        """Load and test-render every template, so errors surface at start-up."""
        sample = dict(
            reporter_name="Sample", subject="Sample subject",
            case_refs=[f"{self.settings.case_prefix}-000001"],
            cases=[{"ref": f"{self.settings.case_prefix}-000001", "account_id": "sample_account"}],
        )
        for lang in LANGUAGES:
            for kind in KINDS:
                extra = dict(account_id="sample_account", action="restrict", category="other",
                             functions=["messaging"], until="2000-01-01", decision="violation",
                             reason="not_actionable") if kind in OUTCOME_KINDS else {}
                if kind in APPEAL_KINDS:
                    extra = dict(appeal_id=1, account_id="sample_account", case_ref=sample["case_refs"][0],
                                 appeal_kind="sanction", note="Sample reason")
                self.render(kind, lang, **sample, **extra)

    def _render(self, env: jinja2.Environment, name: str, context: dict) -> str:
        try:
            key = (id(env), name)
            template = self._templates.get(key)
            if template is None:
                template = self._templates[key] = env.get_template(name)
            return template.render(context)
        except jinja2.TemplateNotFound:
            raise TemplateError(f"template {name} not found") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template {name}, line {exc.lineno}: {exc.message}") from None
        except jinja2.TemplateError as exc:
            # UndefinedError and sandbox SecurityError are both TemplateErrors.
            raise TemplateError(f"template {name}: {exc}") from None
