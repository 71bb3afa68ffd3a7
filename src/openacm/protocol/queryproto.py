"""The AWS Query protocol (STS, IAM): a form-encoded POST naming its Action, XML answers.

Input: the form's flattened members (`PolicyArns.member.1.arn`, `Tags.member.2.Key`) are put
back into the input shape's structure and then checked by the same model-driven validation as
the JSON APIs (`jsonproto.parse_input`). Output: `<OpResponse xmlns=…><OpResult>…</OpResult>
<ResponseMetadata><RequestId>…` as the Query services write it; errors as `<ErrorResponse>`
with the Query services' codes (AccessDenied, InvalidClientTokenId, ExpiredToken…).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree

from botocore.model import OperationModel, Shape

from openacm.domain.errors import ApiError

CONTENT_TYPE = "application/x-www-form-urlencoded"
XML_CONTENT_TYPE = "text/xml"

# The JSON services' codes of the errors raised below the endpoint, as Query services name
# them, with their status.
_QUERY_CODES: dict[str, tuple[str, int]] = {
    "AccessDeniedException": ("AccessDenied", 403),
    "UnrecognizedClientException": ("InvalidClientTokenId", 403),
    "InvalidSignatureException": ("SignatureDoesNotMatch", 403),
    "IncompleteSignatureException": ("IncompleteSignature", 400),
    "MissingAuthenticationTokenException": ("MissingAuthenticationToken", 403),
    "ExpiredTokenException": ("ExpiredToken", 400),
    "ValidationException": ("ValidationError", 400),
    "SerializationException": ("MalformedInput", 400),
    "UnknownOperationException": ("InvalidAction", 400),
}


class InvalidActionError(ApiError):
    code = "InvalidAction"


def is_query_request(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() == CONTENT_TYPE


def form_fields(body: bytes) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def action_of(body: bytes) -> str:
    return form_fields(body).get("Action", "")


def input_params(operation: OperationModel, body: bytes) -> dict[str, object]:
    """The form's members, structured as the input shape (values still as the form's
    text, numbers and booleans converted)."""
    shape = operation.input_shape
    if shape is None:
        return {}
    return _structure(shape, _Form(form_fields(body)), "")


class _Form:
    """The form's fields, and every dotted prefix of their names (so that a member's
    presence is one look-up, however many fields a request sends)."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        self.prefixes: set[str] = set()
        for name in fields:
            parts = name.split(".")
            for end in range(1, len(parts)):
                self.prefixes.add(".".join(parts[:end]))


def _structure(shape: Shape, form: _Form, prefix: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, member in getattr(shape, "members", {}).items():
        value = _value(member, form, f"{prefix}{name}")
        if value is not None:
            out[name] = value
    return out


def _value(shape: Shape, form: _Form, key: str) -> object:
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape, form, f"{key}.") if key in form.prefixes else None
    if kind == "list":
        member = getattr(shape, "member", None)
        assert member is not None
        items: list[object] = []
        while True:
            item = _value(member, form, f"{key}.member.{len(items) + 1}")
            if item is None:
                break
            items.append(item)
        if not items and form.fields.get(key) == "":
            return []
        return items or None
    text = form.fields.get(key)
    if text is None:
        return None
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            return text  # refused by validation with the model's words
    if kind == "boolean":
        return text.lower() == "true"
    return text


def output_xml(operation: OperationModel, result: Mapping[str, Any], request_id: str) -> bytes:
    namespace = operation.service_model.metadata.get("xmlNamespace", "")
    root = ElementTree.Element(f"{operation.name}Response", xmlns=namespace)
    shape = operation.output_shape
    body = ElementTree.SubElement(root, f"{operation.name}Result")
    if shape is not None:
        _write(body, shape, result)
    metadata = ElementTree.SubElement(root, "ResponseMetadata")
    ElementTree.SubElement(metadata, "RequestId").text = request_id
    return bytes(ElementTree.tostring(root, encoding="utf-8", xml_declaration=False))


def _write(parent: ElementTree.Element, shape: Shape, value: Any) -> None:
    kind = shape.type_name
    if kind == "structure":
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _write(ElementTree.SubElement(parent, name), member, value[name])
    elif kind == "list":
        for item in value:
            _write(ElementTree.SubElement(parent, "member"), shape.member, item)
    elif kind == "timestamp":
        when = value if isinstance(value, dt.datetime) else dt.datetime.fromtimestamp(value, dt.UTC)
        parent.text = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    elif kind == "boolean":
        parent.text = "true" if value else "false"
    else:
        parent.text = str(value)


def error_answer(error: ApiError, request_id: str, namespace: str) -> tuple[int, bytes]:
    code, status = _QUERY_CODES.get(error.code, (error.code, error.status))
    root = ElementTree.Element("ErrorResponse", xmlns=namespace)
    detail = ElementTree.SubElement(root, "Error")
    ElementTree.SubElement(detail, "Type").text = "Receiver" if status >= 500 else "Sender"
    ElementTree.SubElement(detail, "Code").text = code
    ElementTree.SubElement(detail, "Message").text = error.message
    ElementTree.SubElement(root, "RequestId").text = request_id
    return status, bytes(ElementTree.tostring(root, encoding="utf-8"))
