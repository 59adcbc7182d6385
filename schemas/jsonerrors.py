"""Why a body is not JSON, in Census's own words and with a byte offset. Pure.

A client sees these texts in a 400, so they must not change when a library does: the parser that
said "no" (msgspec) is never quoted. Where the problem is, is found again here: the UTF-8 check
and Python's own JSON scanner give offsets as numbers (their messages are not used), and the few
things Python's scanner accepts but JSON does not (NaN, Infinity, an unpaired surrogate escape)
are looked for directly. Only called on the error path; every step is linear in the body.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final

_STRICT: Final = json.JSONDecoder(strict=True)
_WHITESPACE: Final = re.compile(r"[ \t\n\r]*")
# A JSON string token (skipped), or one of the bare constants Python accepts and JSON does not.
_STRING_OR_CONSTANT: Final = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)', re.S)
# Inside a string token: one escape sequence; \uXXXX captures its code unit.
_ESCAPE: Final = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)", re.S)


@dataclass(frozen=True, slots=True)
class JsonProblem:
    """Where a body stops being UTF-8 JSON (byte offset, 1-based line and column) and what is wrong."""

    offset: int
    line: int
    column: int
    what: str

    @property
    def reason(self) -> str:
        return f"{self.what} at byte {self.offset} (line {self.line}, column {self.column})"


def _position(text: str, index: int) -> tuple[int, int, int]:
    """(byte offset, line, column) of character `index` of `text`; columns count characters."""
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return len(text[:index].encode("utf-8")), line, column


def _at(text: str, index: int, what: str) -> JsonProblem:
    offset, line, column = _position(text, index)
    return JsonProblem(offset, line, column, what)


def _describe(char: str) -> str:
    if char < " " or char == "\x7f":
        return f"control character U+{ord(char):04X}"
    return repr(char)


def shown(text: str, limit: int = 40) -> str:
    """A client's string as it may appear in a reply: escaped to ASCII, and cut."""
    escaped = ascii(text[: limit + 1])[1:-1]
    return escaped if len(text) <= limit else escaped[:limit] + "…"


def not_utf8(body: bytes, start: int) -> JsonProblem:
    """The byte at `start` cannot begin or continue a UTF-8 character."""
    head = body[:start].decode("utf-8", errors="replace")
    line = head.count("\n") + 1
    column = len(head) - (head.rfind("\n") + 1) + 1
    return JsonProblem(start, line, column, f"the body is not UTF-8: byte 0x{body[start]:02x}")


def _syntax(text: str) -> JsonProblem | None:
    """The first place Python's strict scanner stops, in our words; None if it accepts all."""
    start = _WHITESPACE.match(text).end()  # type: ignore[union-attr]  # * always matches
    if start == len(text):
        return _at(
            text, start, "the body is empty" if not text else "the body holds only whitespace"
        )
    try:
        _value, end = _STRICT.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        rest = _WHITESPACE.match(text, exc.pos).end()  # type: ignore[union-attr]
        if rest >= len(text):
            return _at(text, len(text), "the body ends before its JSON value does")
        return _at(text, exc.pos, f"not JSON: unexpected {_describe(text[exc.pos])}")
    except RecursionError:
        return None  # valid or not, too deep for Python's scanner: the caller says "too deep"
    except ValueError:
        return None  # an integer of more digits than Python converts: syntax was fine so far
    trailing = _WHITESPACE.match(text, end).end()  # type: ignore[union-attr]
    if trailing < len(text):
        return _at(text, trailing, f"not JSON: {_describe(text[trailing])} after the JSON value")
    return None


def _lone_surrogate(token: str) -> int | None:
    """Index in `token` (a JSON string) of a \\u escape that is half of a surrogate pair alone."""
    pending: int | None = None  # index of a high surrogate waiting for its low half
    previous_end = -1
    for match in _ESCAPE.finditer(token):
        unit = int(match.group(1), 16) if match.group(1) else None
        adjacent = match.start() == previous_end
        previous_end = match.end()
        if pending is not None:
            if unit is not None and 0xDC00 <= unit <= 0xDFFF and adjacent:
                pending = None
                continue
            return pending
        if unit is not None and 0xD800 <= unit <= 0xDBFF:
            pending = match.start()
        elif unit is not None and 0xDC00 <= unit <= 0xDFFF:
            return match.start()
    return pending


def _unsupported(text: str) -> JsonProblem | None:
    for match in _STRING_OR_CONSTANT.finditer(text):
        if match.group(1) is not None:
            return _at(text, match.start(), f"not JSON: {match.group(1)} is not a JSON number")
        if "\\u" in match.group():
            index = _lone_surrogate(match.group())
            if index is not None:
                return _at(
                    text, match.start() + index, "not JSON: an unpaired UTF-16 surrogate escape"
                )
    return None


def locate(body: bytes) -> JsonProblem | None:
    """The first reason `body` is not UTF-8 JSON, or None when none is found here (the caller
    then names no position)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return not_utf8(body, exc.start)
    if text.startswith("\ufeff"):
        return JsonProblem(0, 1, 1, "not JSON: the body starts with a byte order mark")
    return _syntax(text) or _unsupported(text)


def reason(body: bytes) -> str:
    """The text of a 400 for a body a JSON decoder refused."""
    problem = locate(body)
    if problem is not None:
        return problem.reason
    return "the body is not JSON"
