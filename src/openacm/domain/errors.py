"""The failures an API call can end in, named by the error codes of the AWS APIs.

Every layer raises these; the protocol layer renders them as `{"__type": code, "message": ...}`
with the HTTP status given here. The codes are the API's vocabulary (what boto3 users catch),
so the domain may name them without knowing anything about HTTP or JSON.
"""

from __future__ import annotations

from typing import ClassVar


class ApiError(Exception):
    """A refusal or failure that the caller sees as an AWS error code and message."""

    code: ClassVar[str] = "InternalFailure"
    status: ClassVar[int] = 400
    # The member that carries the message in the model's error shape ("message" for almost
    # every ACM error, "Message" for AccessDeniedException).
    message_member: ClassVar[str] = "message"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(ApiError):
    code = "ValidationException"


class InvalidArnError(ApiError):
    code = "InvalidArnException"


class ResourceNotFoundError(ApiError):
    code = "ResourceNotFoundException"


class ResourceInUseError(ApiError):
    code = "ResourceInUseException"


class InvalidTagError(ApiError):
    code = "InvalidTagException"


class TooManyTagsError(ApiError):
    code = "TooManyTagsException"


class TagPolicyError(ApiError):
    code = "TagPolicyException"


class InvalidParameterError(ApiError):
    code = "InvalidParameterException"


class InvalidArgsError(ApiError):
    code = "InvalidArgsException"


class MalformedCSRError(ApiError):
    code = "MalformedCSRException"


class LimitExceededError(ApiError):
    code = "LimitExceededException"


class ServiceQuotaExceededError(ApiError):
    code = "ServiceQuotaExceededException"


class ConflictError(ApiError):
    code = "ConflictException"


class InvalidStateError(ApiError):
    code = "InvalidStateException"


class RequestInProgressError(ApiError):
    code = "RequestInProgressException"


class InvalidDomainValidationOptionsError(ApiError):
    code = "InvalidDomainValidationOptionsException"


class AccessDeniedError(ApiError):
    code = "AccessDeniedException"
    message_member = "Message"


class ThrottlingError(ApiError):
    code = "ThrottlingException"


class InternalServerError(ApiError):
    """A real fault on our side; the only kind of error answered with a 5xx status."""

    code = "InternalFailure"
    status = 500
