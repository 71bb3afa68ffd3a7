"""AWS JSON 1.1 on the wire, driven by the botocore service model at run time.

Three steps, kept apart so that Smithy RPC v2 CBOR (`cborproto`) reuses the middle one and the
output plans: only the framing and the wire form of blobs and timestamps differ.

1. `decode_json_body` turns the request bytes into a Python value (JSON framing only).
2. `parse_input` / `compile_input` check a decoded value against a botocore Shape: the JSON
   type of every member (`SerializationException`, first problem wins, as Coral's deserializer
   stops at the first), then every constraint of the model (`ValidationException` listing the
   violations in Coral's words). On the "json" wire blobs arrive as base64 text, timestamps as
   epoch numbers or text; on the "cbor" wire blobs are byte strings and timestamps tag-1 epoch
   values (datetimes) or bare epoch numbers. Everything else is one code path.
3. `serialize_output` / `serialize_error` write the answer; `output_data` gives the answer as
   plain data (blobs and timestamps in the wire's form) for another encoder.

Both directions are compiled once per shape into small plan objects and cached, so a call does
no model walking: parsing DescribeCertificate is one dict lookup, one type check, two length
comparisons and one regular expression match.

The texts of the errors follow what AWS's Coral framework answers, as measured against real
services and recorded by other emulators:

* wrong JSON types: "STRING_VALUE can not be converted to an Integer", "NUMBER_VALUE can not be
  converted to a String", "TRUE_VALUE ...", "Start of list found where not expected", "Start of
  structure or map found where not expected.", "Expected list or null", "Expected map or null",
  "Expected null" (a scalar where a structure belongs);
* a body that is not JSON, or JSON that is not an object: SerializationException with no
  message (a top-level array says "Start of list found where not expected");
* constraints: "N validation error(s) detected: Value 'v' at 'a.b.1.member.c' failed to satisfy
  constraint: Member must ...", joined with "; ", at most 10 listed (DynamoDB's, as recorded by
  dynalite); constraints on the members of a list or map of scalars are reported once for the
  whole list ("Member must satisfy constraint: [...]", "Map keys must satisfy constraint: [...]",
  "Map value must satisfy constraint: [...]").
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import math
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from typing import Any, Final, Literal

import orjson
import regex
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from openacm.domain.errors import ApiError, ValidationError
from openacm.protocol.errors import SerializationError

__all__ = [
    "CONTENT_TYPE",
    "JSON_OUTPUT",
    "MAX_LISTED_ERRORS",
    "REDACTED",
    "InputPlan",
    "OutputForm",
    "Wire",
    "compile_input",
    "decode_json_body",
    "epoch_seconds",
    "java_pattern",
    "output_data",
    "parse_input",
    "pattern_matcher",
    "serialize_error",
    "serialize_output",
    "top_level_object",
]

log = logging.getLogger(__name__)

CONTENT_TYPE: Final = "application/x-amz-json-1.1"
# Coral stops collecting constraint violations after ten.
MAX_LISTED_ERRORS: Final = 10
# How the value of a member whose shape is `sensitive` appears in a validation message.
REDACTED: Final = "*** Sensitive Data Redacted ***"
# A model's pattern is matched with a time limit; a subject that takes longer fails it.
PATTERN_TIMEOUT_SECONDS: Final = 2.0

Wire = Literal["json", "cbor"]
# A constraint: its text in messages, and a predicate true when a value satisfies it.
_Check = tuple[str, Callable[[Any], bool]]

_UTC: Final = dt.UTC
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_MS: Final = dt.timedelta(milliseconds=1)

_LIST_START: Final = "Start of list found where not expected"
_OBJECT_START: Final = "Start of structure or map found where not expected."
_NOT_NULL: Final = "Member must not be null"
_EXACTLY_ONE: Final = "Member must have exactly one member set"


# --- value rendering (what Java's toString would print) -----------------------------------------


def _java_double(value: float) -> str:
    """Double.toString: 1.5, 100.0, 1.0E7, 1.0E-4."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(value)
    _sign, digits, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    sign = "-" if value < 0 else ""
    return f"{sign}{text[0]}.{text[1:] or '0'}E{len(text) - 1 + exponent}"


def _render_scalar(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, bytes | bytearray | memoryview):
        size = len(value)
        return f"java.nio.HeapByteBuffer[pos=0 lim={size} cap={size}]"
    if isinstance(value, dt.datetime):
        return value.astimezone(_UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
    return str(value)


def _violation(rendered: str | None, path: str, constraint: str) -> str:
    shown = "null" if rendered is None else f"'{rendered}'"
    return f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _number_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- wrong JSON types ---------------------------------------------------------------------------


def _token(value: object) -> str:
    """The name Jackson gives the JSON token that was found."""
    if value is True:
        return "TRUE_VALUE"
    if value is False:
        return "FALSE_VALUE"
    if isinstance(value, int | float):
        return "NUMBER_VALUE"
    if isinstance(value, str):
        return "STRING_VALUE"
    return "VALUE_EMBEDDED_OBJECT"


def _scalar_type_error(value: object, type_name: str) -> SerializationError:
    if isinstance(value, list):
        return SerializationError(_LIST_START)
    if isinstance(value, dict):
        return SerializationError(_OBJECT_START)
    token = _token(value)
    # Coral says "an Integer" but "a String", "a Long"; and, as measured, "STRING_VALUE can not
    # be converted to an Boolean" while a number is "converted to a Boolean".
    vowel = type_name[0] in "AEIOU"
    article = "an" if vowel or (token == "STRING_VALUE" and type_name == "Boolean") else "a"
    return SerializationError(f"{token} can not be converted to {article} {type_name}")


# --- Java regular expressions -------------------------------------------------------------------

# Java's \w, \d, \s and POSIX classes are ASCII-only; \p{L} and friends are Unicode in both.
_JAVA_ESCAPE_SETS: Final = {
    "w": "a-zA-Z_0-9",
    "d": "0-9",
    "s": " \\t\\n\\x0B\\f\\r",
}
_JAVA_POSIX_SETS: Final = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7F",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1F\\x7F",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0B\\f\\r",
}
# Java's "." stops at every line terminator, not only "\n".
_JAVA_DOT: Final = "[^\\n\\r\\u0085\\u2028\\u2029]"


def java_pattern(pattern: str) -> str:
    """Rewrite a Java regular expression (as AWS models hold them) for `re` / `regex` V1.

    Covers what differs in practice: ASCII-only \\w \\d \\s and POSIX \\p{Alpha}-style classes,
    "." versus line terminators, \\Q...\\E quoting, and characters that are set operators in
    `regex` V1 but literals in Java ("||", "~~", "--") inside a character class.
    """
    out: list[str] = []
    depth = 0
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            e = pattern[i + 1]
            if e == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
                out.append("".join(ch if ch.isalnum() else "\\" + ch for ch in literal))
                i = n if end < 0 else end + 2
                continue
            if e.lower() in _JAVA_ESCAPE_SETS:
                chars = _JAVA_ESCAPE_SETS[e.lower()]
                if e.isupper():
                    out.append(f"[^{chars}]")
                else:
                    out.append(chars if depth else f"[{chars}]")
                i += 2
                continue
            if e in "pP" and i + 2 < n and pattern[i + 2] == "{":
                end = pattern.find("}", i + 3)
                name = pattern[i + 3 : end] if end > 0 else ""
                if name.removeprefix("Is") in _JAVA_POSIX_SETS:
                    name = name.removeprefix("Is")
                if end > 0 and name in _JAVA_POSIX_SETS:
                    chars = _JAVA_POSIX_SETS[name]
                    if e == "P":
                        out.append(f"[^{chars}]")
                    else:
                        out.append(chars if depth else f"[{chars}]")
                    i = end + 1
                    continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if c == "[":
            depth += 1
            out.append(c)
            if i + 1 < n and pattern[i + 1] == "^":
                out.append("^")
                i += 1
        elif c == "]" and depth:
            depth -= 1
            out.append(c)
        elif depth and c in "|~":
            out.append("\\" + c)
        elif depth and c == "-" and i + 1 < n and pattern[i + 1] == "-":
            out.append("-\\")
        elif c == "." and not depth:
            out.append(_JAVA_DOT)
        else:
            out.append(c)
        i += 1
    return "".join(out)


@lru_cache(maxsize=1024)
def pattern_matcher(pattern: str) -> Callable[[str], bool] | None:
    """A predicate telling whether a whole string matches the model's Java `pattern`.

    Java's String.matches() semantics: the whole value must match. Patterns that need Unicode
    properties or nested classes use the `regex` module (with a time limit); the others the
    standard library's `re`, which is twice as fast. None when the pattern does not compile.
    """
    translated = java_pattern(pattern)
    if "\\p" not in translated and "\\P" not in translated:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", FutureWarning)  # "Possible nested set"
                plain = re.compile(translated)
        except (re.error, FutureWarning):
            pass
        else:
            plain_match = plain.fullmatch
            return lambda value: plain_match(value) is not None
    try:
        compiled = regex.compile(translated, regex.V1)
    except regex.error:
        log.warning("pattern %r of the model does not compile; it is not checked", pattern)
        return None
    full_match = compiled.fullmatch

    def matches(value: str) -> bool:
        try:
            return full_match(value, timeout=PATTERN_TIMEOUT_SECONDS) is not None
        except TimeoutError:
            return False

    return matches


# --- input plans --------------------------------------------------------------------------------


class _Node:
    """The compiled check of one shape: type conversion, then constraints."""

    __slots__ = ("sensitive",)

    def __init__(self, shape: Shape) -> None:
        self.sensitive = bool(shape.metadata.get("sensitive"))

    def convert(self, value: object, path: str, errors: list[str]) -> object:
        raise NotImplementedError

    def render(self, value: object) -> str:
        """The converted `value` as it appears in a validation message."""
        return REDACTED if self.sensitive else self.render_plain(value)

    def render_plain(self, value: object) -> str:
        return _render_scalar(value)


class _ScalarNode(_Node):
    """A shape whose value has no members: its constraints are checked in one place."""

    __slots__ = ("constraints", "has_checks")

    def __init__(self, shape: Shape) -> None:
        super().__init__(shape)
        # (description, predicate that is true when the value satisfies it), in Coral's order
        self.constraints: tuple[_Check, ...] = ()
        self.has_checks = False

    def _set_constraints(self, constraints: list[_Check]) -> None:
        self.constraints = tuple(constraints)
        self.has_checks = bool(constraints)

    def coerce(self, value: object) -> object:
        """Type check and convert, raising SerializationError."""
        raise NotImplementedError

    def satisfied(self, value: object) -> bool:
        return all(check(value) for _, check in self.constraints)

    def check(self, value: object, path: str, errors: list[str]) -> None:
        for text, check in self.constraints:
            if not check(value):
                errors.append(_violation(self.render(value), path, text))

    def convert(self, value: object, path: str, errors: list[str]) -> object:
        value = self.coerce(value)
        if self.has_checks:
            self.check(value, path, errors)
        return value


def _length_constraints(shape: Shape, size: Callable[[Any], int]) -> list[_Check]:
    found: list[_Check] = []
    metadata = shape.metadata
    high = metadata.get("max")
    low = metadata.get("min")
    if high is not None:
        found.append(
            (
                f"Member must have length less than or equal to {_number_text(high)}",
                lambda v: size(v) <= high,
            )
        )
    if low is not None:
        found.append(
            (
                f"Member must have length greater than or equal to {_number_text(low)}",
                lambda v: size(v) >= low,
            )
        )
    return found


class _StringNode(_ScalarNode):
    __slots__ = ()

    def __init__(self, shape: Shape) -> None:
        super().__init__(shape)
        constraints = _length_constraints(shape, len)
        pattern = shape.metadata.get("pattern")
        if pattern is not None:
            matcher = pattern_matcher(str(pattern))
            if matcher is not None:
                constraints.append(
                    (f"Member must satisfy regular expression pattern: {pattern}", matcher)
                )
        enum = shape.metadata.get("enum")
        if enum:
            allowed = frozenset(enum)
            constraints.append(
                (
                    f"Member must satisfy enum value set: [{', '.join(enum)}]",
                    lambda v: v in allowed,
                )
            )
        self._set_constraints(constraints)

    def coerce(self, value: object) -> object:
        if type(value) is str:
            return value
        raise _scalar_type_error(value, "String")


_INTEGRAL_NAMES: Final = {"integer": "Integer", "long": "Long", "short": "Short", "byte": "Byte"}
_FLOAT_NAMES: Final = {"float": "Float", "double": "Double"}


class _NumberNode(_ScalarNode):
    __slots__ = ("integral", "type_name")

    def __init__(self, shape: Shape) -> None:
        super().__init__(shape)
        self.integral = shape.type_name in _INTEGRAL_NAMES
        self.type_name = _INTEGRAL_NAMES.get(shape.type_name) or _FLOAT_NAMES.get(
            shape.type_name, "Double"
        )
        constraints: list[_Check] = []
        high = shape.metadata.get("max")
        low = shape.metadata.get("min")
        if high is not None:
            constraints.append(
                (
                    f"Member must have value less than or equal to {_number_text(high)}",
                    lambda v: v <= high,
                )
            )
        if low is not None:
            constraints.append(
                (
                    f"Member must have value greater than or equal to {_number_text(low)}",
                    lambda v: v >= low,
                )
            )
        self._set_constraints(constraints)

    def coerce(self, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return value if self.integral else float(value)
        if isinstance(value, float):
            if not self.integral:
                return value
            if math.isfinite(value):
                # Jackson truncates a fraction given for an integral member.
                return int(value)
        raise _scalar_type_error(value, self.type_name)


class _BooleanNode(_ScalarNode):
    __slots__ = ()

    def coerce(self, value: object) -> object:
        if type(value) is bool:
            return value
        raise _scalar_type_error(value, "Boolean")


_BASE64_ALPHABET: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
)


class _BlobNode(_ScalarNode):
    __slots__ = ("text_base64",)

    def __init__(self, shape: Shape, wire: Wire) -> None:
        super().__init__(shape)
        self.text_base64 = wire == "json"
        self._set_constraints(_length_constraints(shape, len))

    def coerce(self, value: object) -> object:
        if type(value) is str and self.text_base64:
            return self._decode(value)
        if isinstance(value, bytes):
            return value
        if isinstance(value, bytearray | memoryview):
            return bytes(value)
        raise _scalar_type_error(value, "Blob")

    def _decode(self, text: str) -> bytes:
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            pass
        shown = REDACTED if self.sensitive else text
        if len(text) % 4:
            reason = (
                f"Base64 encoded length is expected a multiple of 4 bytes but found: {len(text)}"
            )
        else:
            bad = next((ch for ch in text if ch not in _BASE64_ALPHABET), None)
            # "dectected" is how Coral spells it.
            reason = (
                f"Invalid Base64 character: '{bad}'"
                if bad is not None and not self.sensitive
                else "Invalid last non-pad Base64 character dectected"
            )
        raise SerializationError(f"'{shown}' can not be converted to a Blob: {reason}")


class _TimestampNode(_ScalarNode):
    __slots__ = ("text_allowed",)

    def __init__(self, shape: Shape, wire: Wire) -> None:
        super().__init__(shape)
        # CBOR has one form for a timestamp (epoch seconds); JSON clients also send text.
        self.text_allowed = wire == "json"

    def coerce(self, value: object) -> object:
        if isinstance(value, dt.datetime):
            return value if value.tzinfo is not None else value.replace(tzinfo=_UTC)
        try:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return dt.datetime.fromtimestamp(value, _UTC)
            if isinstance(value, str) and self.text_allowed:
                return _parse_timestamp_text(value)
        except (OverflowError, OSError, ValueError):
            pass
        raise _scalar_type_error(value, "Timestamp")


def _parse_timestamp_text(text: str) -> dt.datetime:
    stripped = text.strip()
    try:
        seconds = float(stripped)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise ValueError(text)
        return dt.datetime.fromtimestamp(seconds, _UTC)
    try:
        parsed = dt.datetime.fromisoformat(stripped)
    except ValueError:
        parsed = parsedate_to_datetime(stripped)  # RFC 822; raises ValueError when not one
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_UTC)


class _AnyNode(_Node):
    """A document shape: any JSON value, unchecked."""

    __slots__ = ()

    def convert(self, value: object, path: str, errors: list[str]) -> object:
        return value

    def render_plain(self, value: object) -> str:
        return str(value)


def _bracketed(prefix: str, node: _Node, with_null: bool) -> str:
    texts = [text for text, _ in node.constraints] if isinstance(node, _ScalarNode) else []
    if with_null:
        texts.append(_NOT_NULL)
    return f"{prefix} [{', '.join(texts)}]"


class _ListNode(_Node):
    __slots__ = ("item", "length", "scalar_item")

    def __init__(self, shape: Shape) -> None:
        super().__init__(shape)
        self.item: _Node = _AnyNode(shape)
        self.scalar_item: _ScalarNode | None = None
        self.length = tuple(_length_constraints(shape, len))

    def set_item(self, item: _Node) -> None:
        self.item = item
        self.scalar_item = item if isinstance(item, _ScalarNode) else None

    def convert(self, value: object, path: str, errors: list[str]) -> object:
        if type(value) is not list:
            raise SerializationError(
                _OBJECT_START if isinstance(value, dict) else "Expected list or null"
            )
        scalar = self.scalar_item
        # The list's own length is reported before the violations of its members.
        mark = len(errors)
        out: list[object]
        if scalar is not None:
            coerce = scalar.coerce
            out = [None if v is None else coerce(v) for v in value]
        else:
            out = []
            item = self.item
            for index, v in enumerate(value, 1):
                if v is None:
                    out.append(None)
                else:
                    out.append(item.convert(v, f"{path}.{index}.member", errors))
        for text, check in self.length:
            if not check(out):
                errors.insert(mark, _violation(self.render(out), path, text))
                mark += 1
        if scalar is not None:
            has_null = None in out
            if has_null or (scalar.has_checks and not all(scalar.satisfied(v) for v in out)):
                errors.append(
                    _violation(
                        self.render(out),
                        path,
                        _bracketed("Member must satisfy constraint:", scalar, has_null),
                    )
                )
        else:
            for index, v in enumerate(out, 1):
                if v is None:
                    errors.append(_violation(None, f"{path}.{index}.member", _NOT_NULL))
        return out

    def render_plain(self, value: object) -> str:
        assert isinstance(value, list)
        item = self.item
        return "[" + ", ".join("null" if v is None else item.render(v) for v in value) + "]"


class _MapNode(_Node):
    __slots__ = ("key", "length", "scalar_value", "value")

    def __init__(self, shape: Shape, key: _ScalarNode) -> None:
        super().__init__(shape)
        self.key = key
        self.value: _Node = _AnyNode(shape)
        self.scalar_value: _ScalarNode | None = None
        self.length = tuple(_length_constraints(shape, len))

    def set_value(self, value: _Node) -> None:
        self.value = value
        self.scalar_value = value if isinstance(value, _ScalarNode) else None

    def convert(self, value: object, path: str, errors: list[str]) -> object:
        if type(value) is not dict:
            raise SerializationError(
                _LIST_START if isinstance(value, list) else "Expected map or null"
            )
        key_node = self.key
        scalar = self.scalar_value
        mark = len(errors)
        out: dict[object, object] = {}
        for k, v in value.items():
            key = key_node.coerce(k)
            if v is None:
                out[key] = None
            elif scalar is not None:
                out[key] = scalar.coerce(v)
            else:
                out[key] = self.value.convert(v, f"{path}.{key}.member", errors)
        for text, check in self.length:
            if not check(out):
                errors.insert(mark, _violation(self.render(out), path, text))
                mark += 1
        if key_node.has_checks and not all(key_node.satisfied(k) for k in out):
            errors.append(
                _violation(
                    self.render(out),
                    path,
                    _bracketed("Map keys must satisfy constraint:", key_node, False),
                )
            )
        has_null = None in out.values()
        if scalar is not None:
            if has_null or (
                scalar.has_checks and not all(scalar.satisfied(v) for v in out.values())
            ):
                errors.append(
                    _violation(
                        self.render(out),
                        path,
                        _bracketed("Map value must satisfy constraint:", scalar, has_null),
                    )
                )
        elif has_null:
            errors.extend(
                _violation(None, f"{path}.{k}.member", _NOT_NULL)
                for k, v in out.items()
                if v is None
            )
        return out

    def render_plain(self, value: object) -> str:
        assert isinstance(value, dict)
        key_node, value_node = self.key, self.value
        return (
            "{"
            + ", ".join(
                f"{key_node.render(k)}={'null' if v is None else value_node.render(v)}"
                for k, v in value.items()
            )
            + "}"
        )


_Member = tuple[str, str, str, _Node, bool]  # name, wire key, path name, node, required


class _StructureNode(_Node):
    __slots__ = ("members", "union")

    def __init__(self, shape: Shape) -> None:
        super().__init__(shape)
        self.members: tuple[_Member, ...] = ()
        self.union = bool(shape.metadata.get("union"))

    def convert(self, value: object, path: str, errors: list[str]) -> object:
        if type(value) is not dict:
            raise SerializationError(_LIST_START if isinstance(value, list) else "Expected null")
        out: dict[str, object] = {}
        for name, key, path_name, node, required in self.members:
            v = value.get(key)
            if v is None:
                if required:
                    errors.append(_violation(None, _join(path, path_name), _NOT_NULL))
                continue
            out[name] = node.convert(v, f"{path}.{path_name}" if path else path_name, errors)
        if self.union and len(out) != 1:
            errors.append(_violation(self.render(out), path, _EXACTLY_ONE))
        return out

    def render_plain(self, value: object) -> str:
        assert isinstance(value, dict)
        # The AWS SDK for Java's toString: {Key: k,Value: v}
        parts = []
        for name, _key, _path, node, _required in self.members:
            if name in value:
                v = value[name]
                parts.append(f"{name}: {'null' if v is None else node.render(v)}")
        return "{" + ",".join(parts) + "}"


class _Compiler:
    def __init__(self, wire: Wire) -> None:
        self.wire: Wire = wire
        self.named: dict[str, _Node] = {}

    def node(self, shape: Shape) -> _Node:
        name = shape.name
        found = self.named.get(name) if name else None
        if found is not None:
            return found
        kind = shape.type_name
        node: _Node
        if kind == "structure":
            if shape.metadata.get("document"):
                node = _AnyNode(shape)
                self._remember(name, node)
                return node
            assert isinstance(shape, StructureShape)
            structure = _StructureNode(shape)
            self._remember(name, structure)
            required = set(shape.required_members)
            members: list[_Member] = []
            for member_name, member_shape in shape.members.items():
                if member_shape.serialization.get("location"):
                    continue  # header, URI or query members travel outside the body
                members.append(
                    (
                        member_name,
                        str(member_shape.serialization.get("name", member_name)),
                        _lower_first(member_name),
                        self.node(member_shape),
                        member_name in required,
                    )
                )
            structure.members = tuple(members)
            return structure
        if kind == "list":
            assert isinstance(shape, ListShape)
            listing = _ListNode(shape)
            self._remember(name, listing)
            listing.set_item(self.node(shape.member))
            return listing
        if kind == "map":
            assert isinstance(shape, MapShape)
            key = self.node(shape.key)
            if not isinstance(key, _ScalarNode):
                raise TypeError(f"map {name} has a key shape that is not a scalar")
            mapping = _MapNode(shape, key)
            self._remember(name, mapping)
            mapping.set_value(self.node(shape.value))
            return mapping
        if kind == "string":
            node = _StringNode(shape)
        elif kind in _INTEGRAL_NAMES or kind in _FLOAT_NAMES:
            node = _NumberNode(shape)
        elif kind == "boolean":
            node = _BooleanNode(shape)
        elif kind == "blob":
            node = _BlobNode(shape, self.wire)
        elif kind == "timestamp":
            node = _TimestampNode(shape, self.wire)
        else:
            node = _AnyNode(shape)
        self._remember(name, node)
        return node

    def _remember(self, name: str | None, node: _Node) -> None:
        if name:
            self.named[name] = node


class InputPlan:
    """The compiled check of one input shape; call it with a decoded value."""

    __slots__ = ("_root",)

    def __init__(self, shape: Shape | None, wire: Wire = "json") -> None:
        self._root: _Node | None = _Compiler(wire).node(shape) if shape is not None else None

    def __call__(self, value: Mapping[str, object]) -> dict[str, object]:
        root = self._root
        if root is None:
            return {}
        errors: list[str] = []
        if isinstance(value, Mapping) and type(value) is not dict:
            value = dict(value)
        out = root.convert(value, "", errors)
        if errors:
            raise _validation_error(errors)
        assert isinstance(out, dict)
        return out


def _validation_error(errors: list[str]) -> ValidationError:
    listed = errors[:MAX_LISTED_ERRORS]
    count = len(listed)
    plural = "error" if count == 1 else "errors"
    return ValidationError(f"{count} validation {plural} detected: {'; '.join(listed)}")


_plans_lock = threading.Lock()
_input_plans: dict[tuple[int, Wire], tuple[Shape | None, InputPlan]] = {}
# One table a wire, so that the JSON path finds its plan with a single lookup by id.
_operation_plans: dict[Wire, dict[int, tuple[OperationModel, InputPlan]]] = {
    "json": {},
    "cbor": {},
}


def compile_input(shape: Shape | None, wire: Wire = "json") -> InputPlan:
    """The input plan of `shape`, compiled once (cached on the shape object).

    `wire` says how blobs and timestamps travel: "json" accepts base64 text (and raw bytes) for a
    blob and epoch numbers or ISO-8601 / RFC 822 text for a timestamp; "cbor" only byte strings
    and epoch values (tag 1, decoded to datetimes, or bare numbers).
    """
    key = (id(shape), wire)
    cached = _input_plans.get(key)
    if cached is not None and cached[0] is shape:
        return cached[1]
    plan = InputPlan(shape, wire)
    with _plans_lock:
        # The shape is kept alive with its plan, so its id cannot be reused by another.
        _input_plans[key] = (shape, plan)
    return plan


def parse_input(
    op: OperationModel, params: dict[str, object], wire: Wire = "json"
) -> dict[str, object]:
    """Check a decoded request against the input shape of `op`; the converted members.

    Raises SerializationError for the first member of the wrong type (or bad base64), then
    ValidationError listing every constraint violation. Unknown members are ignored, null
    members are absent; blobs come back as bytes, timestamps as aware datetimes. `wire` is the
    protocol the value was decoded from (see `compile_input`).
    """
    plans = _operation_plans[wire]
    cached = plans.get(id(op))
    if cached is not None and cached[0] is op:
        return cached[1](params)
    plan = compile_input(op.input_shape, wire)
    with _plans_lock:
        # The operation is kept alive with its plan, so its id cannot be reused by another.
        plans[id(op)] = (op, plan)
    return plan(params)


# --- JSON framing -------------------------------------------------------------------------------


def decode_json_body(body: bytes) -> dict[str, object]:
    """The JSON object of a request body; an empty body is an empty object.

    Anything that is not a JSON object is a SerializationException; AWS answers malformed JSON,
    `null`, a string or a number with no message at all, and an array with the parser's words.
    """
    if not body:
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SerializationError("") from None
    return top_level_object(value)


def top_level_object(value: object) -> dict[str, object]:
    """A decoded request body that must be an object (a map): itself, or the error AWS answers
    (an array says so, anything else has no message)."""
    if type(value) is dict:
        return value
    if type(value) is list:
        raise SerializationError(_LIST_START)
    raise SerializationError("")


# --- output -------------------------------------------------------------------------------------

_Writer = Callable[[object], object]


def epoch_seconds(value: object) -> object:
    """A timestamp as epoch seconds, to the millisecond (a float, as AWS writes it)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_UTC)
        if value.microsecond % 1000:
            # Millisecond precision, as AWS writes it: 1450137600.0, 1450137600.123
            return ((value - _EPOCH) // _MS) / 1000
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise TypeError(f"a timestamp must be a datetime, not {type(value).__name__}")


def _iso8601(value: object) -> object:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_UTC)
        text = value.astimezone(_UTC).isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z")
    raise TypeError(f"a timestamp must be a datetime, not {type(value).__name__}")


def _rfc822(value: object) -> object:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_UTC)
        return format_datetime(value.astimezone(_UTC), usegmt=True)
    raise TypeError(f"a timestamp must be a datetime, not {type(value).__name__}")


def _base64(value: object) -> object:
    if isinstance(value, str):
        value = value.encode()
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"a blob must be bytes, not {type(value).__name__}")
    return base64.b64encode(value).decode("ascii")


def _json_timestamp_writer(shape: Shape) -> _Writer:
    """A timestamp member's JSON form: epoch seconds unless the model names another format."""
    return {"iso8601": _iso8601, "rfc822": _rfc822}.get(
        str(shape.serialization.get("timestampFormat", "")), epoch_seconds
    )


@dataclass(frozen=True)
class OutputForm:
    """How one wire writes the only scalars whose form differs between protocols."""

    wire: Wire
    timestamp: Callable[[Shape], _Writer]  # the writer for a timestamp shape
    blob: _Writer


JSON_OUTPUT: Final = OutputForm("json", _json_timestamp_writer, _base64)


class _OutputCompiler:
    def __init__(self, form: OutputForm) -> None:
        self.form = form
        self.named: dict[str, _Writer | None] = {}
        # Writers of structures that are still being compiled (recursive shapes).
        self.pending: dict[str, _Writer] = {}

    def writer(self, shape: Shape) -> _Writer | None:
        """How to turn a value of `shape` into data the wire's encoder takes as it is; None
        when it already is."""
        name = shape.name
        if name in self.named:
            return self.named[name]
        if name in self.pending:
            return self.pending[name]
        kind = shape.type_name
        result: _Writer | None
        if kind == "structure" and not shape.metadata.get("document"):
            assert isinstance(shape, StructureShape)
            result = self._structure(shape)
        elif kind == "list":
            assert isinstance(shape, ListShape)
            item = self.writer(shape.member)
            result = None if item is None else _list_writer(item)
        elif kind == "map":
            assert isinstance(shape, MapShape)
            entry = self.writer(shape.value)
            result = None if entry is None else _map_writer(entry)
        elif kind == "timestamp":
            result = self.form.timestamp(shape)
        elif kind == "blob":
            result = self.form.blob
        else:
            result = None
        self.named[name] = result
        return result

    def _structure(self, shape: StructureShape) -> _Writer:
        shape_name = shape.name
        # Filled after `write` exists, so that a recursive shape finds it while compiling.
        wires: dict[str, str] = {}
        converters: list[tuple[str, _Writer]] = []
        member_names = wires.keys()

        def write(value: object) -> object:
            if type(value) is not dict and not isinstance(value, Mapping):
                kind = type(value).__name__
                raise TypeError(f"{shape_name} must be a mapping, not {kind}")
            if not value.keys() <= member_names:
                unknown = sorted(set(value) - set(member_names))
                raise ValueError(f"{shape_name} has no member {', '.join(unknown)}")
            # Copying in C and converting the few members that need it beats a Python loop
            # over every member.
            if None in value.values():
                out = {k: v for k, v in value.items() if v is not None}
            else:
                out = dict(value)
            for k, conv in converters:
                v = out.get(k)
                if v is not None:
                    out[k] = conv(v)
            return out

        def write_renamed(value: object) -> object:
            out = write(value)
            assert isinstance(out, dict)
            return {wires[k]: v for k, v in out.items()}

        self.pending[shape_name] = write
        renamed = False
        for member_name, member_shape in shape.members.items():
            wire = str(member_shape.serialization.get("name", member_name))
            wires[member_name] = wire
            renamed = renamed or wire != member_name
            conv = self.writer(member_shape)
            if conv is not None:
                converters.append((member_name, conv))
        del self.pending[shape_name]
        return write_renamed if renamed else write


def _list_writer(item: _Writer) -> _Writer:
    def write(value: object) -> object:
        if type(value) is not list and (
            isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__")
        ):
            raise TypeError(f"a list must be a sequence, not {type(value).__name__}")
        assert isinstance(value, Iterable)
        return [None if v is None else item(v) for v in value]

    return write


def _map_writer(entry: _Writer) -> _Writer:
    def write(value: object) -> object:
        if not isinstance(value, Mapping):
            raise TypeError(f"a map must be a mapping, not {type(value).__name__}")
        return {k: None if v is None else entry(v) for k, v in value.items()}

    return write


def _empty_output(value: object) -> object:
    if not isinstance(value, Mapping):
        raise TypeError(f"an output must be a mapping, not {type(value).__name__}")
    if value:
        raise ValueError(f"the operation has no output members, got {sorted(value)}")
    return {}


_output_writers: dict[Wire, dict[int, tuple[object, _Writer]]] = {"json": {}, "cbor": {}}


def _output_writer(op: OperationModel, form: OutputForm) -> _Writer:
    writers = _output_writers[form.wire]
    cached = writers.get(id(op))
    if cached is not None and cached[0] is op:
        return cached[1]
    shape = op.output_shape
    writer = _OutputCompiler(form).writer(shape) if shape is not None else None
    if writer is None:
        writer = _empty_output
    with _plans_lock:
        writers[id(op)] = (op, writer)
    return writer


def output_data(op: OperationModel, result: Mapping[str, object], form: OutputForm) -> object:
    """The answer to `op` as plain data for the encoder of `form`'s wire: members by the output
    shape (renamed as the model says), None members left out, blobs and timestamps written by
    `form`. A key that is not a member of the shape is a programming error (ValueError)."""
    return _output_writer(op, form)(result)


def serialize_output(op: OperationModel, result: Mapping[str, object] | None) -> bytes:
    """The JSON body answering `op`: members by the output shape, None members left out.

    Timestamps become epoch seconds (millisecond fraction), blobs base64. A key that is not a
    member of the shape is a programming error and raises ValueError.
    """
    if result is None:
        return b"{}"
    return orjson.dumps(_output_writer(op, JSON_OUTPUT)(result))


def serialize_error(error: ApiError) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of an error answer: {"__type": code, "message": ...}.

    An empty message is left out of the body, as AWS leaves it out of UnknownOperationException
    and of SerializationException for a body that is not JSON.
    """
    body: dict[str, str] = {"__type": error.code}
    if error.message:
        body[error.message_member] = error.message
    headers = {"Content-Type": CONTENT_TYPE, "x-amzn-ErrorType": error.code}
    return error.status, headers, orjson.dumps(body)
