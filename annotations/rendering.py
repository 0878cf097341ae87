"""Markdown for untrusted text (instructions, item prompts and content, rationales).

Raw HTML in the source is escaped (markdown-it's ``html`` option is off) and the produced
HTML is then cleaned by an allow-list sanitizer, so no script, event handler or style can
come through; links get ``rel="noopener noreferrer nofollow"``.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "del", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td",
    "img",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"},
                      "th": {"align"}, "td": {"align"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table") \
        .enable("strikethrough")


def render_markdown(text: str) -> str:
    """Safe HTML for untrusted markdown ``text``."""
    html = _parser().render(text or "")
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes=URL_SCHEMES, link_rel="noopener noreferrer nofollow")


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """``1 group``, ``2 groups``, ``1,200 items`` (plural defaults to singular + "s")."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"
