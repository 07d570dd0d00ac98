"""A strict JQL subset for the fake Jira: tokenizer, recursive-descent parser, validator, evaluator.

Anything outside the subset raises `JqlError` with a message worded like Jira's, so the server can
answer 400 the way Jira does. Never "match everything" on a query it does not understand: a fake
that is lenient here hides exactly the escaping bugs it exists to catch.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "And",
    "Clause",
    "EvalContext",
    "JqlError",
    "Node",
    "Not",
    "Or",
    "Query",
    "SortKey",
    "Token",
    "Value",
    "evaluate",
    "parse",
    "sort_issues",
    "text_matches",
    "tokenize",
    "validate",
]


class JqlError(ValueError):
    """A query Jira would refuse with 400; `str(exc)` is the message Jira puts in errorMessages."""


# --- tokens -------------------------------------------------------------------------------------

# Characters JQL reserves outside quoted strings (Jira: "The character '*' is a reserved JQL
# character. You must enclose it in a string or use the escape '\u002a' instead.").
RESERVED_CHARS = frozenset("+,;?|*/%^$#@[]{}&\\`")
_OPERATOR_CHARS = frozenset("=!~<>")
_PUNCT = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA"}
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "r": "\r", "t": "\t", " ": " "}
# Words JQL will not take unquoted as a value (a subset of Jira's long reserved-word list).
RESERVED_WORDS = frozenset(
    {
        "and", "or", "not", "in", "is", "order", "by", "asc", "desc", "select", "from",
        "where", "was", "changed", "to", "on", "before", "after", "during", "true", "false",
        "if", "else", "then", "limit", "join", "like", "null", "empty",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Token:
    """One lexical token; `kind` is STRING, WORD, OP, LPAREN, RPAREN, COMMA or EOF."""

    kind: str
    value: str
    pos: int


def _where(pos: int) -> str:
    return f"(line 1, character {pos + 1})"


def tokenize(text: str) -> list[Token]:
    """Split a JQL string into tokens, decoding quoted strings and their backslash escapes."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "\"'":
            value, i = _read_string(text, i)
            tokens.append(Token("STRING", value, i))
        elif c in _PUNCT:
            tokens.append(Token(_PUNCT[c], c, i))
            i += 1
        elif c in _OPERATOR_CHARS:
            two = text[i : i + 2]
            if two in ("!=", "!~", ">=", "<="):
                tokens.append(Token("OP", two, i))
                i += 2
            elif c == "!":
                raise JqlError(
                    f"Error in the JQL Query: Expecting operator but got '!'. {_where(i)}"
                )
            else:
                tokens.append(Token("OP", c, i))
                i += 1
        elif c in RESERVED_CHARS:
            raise JqlError(
                f"Error in the JQL Query: The character '{c}' is a reserved JQL character. You "
                f"must enclose it in a string or use the escape '\\u{ord(c):04x}' instead. "
                f"{_where(i)}"
            )
        elif ord(c) < 0x20:
            raise JqlError(f"Error in the JQL Query: Illegal character {c!r}. {_where(i)}")
        else:
            start = i
            while i < n and not _ends_word(text[i]):
                i += 1
            tokens.append(Token("WORD", text[start:i], start))
    tokens.append(Token("EOF", "", n))
    return tokens


def _ends_word(c: str) -> bool:
    return (
        c.isspace()
        or c in "\"'"
        or c in _PUNCT
        or c in _OPERATOR_CHARS
        or c in RESERVED_CHARS
        or ord(c) < 0x20
    )


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == quote:
            return "".join(out), i + 1
        if c == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            raise JqlError(
                f"Error in the JQL Query: The escape sequence '\\{nxt}' in the string "
                f"'{text[start + 1 : i + 2]}' is illegal. {_where(i)}"
            )
        if c in "\r\n" or ord(c) < 0x20:
            # Jira refuses raw line breaks and control characters inside a string literal.
            raise JqlError(
                f"Error in the JQL Query: The quoted string '{text[start + 1 : i]}' contains "
                f"an illegal character {c!r}; escape it. {_where(i)}"
            )
        out.append(c)
        i += 1
    raise JqlError(
        f"Error in the JQL Query: The quoted string '{text[start + 1 :]}' has not been "
        f"completed. {_where(start)}"
    )


# --- syntax tree --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """One operand: a literal (quoted or not) or a function call like `now()`."""

    text: str
    quoted: bool = False
    function: str | None = None
    args: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.quoted and self.function is None and self.text.lower() in ("empty", "null")


@dataclass(frozen=True)
class Clause:
    """`field op value` or `field [NOT] IN (values)`; `field` is the canonical field name."""

    field: str
    op: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    part: Node


Node = Clause | And | Or | Not


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class Query:
    where: Node | None
    order_by: tuple[SortKey, ...] = ()


# --- fields -------------------------------------------------------------------------------------

EQUALITY = frozenset({"=", "!=", "in", "not in", "is", "is not"})
TEXT = frozenset({"~", "!~"})
COMPARISON = frozenset({"=", "!=", ">", ">=", "<", "<=", "is", "is not", "in", "not in"})


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # "choice" | "labels" | "text" | "date" | "key" | "id"
    ops: frozenset[str]


_SPECS = [
    FieldSpec("project", "choice", EQUALITY),
    FieldSpec("key", "key", EQUALITY),
    FieldSpec("id", "id", EQUALITY),
    FieldSpec("labels", "labels", EQUALITY),
    FieldSpec("status", "choice", EQUALITY),
    FieldSpec("statuscategory", "choice", EQUALITY),
    FieldSpec("priority", "choice", EQUALITY),
    FieldSpec("issuetype", "choice", EQUALITY),
    FieldSpec("resolution", "choice", EQUALITY),
    FieldSpec("assignee", "choice", EQUALITY),
    FieldSpec("reporter", "choice", EQUALITY),
    FieldSpec("summary", "text", TEXT),
    FieldSpec("description", "text", TEXT),
    FieldSpec("comment", "text", TEXT),
    FieldSpec("text", "text", TEXT),
    FieldSpec("created", "date", COMPARISON),
    FieldSpec("updated", "date", COMPARISON),
    FieldSpec("resolutiondate", "date", COMPARISON),
    FieldSpec("duedate", "date", COMPARISON),
]
FIELDS: dict[str, FieldSpec] = {spec.name: spec for spec in _SPECS}
ALIASES = {
    "issuekey": "key",
    "type": "issuetype",
    "resolved": "resolutiondate",
    "due": "duedate",
    "createddate": "created",
    "updateddate": "updated",
}
SORTABLE = frozenset(
    {
        "created",
        "updated",
        "key",
        "id",
        "duedate",
        "resolutiondate",
        "priority",
        "summary",
        "status",
    }
)
FUNCTIONS = frozenset({"now", "startofday", "endofday", "currentuser"})


def _field_spec(name: str, pos: int) -> FieldSpec:
    canonical = ALIASES.get(name.lower(), name.lower())
    spec = FIELDS.get(canonical)
    if spec is None:
        raise JqlError(
            f"Field '{name}' does not exist or you do not have permission to view it. {_where(pos)}"
        )
    return spec


# --- parser -------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "WORD" and self.tok.value.lower() in words

    def expect_word(self, word: str) -> None:
        if not self.is_word(word):
            raise self.error(f"Expecting '{word.upper()}'")
        self.advance()

    def error(self, expecting: str) -> JqlError:
        got = self.tok.value if self.tok.kind != "EOF" else "end of query"
        return JqlError(
            f"Error in the JQL Query: {expecting} but got '{got}'. {_where(self.tok.pos)}"
        )

    def query(self) -> Query:
        where: Node | None = None
        if self.tok.kind != "EOF" and not self.is_word("order"):
            where = self.or_expr()
        order_by: tuple[SortKey, ...] = ()
        if self.is_word("order"):
            self.advance()
            self.expect_word("by")
            order_by = self.sort_list()
        if self.tok.kind != "EOF":
            raise self.error("Expecting either 'OR' or 'AND'")
        return Query(where, order_by)

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.is_word("or"):
            self.advance()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.is_word("and"):
            self.advance()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def not_expr(self) -> Node:
        if self.is_word("not"):
            self.advance()
            return Not(self.not_expr())
        if self.tok.kind == "LPAREN":
            self.advance()
            inner = self.or_expr()
            if self.tok.kind != "RPAREN":
                raise self.error("Expecting ')'")
            self.advance()
            return inner
        return self.clause()

    def clause(self) -> Clause:
        tok = self.tok
        if tok.kind not in ("WORD", "STRING") or (
            tok.kind == "WORD" and tok.value.lower() in RESERVED_WORDS
        ):
            raise self.error("Expecting a field name")
        self.advance()
        spec = _field_spec(tok.value, tok.pos)
        op_pos = self.tok.pos
        op = self.operator()
        if op not in spec.ops:
            raise JqlError(
                f"The operator '{op.upper()}' is not supported by the '{tok.value}' field. "
                f"{_where(op_pos)}"
            )
        if op in ("in", "not in"):
            values = self.value_list()
        elif op in ("is", "is not"):
            if not self.is_word("empty", "null"):
                raise self.error("Expecting 'EMPTY' or 'NULL'")
            values = (Value(self.advance().value),)
        else:
            values = (self.value(),)
        clause = Clause(spec.name, op, values)
        _check_values(spec, clause, tok.pos)
        return clause

    def operator(self) -> str:
        tok = self.tok
        if tok.kind == "OP":
            self.advance()
            return tok.value
        if self.is_word("in"):
            self.advance()
            return "in"
        if self.is_word("not"):
            self.advance()
            self.expect_word("in")
            return "not in"
        if self.is_word("is"):
            self.advance()
            if self.is_word("not"):
                self.advance()
                return "is not"
            return "is"
        raise self.error("Expecting operator")

    def value_list(self) -> tuple[Value, ...]:
        if self.tok.kind != "LPAREN":
            raise self.error("Expecting '('")
        self.advance()
        values = [self.value()]
        while self.tok.kind == "COMMA":
            self.advance()
            values.append(self.value())
        if self.tok.kind != "RPAREN":
            raise self.error("Expecting ')' or ','")
        self.advance()
        return tuple(values)

    def value(self) -> Value:
        tok = self.tok
        if tok.kind == "STRING":
            self.advance()
            return Value(tok.value, quoted=True)
        if tok.kind != "WORD":
            raise self.error("Expecting either a value, list or function")
        self.advance()
        if self.tok.kind == "LPAREN":
            return self.function_call(tok)
        if tok.value.lower() in RESERVED_WORDS and tok.value.lower() not in ("empty", "null"):
            raise JqlError(
                f"Error in the JQL Query: '{tok.value}' is a reserved JQL word. You must "
                f"surround it in quotation marks to use it in a query. {_where(tok.pos)}"
            )
        return Value(tok.value)

    def function_call(self, name: Token) -> Value:
        self.advance()  # (
        args: list[str] = []
        while self.tok.kind != "RPAREN":
            if self.tok.kind not in ("WORD", "STRING"):
                raise self.error("Expecting ')'")
            args.append(self.advance().value)
            if self.tok.kind == "COMMA":
                self.advance()
        self.advance()  # )
        if name.value.lower() not in FUNCTIONS:
            raise JqlError(f"Unable to find JQL function '{name.value}({', '.join(args)})'.")
        return Value(name.value, function=name.value.lower(), args=tuple(args))

    def sort_list(self) -> tuple[SortKey, ...]:
        keys = [self.sort_key()]
        while self.tok.kind == "COMMA":
            self.advance()
            keys.append(self.sort_key())
        return tuple(keys)

    def sort_key(self) -> SortKey:
        tok = self.tok
        if tok.kind not in ("WORD", "STRING"):
            raise self.error("Expecting a field name")
        self.advance()
        spec = _field_spec(tok.value, tok.pos)
        if spec.name not in SORTABLE:
            raise JqlError(f"Field '{tok.value}' does not support sorting. {_where(tok.pos)}")
        descending = False
        if self.is_word("asc", "desc"):
            descending = self.advance().value.lower() == "desc"
        return SortKey(spec.name, descending)


def parse(text: str) -> Query:
    """Parse a JQL string into a `Query`, or raise `JqlError` with Jira's wording."""
    return _Parser(tokenize(text)).query()


# --- value checks at parse time -----------------------------------------------------------------

_RELATIVE = re.compile(r"^([-+]?)((?:\d+[wdhm]\s*)+)$")
_ABSOLUTE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")


def _check_values(spec: FieldSpec, clause: Clause, pos: int) -> None:
    for value in clause.values:
        if value.is_empty:
            if clause.op in TEXT:
                raise JqlError(
                    f"The field '{spec.name}' does not support searching for EMPTY values."
                )
            continue
        if value.function is not None:
            allowed = {"date": {"now", "startofday", "endofday"}}.get(spec.kind, set())
            if spec.name in ("assignee", "reporter"):
                allowed = {"currentuser"}
            if value.function not in allowed:
                raise JqlError(
                    f"A value provided by the function '{value.text}' is invalid for the field "
                    f"'{spec.name}'."
                )
        elif spec.kind == "date":
            parse_date_value(value.text, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), spec.name)
        elif spec.kind == "text":
            _check_text_query(value.text, spec.name)
        elif spec.kind == "id" and not value.text.isdigit():
            raise JqlError(f"The value '{value.text}' is not a valid issue id. {_where(pos)}")


def _check_text_query(query: str, field_name: str) -> None:
    stripped = query.strip().strip('"').strip()
    if not stripped:
        raise JqlError(f"The field '{field_name}' does not support searching for an empty string.")
    if stripped[0] in "*?":
        raise JqlError(
            f"The text query '{query}' for field '{field_name}' is not allowed to start with a "
            "wildcard character; you should use a wildcard only at the end of a word."
        )


def parse_date_value(text: str, now: dt.datetime, field_name: str = "created") -> dt.datetime:
    """A JQL date literal as an aware UTC datetime: absolute formats or periods like `-30d`."""
    match = _RELATIVE.match(text.strip())
    if match:
        sign = -1 if match.group(1) == "-" else 1
        delta = dt.timedelta()
        for amount, unit in re.findall(r"(\d+)([wdhm])", match.group(2)):
            delta += {
                "w": dt.timedelta(weeks=int(amount)),
                "d": dt.timedelta(days=int(amount)),
                "h": dt.timedelta(hours=int(amount)),
                "m": dt.timedelta(minutes=int(amount)),
            }[unit]
        return now + sign * delta
    for fmt in _ABSOLUTE_FORMATS:
        try:
            return dt.datetime.strptime(text.strip(), fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    raise JqlError(
        f"Date value '{text}' for field '{field_name}' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format "
        "e.g. '-5d', '4w 2d'."
    )


# --- validation against the server's vocabulary -------------------------------------------------


def _clauses(node: Node | None) -> Iterable[Clause]:
    if node is None:
        return
    if isinstance(node, Clause):
        yield node
    elif isinstance(node, Not):
        yield from _clauses(node.part)
    else:
        for part in node.parts:
            yield from _clauses(part)


def validate(query: Query, vocabulary: Mapping[str, Iterable[str]]) -> list[tuple[Clause, str]]:
    """Clauses naming values that do not exist, with Jira's message (an empty list when valid).

    `vocabulary` maps a canonical field name (project, status, statuscategory, priority,
    issuetype, resolution, assignee, reporter, key) to the lower-cased names it accepts.
    """
    known = {name: {v.lower() for v in values} for name, values in vocabulary.items()}
    errors: list[tuple[Clause, str]] = []
    for clause in _clauses(query.where):
        accepted = known.get(clause.field)
        if accepted is None:
            continue
        for value in clause.values:
            if value.is_empty or value.function is not None:
                continue
            if value.text.lower() not in accepted:
                if clause.field == "key":
                    message = f"An issue with key '{value.text}' does not exist for field 'key'."
                else:
                    message = (
                        f"The value '{value.text}' does not exist for the field '{clause.field}'."
                    )
                errors.append((clause, message))
    return errors


# --- evaluation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalContext:
    """What a query needs besides the issue: the clock and who is asking."""

    now: dt.datetime
    current_user: frozenset[str] = frozenset()
    # Clauses whose values did not exist under validateQuery=false match nothing, like Jira's.
    invalid: frozenset[int] = field(default_factory=frozenset)


def evaluate(node: Node | None, facts: Mapping[str, Any], ctx: EvalContext) -> bool:
    """Does an issue, described by `facts`, match the query's condition?

    `facts` keys are canonical field names. Choice fields hold a set of lower-cased identifiers
    (name, id, key) or None when empty; `labels` a list; text fields a string; date fields an
    aware datetime (or a date for `duedate`) or None; `key` a string; `id` an int.
    """
    if node is None:
        return True
    if isinstance(node, And):
        return all(evaluate(p, facts, ctx) for p in node.parts)
    if isinstance(node, Or):
        return any(evaluate(p, facts, ctx) for p in node.parts)
    if isinstance(node, Not):
        return not evaluate(node.part, facts, ctx)
    if id(node) in ctx.invalid:
        return False
    spec = FIELDS[node.field]
    value = facts.get(node.field)
    if spec.kind == "text":
        return _eval_text(node, value or "")
    if spec.kind == "date":
        return _eval_date(node, value, ctx)
    return _eval_choice(node, spec, value, ctx)


def _identifiers(spec: FieldSpec, value: Any) -> set[str]:
    if value is None:
        return set()
    if spec.kind == "labels":
        return {str(v) for v in value}  # labels compare case-sensitively in Jira
    if spec.kind in ("key", "id"):
        return {str(value).lower()}
    return {str(v).lower() for v in value}


def _eval_choice(node: Clause, spec: FieldSpec, value: Any, ctx: EvalContext) -> bool:
    have = _identifiers(spec, value)
    if node.op == "is":
        return not have
    if node.op == "is not":
        return bool(have)
    wanted: set[str] = set()
    wants_empty = False
    for v in node.values:
        if v.is_empty:
            wants_empty = True
        elif v.function == "currentuser":
            wanted |= {u.lower() for u in ctx.current_user}
        elif spec.kind == "labels":
            wanted.add(v.text)
        elif node.field == "resolution" and v.text.lower() == "unresolved":
            wants_empty = True
        else:
            wanted.add(v.text.lower())
    hit = bool(have & wanted) or (wants_empty and not have)
    if node.op in ("=", "in"):
        return hit
    # Jira quirk kept on purpose: `labels != x` (and NOT IN) never matches an issue whose field
    # is empty; one must add `OR labels is EMPTY`. Adapters that forget it miss issues.
    if not have and not wants_empty:
        return False
    return not hit


_WORD = re.compile(r"[\w]+(?:[.\-'][\w]+)*", re.UNICODE)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def text_matches(haystack: str, query: str) -> bool:
    """Jira-like word search: every term must occur as a word; `term*` is a prefix; "a b" a phrase."""
    words = _words(haystack)
    phrases = re.findall(r'"([^"]*)"', query)
    rest = re.sub(r'"[^"]*"', " ", query)
    for phrase in phrases:
        terms = _words(phrase)
        if terms and not any(
            words[i : i + len(terms)] == terms for i in range(len(words) - len(terms) + 1)
        ):
            return False
    for raw in rest.split():
        prefix = raw.endswith("*")
        terms = _words(raw)
        if not terms:
            continue
        for j, term in enumerate(terms):
            is_prefix = prefix and j == len(terms) - 1
            if not any(w.startswith(term) if is_prefix else w == term for w in words):
                return False
    return True


def _eval_text(node: Clause, haystack: str) -> bool:
    hit = text_matches(haystack, node.values[0].text)
    return hit if node.op == "~" else not hit


def _resolve_date(value: Value, ctx: EvalContext, field_name: str) -> dt.datetime:
    if value.function == "now":
        return ctx.now
    if value.function in ("startofday", "endofday"):
        start = ctx.now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start if value.function == "startofday" else start + dt.timedelta(days=1)
    return parse_date_value(value.text, ctx.now, field_name)


_COMPARE: dict[str, Callable[[dt.datetime, dt.datetime], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _eval_date(node: Clause, value: Any, ctx: EvalContext) -> bool:
    if node.op == "is":
        return value is None
    if node.op == "is not":
        return value is not None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
    if node.op in ("in", "not in"):
        targets = [v for v in node.values if not v.is_empty]
        hit = value is not None and any(value == _resolve_date(v, ctx, node.field) for v in targets)
        hit = hit or (value is None and len(targets) < len(node.values))
        return hit if node.op == "in" else not hit
    target = node.values[0]
    if target.is_empty:
        return (value is None) == (node.op == "=")
    if value is None:
        return False
    return _COMPARE[node.op](value, _resolve_date(target, ctx, node.field))


# --- ordering -----------------------------------------------------------------------------------


def sort_issues(
    items: Sequence[Mapping[str, Any]], order_by: Sequence[SortKey]
) -> list[Mapping[str, Any]]:
    """Order issue facts by ORDER BY keys; empty values sort as the largest, like Jira's."""
    result = list(items)
    for key in reversed(order_by):
        present = [f for f in result if f.get(f"sort:{key.field}") is not None]
        missing = [f for f in result if f.get(f"sort:{key.field}") is None]
        name = f"sort:{key.field}"
        present.sort(key=operator.itemgetter(name), reverse=key.descending)
        result = missing + present if key.descending else present + missing
    return result
