"""Rich text: what ticketbridge writes is text, never markup (ADF on Cloud, wiki on Data Center)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ticketbridge.core.ports import MAX_DESCRIPTION
from ticketbridge.errors import PermanentBackendError

__all__ = ["adf_to_text", "plain", "rich", "text_to_adf", "unwrap_noformat", "wrap_noformat"]


def text_to_adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian document: nothing in it is read as markup (REST v3, Cloud)."""
    content = []
    for paragraph in text.split("\n\n"):
        nodes: list[dict[str, Any]] = []
        for index, line in enumerate(paragraph.split("\n")):
            if index:
                nodes.append({"type": "hardBreak"})
            if line:
                nodes.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": nodes})
    return {"type": "doc", "version": 1, "content": content}


def adf_to_text(document: Any) -> str:
    """An Atlassian document as plain text: paragraphs, line breaks, lists, code, mentions."""
    if not isinstance(document, Mapping):
        return "" if document is None else str(document)
    blocks = [_adf_block(node) for node in document.get("content") or []]
    return "\n\n".join(blocks)


def _adf_block(node: Mapping[str, Any]) -> str:
    kind = node.get("type")
    children = node.get("content") or []
    if kind in ("paragraph", "heading", "codeBlock"):
        return _adf_inline(children)
    if kind in ("bulletList", "orderedList"):
        bullet = "-" if kind == "bulletList" else "#"
        return "\n".join(
            f"{bullet} " + "\n".join(_adf_block(child) for child in item.get("content") or [])
            for item in children
        )
    if kind == "rule":
        return "----"
    if any(child.get("type") in _ADF_INLINE for child in children):
        return _adf_inline(children)
    return "\n".join(_adf_block(child) for child in children)


_ADF_INLINE = frozenset({"text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status"})


def _adf_inline(nodes: Iterable[Mapping[str, Any]]) -> str:
    out = []
    for node in nodes:
        kind = node.get("type")
        attrs = node.get("attrs") or {}
        if kind == "text":
            out.append(str(node.get("text", "")))
        elif kind == "hardBreak":
            out.append("\n")
        elif kind == "mention":
            out.append(f"[~accountid:{attrs.get('id', '')}]")
        elif kind == "inlineCard":
            out.append(str(attrs.get("url", "")))
        elif kind == "emoji":
            out.append(str(attrs.get("text") or attrs.get("shortName") or ""))
        else:
            out.append(_adf_inline(node.get("content") or []) or str(attrs.get("text", "")))
    return "".join(out)


NOFORMAT: Final = "{noformat}"
_WORD_JOINER: Final = "\u2060"
# A `{` followed by `noformat` (which would close the block early) or by a word joiner (so the
# encoding stays reversible) gets a word joiner after it; decoding removes one.
_BREAK_NOFORMAT = re.compile(r"\{(?=\u2060|noformat)", re.IGNORECASE)
_UNBREAK_NOFORMAT = re.compile(r"\{\u2060")


def wrap_noformat(text: str) -> str:
    """Plain text as Jira wiki markup that renders literally (REST v2, Data Center)."""
    return f"{NOFORMAT}\n{_BREAK_NOFORMAT.sub('{' + _WORD_JOINER, text)}\n{NOFORMAT}"


def unwrap_noformat(markup: str) -> str:
    """The text `wrap_noformat` was given; other markup (a person's comment) as it is."""
    head, tail = f"{NOFORMAT}\n", f"\n{NOFORMAT}"
    if len(markup) >= len(head) + len(tail) and markup.startswith(head) and markup.endswith(tail):
        return _UNBREAK_NOFORMAT.sub("{", markup[len(head) : -len(tail)])
    return markup


_TRUNCATED: Final = "\n… (truncated)"


def rich(
    text: str, name: str, cloud: bool, *, cut: bool = False, limit: int = MAX_DESCRIPTION
) -> Any:
    """Text as the deployment's rich-text value, where no character is read as markup.

    Cloud takes Atlassian documents on REST v3 (never parsed as markup); Data Center has only v2
    and wiki markup, where a noformat block renders literally. `limit` bounds what is sent: the
    wiki text on Data Center (`jira.max_text_length`, a setting there); on Cloud both the text
    and the document's JSON, since whether Cloud counts one or the other is not documented
    (29,000 characters on short lines are 72,107 of ADF). `cut` trims the text to fit.
    """
    if not text.strip():
        raise PermanentBackendError(f"{name}: must not be empty")
    render = text_to_adf if cloud else wrap_noformat
    size = _size(render(text))
    if size <= limit:
        return render(text)
    if not cut:
        form = "as an Atlassian document" if cloud else "as wiki text"
        raise PermanentBackendError(
            f"{name}: {size:,} characters {form}, more than Jira's {limit:,}"
        )
    # Proportionally shorter until it fits: a few rounds at most, since size grows with text.
    kept = len(text)
    while size > limit and kept > 0:
        kept = min(kept - 1, int(kept * limit / size) - len(_TRUNCATED))
        size = _size(render(text[: max(kept, 0)] + _TRUNCATED))
    return render(text[: max(kept, 0)] + _TRUNCATED)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str) else len(json.dumps(value, ensure_ascii=False))


def plain(body: Any) -> str:
    """A comment or description body as text, whichever rich-text form it arrived in."""
    if isinstance(body, Mapping):
        return adf_to_text(body)
    return unwrap_noformat("" if body is None else str(body))
