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


class NotImplementedOperationError(ApiError):
    """An operation of the model that openacm has not built yet: said plainly, never faked."""

    code = "NotImplementedException"
    status = 501


class RequestEntityTooLargeError(ApiError):
    code = "RequestEntityTooLargeException"
    status = 413
