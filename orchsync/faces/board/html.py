"""Turning task text into HTML that can hold no script, and the page templates' environment.

Task bodies are written by people and agents, and an attacker may have written some of them.
So Markdown is rendered by markdown-it-py with raw HTML off (a `<script>` is shown as text),
links are allowed only to http(s), mailto and relative targets (no `javascript:`, `data:`,
`vbscript:` or `file:`), images only from the board itself (the page's CSP refuses the rest
anyway), and every template value is escaped by Jinja2's autoescape.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["environment", "markdown_html", "safe_url"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
_SAFE_SCHEMES = {"http", "https", "mailto"}
_NOT_NAME = re.compile(r"[^a-z ]+")
_BOX = re.compile(r"^\[([ xX\u2713])\]\s+")


def safe_url(url: str, *, image: bool = False) -> bool:
    """Whether a link target may be rendered: http(s)/mailto or relative; images: relative only."""
    text = url.strip()
    if any(ord(ch) < 32 for ch in text):
        return False
    scheme = urlsplit(text).scheme.lower()
    if image:
        return scheme == "" and not text.startswith("//")
    return scheme == "" or scheme in _SAFE_SCHEMES


@lru_cache(maxsize=1)
def _md() -> Any:
    from markdown_it import MarkdownIt

    md: Any = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = lambda url: safe_url(url)  # type: ignore[method-assign]
    default_link = md.renderer.rules.get("link_open")
    default_image = md.renderer.rules.get("image")

    def link_open(tokens: Any, idx: int, options: Any, env: Any) -> str:
        tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
        href = tokens[idx].attrGet("href") or ""
        if urlsplit(href).scheme:
            tokens[idx].attrSet("target", "_blank")
        if default_link is not None:
            return str(default_link(tokens, idx, options, env))
        return str(md.renderer.renderToken(tokens, idx, options, env))

    def image(tokens: Any, idx: int, options: Any, env: Any) -> str:
        src = tokens[idx].attrGet("src") or ""
        if not safe_url(str(src), image=True):
            return md.renderer.renderInline(tokens[idx].children or [], options, env)
        assert default_image is not None
        return str(default_image(tokens, idx, options, env))

    md.renderer.rules["link_open"] = link_open
    md.renderer.rules["image"] = image
    return md


def _skip_sections(tokens: list[Any]) -> list[Any]:
    """Drop the checklist sections (## Objectives ...): the task page shows them as toggles."""
    from orchsync.parse.markdown import SECTION_FIELDS

    out: list[Any] = []
    skipping: int | None = None
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            level = int(tok.tag[1])
            if skipping is not None and level <= skipping:
                skipping = None
            if skipping is None:
                text = tokens[i + 1].content if i + 1 < len(tokens) else ""
                if _NOT_NAME.sub("", text.lower()).strip() in SECTION_FIELDS:
                    skipping = level
        if skipping is None:
            out.append(tok)
    return out


def _boxes(tokens: list[Any]) -> None:
    """`- [ ] item` and `- [x] item` in other lists: show a box character, not brackets."""
    for i, tok in enumerate(tokens):
        if tok.type != "inline" or i < 2 or tokens[i - 2].type != "list_item_open":
            continue
        first = tok.children[0] if tok.children else None
        if first is not None and first.type == "text":
            m = _BOX.match(first.content)
            if m:
                first.content = ("☑ " if m.group(1) != " " else "☐ ") + first.content[m.end() :]


def markdown_html(text: str, *, skip_checklists: bool = False) -> str:
    """Markdown to HTML with raw HTML shown as text and only safe links.

    `skip_checklists` (a task page): leave out the checklist sections, shown as toggles
    instead, and a leading `# Title` heading, shown as the page's title.
    """
    md = _md()
    env: dict[str, Any] = {}
    tokens = md.parse(text, env)
    if skip_checklists:
        tokens = _skip_sections(tokens)
        if tokens and tokens[0].type == "heading_open" and tokens[0].tag == "h1":
            tokens = tokens[3:]
    _boxes(tokens)
    return str(md.renderer.render(tokens, md.options, env))


def environment() -> Any:
    """The Jinja2 environment of the pages: autoescape always on, undefined values fail."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["short"] = lambda v, n=12: (v or "")[:n]
    env.filters["when"] = _when
    env.filters["label"] = lambda v: (v or "").replace("_", " ")
    return env


def _when(value: Any) -> str:
    """`2025-10-14T09:00:00` -> `2025-10-14 09:00` (the index keeps UTC)."""
    text = str(value or "")
    return text.replace("T", " ")[:16]
