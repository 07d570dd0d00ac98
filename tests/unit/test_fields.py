"""Each ticket-field validator and fitting helper at its limits: the exact values a backend takes
or refuses, the line it refuses with, and what the planner's text looks like once cut."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ticketbridge.core.fields import (
    MAX_COMMENT,
    MAX_DESCRIPTION,
    MAX_LABEL,
    MAX_PROPERTY,
    MAX_SHOWN_TEXT,
    MAX_SUMMARY,
    TEXT_BUDGET,
    evidence_size,
    fit,
    listed,
    shorten,
    valid_comment,
    valid_description,
    valid_evidence,
    valid_field,
    valid_labels,
    valid_summary,
)
from ticketbridge.errors import PermanentBackendError


def refusal(call: object, *args: object) -> str:
    with pytest.raises(PermanentBackendError) as raised:
        call(*args)  # type: ignore[operator]
    return str(raised.value)


def test_the_limits_are_jiras() -> None:
    # Jira Cloud REST v3: summary < 255 characters... as the module cites; the planner's budget
    # leaves room for Data Center's {noformat} wrapping.
    assert (MAX_SUMMARY, MAX_LABEL, MAX_COMMENT, MAX_DESCRIPTION) == (255, 255, 32_767, 32_767)
    assert (MAX_PROPERTY, TEXT_BUDGET, MAX_SHOWN_TEXT) == (32_768, 29_000, 200)


def test_a_summary_of_one_line_up_to_255_characters_is_taken_as_is() -> None:
    assert valid_summary("x" * 255) == "x" * 255
    assert valid_summary(" Renew www ") == " Renew www "


@pytest.mark.parametrize(
    ("summary", "message"),
    [
        ("", "summary: must not be empty"),
        (" \t", "summary: must not be empty"),
        ("x" * 256, "summary: 256 characters, at most 255"),
        ("Renew\nwww", "summary: must be a single line"),
        ("Renew\rwww", "summary: must be a single line"),
    ],
)
def test_a_summary_jira_would_refuse_is_refused_with_the_reason(summary: str, message: str) -> None:
    assert refusal(valid_summary, summary) == message


def test_labels_are_deduplicated_in_their_first_order() -> None:
    assert valid_labels(["b", "a", "b", "x" * 255]) == ("b", "a", "x" * 255)
    assert valid_labels([]) == ()


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["ok", ""], "label '': must be non-empty, without spaces"),
        (["a b"], "label 'a b': must be non-empty, without spaces"),
        (["a\tb"], "label 'a\\tb': must be non-empty, without spaces"),
        (["ok", "y" * 256], f"label {'y' * 40!r}...: longer than 255"),
    ],
)
def test_a_label_jira_would_refuse_is_refused_with_the_reason(
    labels: list[str], message: str
) -> None:
    assert refusal(valid_labels, labels) == message


def test_a_comment_up_to_32767_characters_is_taken() -> None:
    assert valid_comment("c" * 32_767) == "c" * 32_767
    assert valid_comment(" x ") == " x "


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "comment: body must not be empty"),
        ("\n ", "comment: body must not be empty"),
        ("c" * 32_768, "comment: 32768 characters, at most 32767"),
    ],
)
def test_a_comment_jira_would_refuse_is_refused(body: str, message: str) -> None:
    assert refusal(valid_comment, body) == message


def test_a_description_may_be_empty_and_up_to_32767_characters() -> None:
    assert valid_description("") == ""
    assert valid_description("d" * 32_767) == "d" * 32_767
    assert refusal(valid_description, "d" * 32_768) == (
        "description: 32768 characters, at most 32767"
    )


def test_a_short_single_line_field_is_taken_as_is() -> None:
    assert valid_field("priority", "High") == "High"
    assert valid_field("assignee", "a" * 255) == "a" * 255


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "priority '': not a valid value"),
        ("  ", "priority '  ': not a valid value"),
        ("p" * 256, f"priority {'p' * 40!r}: not a valid value"),
        # A newline in a priority or assignee name: the Jira adapter sends it only through here.
        ("High\nLow", "priority 'High\\nLow': not a valid value"),
    ],
)
def test_a_field_value_jira_would_refuse_is_refused(value: str, message: str) -> None:
    assert refusal(valid_field, "priority", value) == message


def test_evidence_is_measured_as_compact_utf8_json() -> None:
    # {"a":"é","n":1}: 15 characters, é two bytes in UTF-8 (not the 6 of an ASCII escape)
    assert evidence_size({"a": "é", "n": 1}) == 16
    # values JSON cannot hold are measured as their text
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert evidence_size({"at": when}) == len('{"at":"2026-01-02 03:04:05+00:00"}')


def test_evidence_up_to_32768_bytes_of_json_is_taken() -> None:
    exactly = {"a": "x" * (32_768 - len('{"a":""}'))}
    assert valid_evidence(exactly) == exactly
    over = {"a": "x" * (32_769 - len('{"a":""}'))}
    assert refusal(valid_evidence, over) == "evidence: 32769 bytes of JSON, at most 32768"


def test_shorten_keeps_one_line_of_at_most_200_characters() -> None:
    assert shorten("x" * 200) == "x" * 200
    assert shorten("x" * 201) == "x" * 199 + "…"
    assert shorten("a\nb", 10) == "a\\nb"
    assert shorten("abcdef", 4) == "abc…"


def test_listed_shows_every_item_that_fits_then_counts_the_rest() -> None:
    items = ["aa", "bb", "cc"]
    # "aa, bb, cc" with ", " before each counted: 12; the second item needs room for its tail
    assert listed(items, 19) == "aa, bb, cc"
    assert listed(items, 18) == "aa and 2 more"
    assert listed(items, 12) == "aa and 2 more"
    assert listed(["aa", "bb"], 6) == "aa and 1 more"
    assert listed(["aa", "bb"], 8) == "aa, bb"
    # the first item is shown whatever the budget
    assert listed(items, 0) == "aa and 2 more"
    assert listed([], 0) == ""
    assert listed(["a", "b"], 100, separator="; ") == "a; b"


def test_listed_counts_with_thousands_separators_and_shortens_each_item() -> None:
    many = ["a"] * 1_001
    # after "a" (3 counted), the second needs 3 + 3 + len(" and 1,000 more") = 21
    assert listed(many, 21) == "a, a and 999 more"
    assert listed(many, 20) == "a and 1,000 more"
    assert listed(["x" * 300], 1_000) == "x" * 199 + "…"


# A line of 50 characters with spaces in it: cut at line ends, never at spaces.
LINE = "ab " * 16 + "cd"


def note(omitted: str) -> str:
    return f"… and {omitted} more lines: the full detail is in the audit trail and the report."


def test_fit_leaves_text_within_the_limit_alone() -> None:
    assert fit("x" * 29_000) == "x" * 29_000
    assert fit("a\nb", 3) == "a\nb"


def test_fit_cuts_at_a_line_boundary_and_says_how_many_lines_were_left_out() -> None:
    text = "\n".join([LINE] * 10)
    # 120 characters are kept back for the note: a 51-character line fits in 171, not in 170
    assert fit(text, 171) == LINE + "\n" + note("9")
    assert fit(text, 222) == LINE + "\n" + LINE + "\n" + note("8")
    assert fit(text, 221) == LINE + "\n" + note("9")


def test_fit_cuts_inside_the_first_line_when_no_line_fits() -> None:
    text = "\n".join([LINE] * 10)
    cut = fit(text, 170)
    assert cut == text[: 170 - len(note("10")) - 1] + "\n" + note("10")
    assert len(cut) == 170


def test_fit_counts_omitted_lines_with_thousands_separators() -> None:
    text = "\n".join(["y"] * 1_500)
    # 80 characters for lines: forty "y\n"
    assert fit(text, 200) == "\n".join(["y"] * 40 + [note("1,460")])
    assert fit(text + "\n" + "z" * 29_000) == "\n".join(["y"] * 1_500 + [note("1")])
