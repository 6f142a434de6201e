"""HTML body -> plain text and the href targets of its links.

Not html.parser.HTMLParser: on Python 3.11.7 it is quadratic on unterminated
constructs (measured here: 400 KB of "<!--" took 140 s, 200 KB of "</" 7 s;
CVE-2025-6069). Mail bodies are attacker-controlled, so this is a small
scanner built on str.find: every character is looked at a bounded number
of times, whatever the input. Entities are decoded by the stdlib
html.unescape. It only has to be good enough to read what a reporter wrote.
"""

from __future__ import annotations

import html as _html
import re

# Content of these elements is never text the sender wrote.
_SKIP_CONTENT = frozenset({"style", "script", "head", "title", "template", "noscript", "xml"})
# Elements that start a new line in rendered text.
_BLOCK = frozenset(
    {
        "p", "div", "li", "tr", "ul", "ol", "table", "blockquote", "pre",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "dt", "dd", "section",
        "article", "header", "footer", "address", "center", "body",
    }
)
# Table cells: a space between them, as a browser shows them apart.
_CELLS = frozenset({"td", "th"})
_CLOSERS = {name: re.compile("</" + name, re.I) for name in _SKIP_CONTENT}
_TAG_NAME = re.compile(r"/?\s*([a-zA-Z][a-zA-Z0-9:_-]*)")
# Applied to one tag's text only (bounded by the next ">"), so linear.
_HREF = re.compile(r"""(?:^|\s)href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
# A block boundary: several in a row (</div><div>) make one line break.
_SOFT = "\x01"
_SOFT_RUN = re.compile(r"\x01[\x01 \t]*")
_A_TAG = re.compile(r"<a[\s/]", re.I)
_SPACES = re.compile(r"[ \t\f\v\r\u00a0\u200b]+")
_BLANK_LINES = re.compile(r"\n[ \n]*\n")


def html_to_text(markup: str) -> tuple[str, tuple[str, ...]]:
    """Return (text, links): readable text and the href values of <a> tags."""
    out: list[str] = []
    links: dict[str, None] = {}  # ordered and de-duplicated
    pos = 0
    end = len(markup)
    while pos < end:
        lt = markup.find("<", pos)
        if lt < 0:
            out.append(_flow(markup[pos:]))
            break
        if lt > pos:
            out.append(_flow(markup[pos:lt]))
        if markup.startswith("<!--", lt):
            close = markup.find("-->", lt + 4)
            pos = end if close < 0 else close + 3
            continue
        nxt = markup[lt + 1 : lt + 2]
        if not (nxt.isascii() and (nxt.isalpha() or nxt in "/!?")):
            out.append("<")  # "1 < 2": a literal "<", as the HTML tokenizer reads it
            pos = lt + 1
            continue
        gt = markup.find(">", lt + 1)
        if gt < 0:
            break  # an unterminated tag at the end: browsers drop it too
        tag = markup[lt + 1 : gt]
        pos = gt + 1
        m = _TAG_NAME.match(tag)
        if m is None:  # "<!DOCTYPE", "<?xml", "</ >": not an element
            continue
        name = m.group(1).lower()
        closing = tag.startswith("/")
        if name == "br":
            out.append("\n")
        elif name in _BLOCK:
            out.append(_SOFT)
            if closing and name == "p":
                out.append("\n")  # paragraphs are set apart by a blank line
        elif name in _CELLS:
            out.append(" ")  # cells sit side by side: their words must not join
        if closing:
            continue
        if name in _SKIP_CONTENT and not tag.endswith("/"):
            found = _CLOSERS[name].search(markup, pos)
            close = -1 if found is None else found.start()
            if close < 0:
                # An unclosed <head> still holds the body in sloppy mail;
                # only <style>/<script> swallow the rest.
                if name in ("head", "title", "xml"):
                    continue
                pos = end
                break
            gt2 = markup.find(">", close)
            pos = end if gt2 < 0 else gt2 + 1
            continue
        if name == "a":
            h = _HREF.search(tag, m.end())
            if h is not None:
                href = _html.unescape(h.group(1) or h.group(2) or h.group(3) or "").strip()
                if href:
                    links[href] = None
    return _tidy(_html.unescape("".join(out))), tuple(links)


def html_links(markup: str) -> tuple[str, ...]:
    """Only the href values of <a> tags (when the text comes from a plain part)."""
    links: dict[str, None] = {}
    done = 0  # end of the last tag read: an "<a" before it lies inside that tag
    for m in _A_TAG.finditer(markup):
        if m.start() < done:
            continue
        gt = markup.find(">", m.end())
        if gt < 0:
            break
        done = gt
        h = _HREF.search(markup, m.end() - 1, gt)
        if h is not None:
            href = _html.unescape(h.group(1) or h.group(2) or h.group(3) or "").strip()
            if href:
                links[href] = None
    return tuple(links)


def _flow(data: str) -> str:
    """Line breaks in HTML source are spaces; only block tags break lines."""
    return data.replace("\r", " ").replace("\n", " ").replace(_SOFT, " ")


def _tidy(text: str) -> str:
    """Collapse runs of spaces, strip each line, keep at most one blank line."""
    text = _SPACES.sub(" ", _SOFT_RUN.sub("\n", text))
    lines = [line.strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
