"""Markdown written by people (the facilitator's sections, the postmortem) made safe to show.

Facilitator text is Markdown, read with a real Markdown parser (mistune), so a link is a
link however it is spelled: inline ``[x](javascript:…)``, reference style ``[x][1]`` with
``[1]: javascript:…`` further down, autolinks. One pass over the parsed document keeps what
a review needs and neutralises the rest:

- links keep their target only for ``http``, ``https`` and ``mailto``; any other scheme
  (``javascript:``, ``data:``, ``vbscript:``, relative paths) leaves the link's text alone;
- images are never loaded (an offline report must not call out, and a remote image tells
  its owner who read the review): an http(s) image becomes a plain link, any other its text;
- raw HTML (``<script>``, ``<img onerror=…>``, ``<iframe>``) becomes visible text;
- headings become bold paragraphs, so a section cannot break the document's outline.

From that cleaned document come both renderings: Markdown again (for ``postmortem.md``)
and HTML, which then goes through a maintained allow-list sanitiser (bleach) as well: no
scripts, no event handlers, no style, no frames or images, and links only to the schemes
above.
"""
from __future__ import annotations

import math
import re
from typing import Any

import bleach
import mistune
from mistune.renderers.markdown import MarkdownRenderer

__all__ = ["SAFE_SCHEMES", "clean_html", "markdown_html", "safe_markdown"]

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "li", "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th",
    "thead", "tr", "ul",
})
ALLOWED_ATTRIBUTES = {"a": ["href", "title"], "th": ["align"], "td": ["align"]}
_PLUGINS = ["table", "strikethrough", "url"]
# What could make markup of plain text when the Markdown is read again: every one escaped.
# An entity reference in a text token is already text (the parser keeps it as written).
_MARKUP_CHARACTERS = re.compile(
    r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]+);|([\\`*_\[\]<>!&|#~])")


class _SafeMarkdownRenderer(MarkdownRenderer):
    """mistune's Markdown writer, with every text escaped whole: ``\\[x\\](javascript:y)``
    in the source is text, and must stay text when the Markdown is read again."""

    def text(self, token: dict, state: Any) -> str:
        return _MARKUP_CHARACTERS.sub(lambda m: "\\" + m[1] if m[1] else m[0], token["raw"])


def _safe_url(url: Any) -> bool:
    text = "".join(str(url or "").split()).lower()  # "java\tscript:" is javascript: too
    scheme, colon, _ = text.partition(":")
    return bool(colon) and scheme in SAFE_SCHEMES and (scheme == "mailto" or _.startswith("//"))


def _text_of(token: dict) -> str:
    if "children" in token:
        return "".join(_text_of(child) for child in token["children"])
    return str(token.get("raw") or token.get("attrs", {}).get("url") or "")


def _clean(tokens: list[dict]) -> list[dict]:
    out: list[dict] = []
    for token in tokens:
        kind = token.get("type")
        token.pop("ref", None)  # reference links are rendered inline, never re-defined
        token.pop("label", None)
        if "children" in token:
            token["children"] = _clean(token["children"])
        if kind == "inline_html":
            out.append({"type": "text", "raw": token.get("raw", "")})
        elif kind == "block_html":
            # An HTML block runs to the next blank line and may hold Markdown: its tags made
            # text, the rest is read (and cleaned) as the Markdown it is.
            out.extend(_parse(token.get("raw", "").replace("<", "\\<"))[0])
        elif kind == "link" and not _safe_url(token.get("attrs", {}).get("url")):
            out.extend(token.get("children") or [{"type": "text", "raw": _text_of(token)}])
        elif kind == "image":
            url = token.get("attrs", {}).get("url")
            label = _text_of({"children": token.get("children", [])}) or "image"
            text = {"type": "text", "raw": f"image: {label}"}
            out.append({"type": "link", "children": [text], "attrs": {"url": url}}
                       if _safe_url(url) else text)
        elif kind == "heading":
            out.append({"type": "paragraph",
                        "children": [{"type": "strong", "children": token.get("children", [])}]})
        else:
            out.append(token)
    return out


def _parse(text: str) -> tuple[list[dict], Any]:
    parser = mistune.create_markdown(renderer=None, plugins=_PLUGINS)
    tokens, state = parser.parse(text)
    state.env["ref_links"] = {}
    return _clean(tokens), state


def _blank(text: Any) -> bool:
    return text is None or (isinstance(text, float) and math.isnan(text)) or str(text) == ""


def safe_markdown(text: Any) -> str:
    """Facilitator Markdown re-written without unsafe links, images, raw HTML or headings.

    >>> safe_markdown("See [runbook][1] <script>x</script>\\n\\n[1]: javascript:alert(1)")
    'See runbook \\\\<script\\\\>x\\\\</script\\\\>'
    """
    if _blank(text):
        return ""
    tokens, state = _parse(str(text).replace("\r\n", "\n").replace("\r", "\n"))
    return _SafeMarkdownRenderer()(tokens, state).strip("\n")


def clean_html(html: str) -> str:
    """``html`` through the allow-list sanitiser (tags, attributes and link schemes above)."""
    return bleach.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                        protocols=SAFE_SCHEMES, strip=True, strip_comments=True)


def markdown_html(text: Any) -> str:
    """Markdown (a facilitator's section, or the whole postmortem) as sanitised HTML.

    >>> markdown_html("[x](javascript:alert(1)) ![p](https://evil.example/p.png)")
    '<p>x <a href="https://evil.example/p.png">image: p</a></p>'
    """
    if _blank(text):
        return ""
    tokens, state = _parse(str(text))
    renderer = mistune.HTMLRenderer(escape=True)
    parser = mistune.create_markdown(renderer=renderer, plugins=_PLUGINS)
    html = parser.renderer(tokens, state) if hasattr(parser, "renderer") else ""
    return clean_html(html).strip()
