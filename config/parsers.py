"""Request body parsing for the API."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

# Deeper than any body the API takes (checkout is two levels); deep enough
# for any future one. Python's json module recurses per level and raises
# RecursionError near 1,000, and everything that walks the data afterwards
# (serializers, the idempotency fingerprint) recurses too.
MAX_JSON_DEPTH = 32


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether lists/objects nest more than `limit` levels (no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing bodies nested deeper than MAX_JSON_DEPTH
    with a ParseError (400 validation_error) instead of a RecursionError (500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep.") from exc
        if _deeper_than(data, MAX_JSON_DEPTH):
            raise ParseError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep.")
        return data
