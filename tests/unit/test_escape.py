"""infra.escape: hostile text stays visible and inert in a terminal, a Markdown table, a CSV cell."""

from __future__ import annotations

import pytest

from ticketbridge.infra.escape import csv_cell, escape_char, inert, markdown_cell, one_line


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("evil\x1b[2Jname", "evil\\x1b[2Jname"),  # a terminal escape cannot clear the screen
        ("abc\u202edef", "abc\\u202edef"),  # a bidi override cannot reorder the line
        ("line1\nline2", "line1\\nline2"),
        ("tag\U000e0041", "tag\\U000e0041"),  # a Unicode tag character cannot hide text
        ("*.example.com", "*.example.com"),
        ("bücher.example", "bücher.example"),
    ],
)
def test_inert_escapes_every_hidden_character_and_keeps_visible_ones(text: str, shown: str) -> None:
    assert inert(text) == shown


def test_inert_keeps_newlines_when_asked_and_cuts_at_the_limit() -> None:
    assert inert("a\nb", keep_newlines=True) == "a\nb"
    assert inert("x" * 10, 5) == "xxxx…"
    assert inert("x" * 5, 5) == "xxxxx"
    assert inert(None) == ""


def test_escape_char_spells_the_code_point() -> None:
    assert [escape_char(c) for c in "\n\x1b\u202e\U000e0001"] == [
        "\\n",
        "\\x1b",
        "\\u202e",
        "\\U000e0001",
    ]


def test_one_line_escapes_everything_that_is_not_printable_and_keeps_the_space() -> None:
    assert one_line("a b\u00a0c\nd\u2028e") == "a b\\xa0c\\nd\\u2028e"
    assert one_line("x" * 10, 5) == "xxxx…"


def test_markdown_cell_cannot_end_the_cell_format_or_open_a_tag() -> None:
    assert markdown_cell("a|b *c* <script>") == "a\\|b \\*c\\* &lt;script&gt;"
    assert markdown_cell(["x", "y"]) == "x, y"


@pytest.mark.parametrize("formula", ["=1+1", "+1", "-1", "@SUM(A1)"])
def test_csv_cell_never_starts_a_formula(formula: str) -> None:
    assert csv_cell(formula).startswith("'")
    assert csv_cell("plain") == "plain"
    assert csv_cell("\tx") == "\\tx"  # a leading tab is escaped, so no formula can follow
