"""Smithy RPC v2 CBOR (`smithy.protocols#rpcv2Cbor`) on the wire, for the APIs whose model lists
it in `protocols` (ACM-PCA lists "smithy-rpc-v2-cbor" before "json").

Only the framing lives here. A request is `POST /service/{ServiceName}/operation/{Operation}`
with `smithy-protocol: rpc-v2-cbor` and a CBOR map of the input; botocore's
`RpcV2CBORSerializer` puts the model's `targetPrefix` in the ServiceName segment (for ACM-PCA
"ACMPrivateCA", the Smithy service shape's name), so that is the name matched. The decoded map
goes through the same input plan as a JSON body (`jsonproto.parse_input` with the "cbor" wire),
so type errors and every constraint message are JSON's; only blobs (byte strings) and
timestamps (tag 1, epoch seconds) have forms of their own. Answers are CBOR maps written by the
same output plans, and errors carry `__type` as an absolute Smithy shape id, which is what the
protocol requires and what botocore's `RpcV2CBORParser` strips down to the code.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Mapping
from typing import Final

import cbor2
from botocore.model import OperationModel, Shape

from openacm.domain.errors import ApiError
from openacm.protocol.errors import SerializationError
from openacm.protocol.jsonproto import (
    OutputForm,
    epoch_seconds,
    output_data,
    parse_input,
    top_level_object,
)
from openacm.protocol.model import ApiModel

__all__ = [
    "CONTENT_TYPE",
    "PROTOCOL",
    "PROTOCOL_HEADER",
    "PROTOCOL_ID",
    "decode_cbor_body",
    "error_type",
    "parse_cbor_input",
    "route",
    "serialize_cbor_error",
    "serialize_cbor_output",
    "serves_rpc_v2_cbor",
]

CONTENT_TYPE: Final = "application/cbor"
PROTOCOL_HEADER: Final = "smithy-protocol"
PROTOCOL: Final = "rpc-v2-cbor"  # the value of the smithy-protocol header
PROTOCOL_ID: Final = "smithy-rpc-v2-cbor"  # its name in a model's `protocols`

# The botocore models drop the Smithy namespace of a service, which an error's shape id needs;
# this is the one fact about a model that is not in botocore's data.
SERVICE_NAMESPACES: Final = {"acm-pca": "com.amazonaws.acmpca"}
# Errors no service models come from the AWS front end (Coral), which names them in its own
# namespaces, as its JSON answers show (com.amazon.coral.service#UnrecognizedClientException).
_FRAMEWORK_NAMESPACE: Final = "com.amazon.coral.service"
_VALIDATION_NAMESPACE: Final = "com.amazon.coral.validate"

# Deeper than any model shape nests; a guard against cycles built with CBOR's shared-value tags.
MAX_DEPTH: Final = 64

# The integers CBOR holds without a bignum tag (major types 0 and 1).
_CBOR_INT_MAX: Final = (1 << 64) - 1
_CBOR_INT_MIN: Final = -(1 << 64)
_PATH_PREFIX: Final = "/service/"
_OPERATION_SEGMENT: Final = "operation"
_RESPONSE_HEADERS: Final = {"Content-Type": CONTENT_TYPE, "smithy-protocol": PROTOCOL}


def serves_rpc_v2_cbor(model: ApiModel) -> bool:
    return PROTOCOL_ID in model.protocols


def route(path: str) -> tuple[str, str]:
    """The (ServiceName, OperationName) a request path names, or ("", "") when it is not of
    the form /service/{ServiceName}/operation/{OperationName}."""
    if not path.startswith(_PATH_PREFIX):
        return "", ""
    segments = path[len(_PATH_PREFIX) :].split("/")
    if len(segments) != 3 or segments[1] != _OPERATION_SEGMENT:
        return "", ""
    service, _, operation = segments
    if not service or not operation:
        return "", ""
    return service, operation


# --- requests ----------------------------------------------------------------------------------


def decode_cbor_body(body: bytes) -> dict[str, object]:
    """The CBOR map of a request body; an empty body is an empty map.

    A body that is not one well-formed CBOR data item, or holds what the protocol has no shape
    for (tags other than the date/time ones, bignums beyond 64 bits, decimals, simple values), is a
    SerializationException with no message, as a body that is not JSON is; a top-level array
    says so. CBOR's `undefined` is null, as the protocol requires.
    """
    if not body:
        return {}
    stream = io.BytesIO(body)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORError, ValueError, OverflowError, RecursionError):
        raise SerializationError("") from None
    if stream.tell() != len(body):
        raise SerializationError("")  # bytes after the data item
    return top_level_object(_plain(value, 0))


def parse_cbor_input(op: OperationModel, body: bytes) -> dict[str, object]:
    """Decode a request body and check it against the input of `op` (JSON's code path)."""
    return parse_input(op, decode_cbor_body(body), "cbor")


def _plain(value: object, depth: int) -> object:
    """`value` as the data the input plans take: maps with text keys, lists, text, bytes,
    numbers, booleans, None and (tag 1) datetimes."""
    kind = type(value)
    if kind is str or kind is bytes or kind is bool or kind is float:
        return value
    if kind is int:
        assert isinstance(value, int)
        if _CBOR_INT_MIN <= value <= _CBOR_INT_MAX:
            return value
        raise SerializationError("")  # a bignum (tag 2 or 3), which no shape here has
    if value is None or value is cbor2.undefined:
        return None
    if depth >= MAX_DEPTH:
        raise SerializationError("")
    if kind is dict:
        assert isinstance(value, dict)
        if not all(type(key) is str for key in value):
            raise SerializationError("")
        return {key: _plain(item, depth + 1) for key, item in value.items()}
    if kind is list:
        assert isinstance(value, list)
        return [_plain(item, depth + 1) for item in value]
    if kind is dt.datetime:
        return value
    raise SerializationError("")


# --- answers -----------------------------------------------------------------------------------


def _epoch_tag(value: object) -> object:
    seconds = epoch_seconds(value)
    if isinstance(seconds, float) and seconds.is_integer():
        seconds = int(seconds)  # the smallest form that holds it, as the protocol asks
    return cbor2.CBORTag(1, seconds)


def _byte_string(value: object) -> object:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"a blob must be bytes, not {type(value).__name__}")


def _cbor_timestamp_writer(_shape: Shape) -> Callable[[object], object]:
    # The protocol has one timestamp form; a model's timestampFormat is not respected.
    return _epoch_tag


CBOR_OUTPUT: Final = OutputForm("cbor", _cbor_timestamp_writer, _byte_string)


def serialize_cbor_output(
    op: OperationModel, result: Mapping[str, object] | None
) -> tuple[dict[str, str], bytes]:
    """Headers and body answering `op`: a CBOR map of the output, or no body at all (and no
    Content-Type) for an operation without output, as the protocol specifies."""
    data = output_data(op, result or {}, CBOR_OUTPUT)
    if op.output_shape is None:
        return {"smithy-protocol": PROTOCOL}, b""
    return _RESPONSE_HEADERS, cbor2.dumps(data)


def error_type(error: ApiError, model: ApiModel | None) -> str:
    """The absolute shape id of `error` for the `__type` member: the service's own shape when
    its model declares the code, else the front end's."""
    if model is not None:
        shape_name = model.error_shapes.get(error.code)
        namespace = SERVICE_NAMESPACES.get(model.service_name)
        if shape_name is not None and namespace is not None:
            return f"{namespace}#{shape_name}"
    if error.code == "ValidationException":
        return f"{_VALIDATION_NAMESPACE}#{error.code}"
    return f"{_FRAMEWORK_NAMESPACE}#{error.code}"


def serialize_cbor_error(
    error: ApiError, model: ApiModel | None
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of an error answer: a CBOR map {"__type": shape id,
    "message": ...}; an empty message is left out, as in the JSON answer."""
    body: dict[str, str] = {"__type": error_type(error, model)}
    if error.message:
        body[error.message_member] = error.message
    return error.status, _RESPONSE_HEADERS, cbor2.dumps(body)
