"""JSON parsing that turns every bad body into a clear 4xx before any view code runs.

Bodies are read up to DATA_UPLOAD_MAX_MEMORY_SIZE (DRF's own parser has no limit), and strings a
database cannot store (NUL characters, lone surrogates) are refused here rather than failing
later inside PostgreSQL as a 500.
"""

import json
import re

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

# A \u0000 escape not itself escaped (preceded by an even number of backslashes).
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON; send null or a finite number")


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        too_large = PayloadTooLarge(
            f"Request body exceeds {limit} bytes; split the batch into smaller requests."
        )
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_large  # refuse before reading what the client says is too much
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise too_large
        if b"\x00" in raw or (b"\\u0000" in raw and _ESCAPED_NUL.search(raw)):
            raise ParseError("JSON strings must not contain NUL (\\u0000) characters.")
        try:
            data = json.loads(raw, parse_constant=_reject_constant)
        except RecursionError as exc:
            raise ParseError("JSON body is nested too deeply.") from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"Malformed JSON body: {exc}. Send UTF-8 encoded JSON.") from exc
        if b"\\ud" in raw.lower():
            try:
                json.dumps(data, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ParseError(
                    "JSON strings must be valid Unicode: a lone surrogate escape (\\ud800-\\udfff) "
                    "was found."
                ) from exc
        return data
