"""The store's rich-text subset — [label](url), **bold**, *italic*, line breaks — as the server reads it: one parser
(markdown-it-py, inline rules only, a line at a time) and three ways out of it. `sanitise` keeps the subset as
Markdown (what is saved and sent to the widget), `plain` makes a text message of it, `html` is what the widget draws.

The widget draws with its own renderer (frontdesk/static/rich-text.js, ES5, no dependencies); both are held to the
same cases (tests/rich_text_cases.json), by a Python test and a browser test.
"""

from __future__ import annotations

import html as html_escape
import re
from dataclasses import dataclass, field

import nh3
from markdown_it import MarkdownIt

SAFE_SCHEMES = ("https://", "http://", "mailto:")
_LINES = re.compile(r"\r\n|\r|\n")
_SUBSET_MARKUP = frozenset({"*", "**"})  # `_` and `__` are not in the subset: the widget shows them as they are
_BALANCED_URL = re.compile(r"(?:[^()\s]|\([^()\s]*\))+")  # what the widget reads as a link's address

_PARSER = MarkdownIt("zero").enable(["link", "emphasis"])
# markdown-it leaves a javascript: link as raw text; every link is parsed, so an unsafe one keeps just its label.
_PARSER.validateLink = lambda url: True


@dataclass
class Span:
    """A part of a line: text (`kind` "text"), or "strong", "em" or "link" around its `children`. A link whose
    address is not http(s) or mailto has `url` None and is drawn as its label."""

    kind: str
    text: str = ""
    url: str | None = None
    children: list[Span] = field(default_factory=list)


def _safe(url: str) -> str | None:
    return url if url.lower().startswith(SAFE_SCHEMES) else None


def parse_line(line: str) -> list[Span]:
    root: list[Span] = []
    stack = [root]
    tokens = _PARSER.parseInline(line)[0].children if line else None
    for token in tokens or []:
        if token.type in ("strong_open", "em_open", "link_open") and (
            token.type == "link_open" or token.markup in _SUBSET_MARKUP
        ):
            kind = token.type.removesuffix("_open")
            span = Span(kind, url=_safe(str(token.attrGet("href") or "")) if kind == "link" else None)
            stack[-1].append(span)
            stack.append(span.children)
        elif token.type in ("strong_close", "em_close", "link_close") and (
            token.type == "link_close" or token.markup in _SUBSET_MARKUP
        ):
            stack.pop()
        elif token.type in ("strong_open", "em_open", "strong_close", "em_close"):
            stack[-1].append(Span("text", token.markup))
        else:
            stack[-1].append(Span("text", token.content))
    return root


def parse(text: str) -> list[list[Span]]:
    return [parse_line(line) for line in _LINES.split(text)]


def _markdown_url(url: str) -> str:
    if _BALANCED_URL.fullmatch(url):
        return url
    return url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")


def _markdown(spans: list[Span]) -> str:
    out = []
    for span in spans:
        inner = _markdown(span.children)
        if span.kind == "text":
            out.append(span.text)
        elif span.kind == "strong":
            out.append(f"**{inner}**")
        elif span.kind == "em":
            out.append(f"*{inner}*")
        else:
            out.append(f"[{inner}]({_markdown_url(span.url)})" if span.url else inner)
    return "".join(out)


def _plain(spans: list[Span]) -> str:
    out = []
    for span in spans:
        inner = _plain(span.children)
        if span.kind == "text":
            out.append(span.text)
        elif span.kind == "link" and span.url:
            out.append(span.url if inner == span.url else f"{inner}: {span.url}")  # a phone makes the address tappable
        else:
            out.append(inner)
    return "".join(out)


def _html(spans: list[Span]) -> str:
    out = []
    for span in spans:
        inner = _html(span.children)
        if span.kind == "text":
            out.append(html_escape.escape(span.text, quote=False))
        elif span.kind in ("strong", "em"):
            out.append(f"<{span.kind}>{inner}</{span.kind}>")
        elif span.url:
            href = html_escape.escape(span.url)
            out.append(f'<a href="{href}" target="_blank" rel="noopener noreferrer">{inner}</a>')
        else:
            out.append(inner)
    return "".join(out)


def sanitise(text: str) -> str:
    """The subset kept as Markdown: every HTML tag stripped (nh3), a link to anything but http(s) or mailto turned into
    its plain label, a link's address written so the widget reads the same link."""
    plain = html_escape.unescape(nh3.clean(text, tags=set()))
    return "\n".join(_markdown(line) for line in parse(plain)).strip()


def plain(text: str) -> str:
    """The subset as a text message: links as "label: url", no emphasis marks."""
    return "\n".join(_plain(line) for line in parse(text))


def html(text: str) -> str:
    """The subset as the widget draws it: links open in a new tab with no opener, lines end in <br>."""
    return "<br>".join(_html(line) for line in parse(text))
