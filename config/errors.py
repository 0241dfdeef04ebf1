"""The one error format of the API (API.md §1) and the handler that makes it.

Every error, whoever raises it, leaves as
    {"error": {"code": "...", "message": "...", "fields": {...}}}
Domain errors subclass DomainError in each app's errors.py; DRF's own
exceptions, Django's ValidationError and Http404 are mapped here; anything
unexpected is logged with its traceback and answered `internal_error` with no
detail, so no stack trace or personal data leaves the process.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

logger = logging.getLogger("altar.errors")

FieldErrors = dict[str, list[dict[str, str]]]


class DomainError(Exception):
    """A refusal the API answers with a stable code (subclass per case)."""

    code = "error"
    status = 400
    message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, fields: FieldErrors | None = None):
        self.message = message or self.message
        self.fields = fields or {}
        super().__init__(self.message)


class NotFound(DomainError):
    code = "not_found"
    status = 404
    message = "Not found."


def error_body(code: str, message: str, fields: FieldErrors | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def error_json_response(status: int, code: str, message: str, **headers: str) -> JsonResponse:
    """For the few places outside DRF (404/500 handlers, health checks)."""
    response = JsonResponse(error_body(code, message), status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _flatten_details(details: Any, prefix: str = "") -> FieldErrors:
    """DRF's get_full_details() nests dicts and lists; the contract wants
    `field` (or `field.0.sub`) -> [{code, message}]."""
    out: FieldErrors = {}
    if isinstance(details, dict) and {"message", "code"} <= set(details):
        out.setdefault(prefix or "non_field_errors", []).append(
            {"code": str(details["code"]), "message": str(details["message"])}
        )
    elif isinstance(details, dict):
        for key, value in details.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for field, errors in _flatten_details(value, name).items():
                out.setdefault(field, []).extend(errors)
    elif isinstance(details, list):
        for index, value in enumerate(details):
            # A flat list of errors belongs to the field itself; a list of
            # dicts is a list of nested objects, indexed.
            is_leaf = isinstance(value, dict) and {"message", "code"} <= set(value)
            name = prefix if is_leaf else (f"{prefix}.{index}" if prefix else str(index))
            for field, errors in _flatten_details(value, name).items():
                out.setdefault(field, []).extend(errors)
    return out


def _django_validation_fields(exc: DjangoValidationError) -> FieldErrors:
    details = as_serializer_error(exc)  # message strings, codes lost
    fields: FieldErrors = {}
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            name = "non_field_errors" if field == "__all__" else field
            fields[name] = [
                {"code": e.code or "invalid", "message": " ".join(e.messages)} for e in errors
            ]
        return fields
    return {
        "non_field_errors": [
            {"code": getattr(exc, "code", None) or "invalid", "message": str(m)}
            for m in details.get("non_field_errors", [])
        ]
    }


_DRF_CODES: dict[type[drf.APIException], str] = {
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.PermissionDenied: "permission_denied",
    drf.NotAuthenticated: "not_authenticated",
    drf.AuthenticationFailed: "authentication_failed",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception a view raises ends here."""
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        status, code, message, fields = exc.status, exc.code, exc.message, exc.fields
        # A refusal that ends by itself says when (e.g. hold_limit_reached).
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
    elif isinstance(exc, drf.ValidationError):
        status, code, message = 400, "validation_error", "The request is invalid."
        fields = _flatten_details(exc.get_full_details())
    elif isinstance(exc, drf.ParseError):
        status, code, message, fields = 400, "validation_error", "Malformed request body.", {}
        fields = {"body": [{"code": "parse_error", "message": str(exc.detail)}]}
    elif isinstance(exc, drf.Throttled):
        status, code = 429, "rate_limited"
        message, fields = "Too many requests; retry later.", {}
        headers["Retry-After"] = str(int(exc.wait or 1))
    elif isinstance(exc, drf.APIException):
        status = exc.status_code
        code = getattr(exc, "altar_code", None) or next(
            (c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error"
        )
        message, fields = str(exc.detail), {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
    elif isinstance(exc, Http404):
        status, code, message, fields = 404, "not_found", "Not found.", {}
    elif isinstance(exc, DjangoPermissionDenied):
        status, code, message, fields = 403, "permission_denied", "Permission denied.", {}
    elif isinstance(exc, DjangoValidationError):
        status, code, message = 400, "validation_error", "The request is invalid."
        fields = _django_validation_fields(exc)
    elif isinstance(exc, RequestDataTooBig):
        status, code, message, fields = 413, "payload_too_large", "Request body too large.", {}
    elif isinstance(exc, SuspiciousOperation):
        status, code, message, fields = 400, "bad_request", "Bad request.", {}
    else:
        request = context.get("request")
        logger.exception(
            "Unhandled API error on %s %s",
            getattr(request, "method", "?"),
            getattr(request, "path", "?"),
        )
        status, code, message, fields = 500, "internal_error", "Internal error.", {}
    return Response(error_body(code, message, fields), status=status, headers=headers)
