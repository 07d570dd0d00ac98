"""Atlassian Document Format for the fake Jira: validate v3 bodies, convert to and from stored text.

The fake stores every rich-text value as wiki-markup text (what REST v2 speaks) and renders it as
an ADF document for REST v3. The conversion is deliberately modest: paragraphs, line breaks,
headings, lists, code, links and user mentions survive a round trip, which is what a ticket
comment written by a program needs.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["AdfError", "adf_to_text", "is_adf", "text_to_adf"]


class AdfError(ValueError):
    """The value is not an ADF document Jira would accept."""


_BLOCKS = {
    "paragraph", "heading", "bulletList", "orderedList", "listItem", "codeBlock", "blockquote",
    "rule", "panel", "table", "tableRow", "tableHeader", "tableCell", "mediaSingle", "media",
    "mediaGroup", "expand", "nestedExpand", "taskList", "taskItem", "decisionList", "decisionItem",
}  # fmt: skip
# What the ADF structure reference lets `doc.content` hold (its top-level block nodes).
_TOP = _BLOCKS - {
    "listItem", "tableRow", "tableHeader", "tableCell", "media", "nestedExpand", "taskItem",
    "decisionItem",
}  # fmt: skip
_INLINES = {"text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status"}
_MENTION = re.compile(r"\[~(accountid:[^\]]+|[^\]]+)\]")


def is_adf(value: Any) -> bool:
    """True when `value` is a structurally valid ADF document."""
    try:
        _check_node(value, top=True)
    except AdfError:
        return False
    return True


def _check_node(node: Any, top: bool = False) -> None:
    if not isinstance(node, dict):
        raise AdfError("node is not an object")
    kind = node.get("type")
    if top:
        if kind != "doc" or node.get("version") != 1 or not isinstance(node.get("content"), list):
            raise AdfError("not an ADF document")
        # `doc` holds block nodes only: a text node directly under it is refused (contract.py,
        # ADF in SCREEN_RULES).
        if any(not isinstance(c, dict) or c.get("type") not in _TOP for c in node["content"]):
            raise AdfError("doc content must be top-level block nodes")
    elif kind not in _BLOCKS and kind not in _INLINES:
        raise AdfError(f"unknown node type {kind!r}")
    if kind == "text" and (not isinstance(node.get("text"), str) or not node["text"]):
        raise AdfError("text node without text")
    content = node.get("content", [])
    if not isinstance(content, list):
        raise AdfError("content is not a list")
    for child in content:
        _check_node(child)


def adf_to_text(doc: dict[str, Any]) -> str:
    """Flatten an ADF document to wiki-markup text (raises AdfError when it is not one)."""
    _check_node(doc, top=True)
    blocks = [_block_text(node) for node in doc["content"]]
    return "\n\n".join(b for b in blocks if b is not None)


def _block_text(node: dict[str, Any], depth: int = 1) -> str | None:
    kind = node["type"]
    children = node.get("content", [])
    if kind == "paragraph":
        return _inline_text(children)
    if kind == "heading":
        return f"h{node.get('attrs', {}).get('level', 1)}. {_inline_text(children)}"
    if kind in ("bulletList", "orderedList"):
        bullet = ("*" if kind == "bulletList" else "#") * depth
        lines = []
        for item in children:
            parts = [_block_text(child, depth + 1) for child in item.get("content", [])]
            lines.append(f"{bullet} " + "\n".join(p for p in parts if p))
        return "\n".join(lines)
    if kind == "codeBlock":
        return "{code}\n" + _inline_text(children) + "\n{code}"
    if kind == "rule":
        return "----"
    if kind == "blockquote":
        inner = [_block_text(c, depth) for c in children]
        return "{quote}" + "\n".join(p for p in inner if p) + "{quote}"
    parts = [_block_text(c, depth) if c["type"] in _BLOCKS else _inline_text([c]) for c in children]
    return "\n".join(p for p in parts if p)


def _inline_text(nodes: list[dict[str, Any]]) -> str:
    out: list[str] = []
    for node in nodes:
        kind = node["type"]
        attrs = node.get("attrs", {})
        if kind == "text":
            out.append(_marked(node["text"], node.get("marks", [])))
        elif kind == "hardBreak":
            out.append("\n")
        elif kind == "mention":
            out.append(f"[~accountid:{attrs.get('id', '')}]")
        elif kind == "inlineCard":
            out.append(f"[{attrs.get('url', '')}]")
        elif kind == "emoji":
            out.append(attrs.get("text", attrs.get("shortName", "")))
        else:
            out.append(_inline_text(node.get("content", [])) or attrs.get("text", ""))
    return "".join(out)


def _marked(text: str, marks: list[dict[str, Any]]) -> str:
    for mark in marks:
        kind = mark.get("type")
        if kind == "code":
            text = "{{" + text + "}}"
        elif kind == "strong":
            text = f"*{text}*"
        elif kind == "em":
            text = f"_{text}_"
        elif kind == "link":
            text = f"[{text}|{mark.get('attrs', {}).get('href', '')}]"
    return text


def text_to_adf(text: str | None) -> dict[str, Any] | None:
    """Render stored text as an ADF document: blank lines split paragraphs, newlines break lines.

    `[~accountid:ID]` becomes a mention node, as Jira Cloud does when it converts wiki markup.
    """
    if text is None:
        return None
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    content = [{"type": "paragraph", "content": _inline_nodes(p)} for p in paragraphs]
    return {"type": "doc", "version": 1, "content": content}


def _inline_nodes(paragraph: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    for i, line in enumerate(paragraph.split("\n")):
        if i:
            nodes.append({"type": "hardBreak"})
        pos = 0
        for match in _MENTION.finditer(line):
            if match.start() > pos:
                nodes.append({"type": "text", "text": line[pos : match.start()]})
            ident = match.group(1).removeprefix("accountid:")
            nodes.append({"type": "mention", "attrs": {"id": ident, "text": f"@{ident}"}})
            pos = match.end()
        if pos < len(line):
            nodes.append({"type": "text", "text": line[pos:]})
    return nodes
