"""Errors that belong to the wire rather than to any one service: framing, auth, dispatch.

Codes and message texts follow what AWS's JSON services answer, so SDKs classify them the
same way (botocore treats none of these as retryable, except the 5xx fault).
"""

from __future__ import annotations

from openacm.domain.errors import ApiError


class SerializationError(ApiError):
    """The body is not JSON, or a member has the wrong JSON type."""

    code = "SerializationException"


class UnknownOperationError(ApiError):
    code = "UnknownOperationException"


class MissingAuthenticationTokenError(ApiError):
    code = "MissingAuthenticationTokenException"
    status = 400


class IncompleteSignatureError(ApiError):
    code = "IncompleteSignatureException"


class InvalidSignatureError(ApiError):
    code = "InvalidSignatureException"


class UnrecognizedClientError(ApiError):
    code = "UnrecognizedClientException"


class ExpiredTokenError(ApiError):
    code = "ExpiredTokenException"


class NotImplementedOperationError(ApiError):
    """An operation of the model that openacm has not built yet: said plainly, never faked."""

    code = "NotImplementedException"
    status = 501


class RequestEntityTooLargeError(ApiError):
    code = "RequestEntityTooLargeException"
    status = 413


# --- Smithy RPC v2 CBOR routing: the answers of Smithy's own servers (smithy-rs) -------------


class OperationNotRoutedError(ApiError):
    """An RPC v2 CBOR request that names no operation this endpoint serves under that protocol:
    another path, service or operation, no `smithy-protocol: rpc-v2-cbor`, or an X-Amz-Target
    header (which the protocol forbids)."""

    code = "UnknownOperationException"
    status = 404


class MethodNotAllowedError(ApiError):
    """An RPC v2 CBOR path requested with another method than POST."""

    code = "UnknownOperationException"
    status = 405


class UnsupportedMediaTypeError(ApiError):
    code = "UnsupportedMediaTypeException"
    status = 415


class NotAcceptableError(ApiError):
    code = "NotAcceptableException"
    status = 406
