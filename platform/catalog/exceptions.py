"""One JSON error shape for the whole API: ``{"detail": ..., "code": ..., "errors": [...]}``.

``errors`` lists ``{"field", "message"}`` entries (plus ``"index"`` for a row of a batch), so a
client developer can see exactly which input to fix.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from catalog.parsers import PayloadTooLarge


class BatchValidationError(exceptions.APIException):
    """A batch with bad rows: nothing was written; ``errors`` names each row and field."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_batch"

    def __init__(self, errors: list[dict]):
        self.errors = errors
        rows = {error["index"] for error in errors if "index" in error}
        if rows:
            message = (
                f"{len(rows)} row(s) of the batch are invalid; nothing was written. Fix the rows "
                "listed in 'errors' and resend the whole batch."
            )
        else:
            message = "The request body is invalid; nothing was written. See 'errors'."
        super().__init__(message)


# Seconds a client waits before retrying while the database is unreachable; a restart or a
# fail-over takes about that long.
DATABASE_RETRY_AFTER_SECONDS = 5


class DatabaseUnavailable(exceptions.APIException):
    """The database is unreachable (down, restarting, out of connections): a client retries,
    and its retry is safe, since every write is idempotent (``event_id``) or all-or-nothing."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "database_unavailable"

    def __init__(self, error: Exception):
        super().__init__(
            "The database is unreachable; nothing of this request is guaranteed written. Retry "
            f"after {DATABASE_RETRY_AFTER_SECONDS} s with the same body (events are idempotent "
            f"by event_id). ({type(error).__name__})"
        )


def flatten_errors(detail, prefix: str = "", index: int | None = None) -> list[dict]:
    """Turn DRF's nested error detail into a flat list of {field, message} entries."""
    entries = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            field = key if key != "non_field_errors" else ""
            entries += flatten_errors(
                value, f"{prefix}.{field}" if prefix and field else prefix or field, index
            )
    elif isinstance(detail, list) and detail and all(isinstance(d, str) for d in detail):
        entries += [_entry(prefix, str(message), index) for message in detail]
    elif isinstance(detail, list):
        for position, value in enumerate(detail):
            if value:
                entries += flatten_errors(
                    value, f"{prefix}.{position}" if prefix else str(position), index
                )
    else:
        entries.append(_entry(prefix, str(detail), index))
    return entries


def _entry(field: str, message: str, index: int | None) -> dict:
    entry = {"field": field, "message": message}
    if index is not None:
        entry = {"index": index, **entry}
    return entry


def api_exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(
            f"Request body exceeds {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes; split the batch "
            "into smaller requests."
        )
    if isinstance(exc, OperationalError | InterfaceError):
        exc = DatabaseUnavailable(exc)
    response = exception_handler(exc, context)
    if isinstance(exc, DatabaseUnavailable):
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    if response is None:
        return None  # an unexpected error: a bug, left to Django's 500 handling and logging
    body = {"code": getattr(exc, "default_code", "error")}
    if isinstance(exc, BatchValidationError):
        body.update(detail=str(exc.detail), errors=exc.errors)
    elif isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        summary = "; ".join(
            f"{error['field']}: {error['message']}" if error["field"] else error["message"]
            for error in errors[:5]
        )
        body.update(detail=f"Invalid input. {summary}", errors=errors)
    else:
        data = response.data
        detail = data.get("detail", data) if isinstance(data, dict) else data
        body.update(detail=str(detail), code=getattr(detail, "code", None) or body["code"])
    return Response(body, status=response.status_code, headers=_headers(response))


def _headers(response) -> dict:
    return {
        name: value
        for name, value in response.items()
        if name in {"Retry-After", "WWW-Authenticate", "Allow"}
    }


def json_not_found(request, exception=None):
    """404 for URLs that match no route: JSON under /api/, so API clients never parse HTML."""
    if not request.path.startswith("/api/"):
        return defaults.page_not_found(request, exception)
    return JsonResponse(
        {"detail": f"No endpoint at {request.path}; see /api/docs/.", "code": "not_found"},
        status=404,
    )


def json_server_error(request):
    if not request.path.startswith("/api/"):
        return defaults.server_error(request)
    return JsonResponse(
        {"detail": "Internal server error; it has been logged.", "code": "server_error"}, status=500
    )
