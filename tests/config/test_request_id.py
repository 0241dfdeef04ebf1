"""Every response carries X-Request-ID; log lines carry the same id."""

from __future__ import annotations

import json
import logging

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def test_a_request_id_is_generated_and_echoed(client):
    response = client.get("/healthz")

    assert len(response["X-Request-ID"]) == 32


def test_a_well_formed_incoming_request_id_is_kept(client):
    incoming = "0f6a2c1e9b8d4e7fa1b2c3d4e5f60718"

    response = client.get("/healthz", HTTP_X_REQUEST_ID=incoming)

    assert response["X-Request-ID"] == incoming


def test_a_malformed_incoming_request_id_is_replaced(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="<script>")

    assert response["X-Request-ID"] != "<script>"
    assert len(response["X-Request-ID"]) == 32


def test_json_log_lines_carry_the_request_id():
    from logging.config import dictConfig

    config = json.loads(json.dumps(settings.LOGGING))
    config["handlers"]["console"]["formatter"] = "json"
    dictConfig(config)
    formatter = logging.getLogger().handlers[0].formatter
    handler_filter = logging.getLogger().handlers[0].filters[0]
    record = logging.LogRecord(
        "altar.test", logging.INFO, __file__, 1, "hello %s", ("world",), None
    )
    handler_filter.filter(record)

    line = json.loads(formatter.format(record))

    assert line["message"] == "hello world"
    assert line["level"] == "INFO"
    assert line["name"] == "altar.test"
    assert "request_id" in line and "time" in line
    dictConfig(settings.LOGGING)


def test_a_request_logs_one_json_access_line_with_its_id(tenant_api):
    import io

    from django.utils.module_loading import import_string

    # The production console handler's formatter and filter, on a buffer.
    formatter_config = dict(settings.LOGGING["formatters"]["json"])
    formatter = import_string(formatter_config.pop("()"))(**formatter_config)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(import_string(settings.LOGGING["filters"]["request_id"]["()"])())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        # A miss (404): django.request would add a warning line of its own.
        response = tenant_api.get("/api/v1/packages/no-such-package?page=2")
    finally:
        root.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]

    assert response.status_code == 404
    assert len(lines) == 1
    line = lines[0]
    assert line["name"] == "altar.access"
    assert line["request_id"] == response["X-Request-ID"]
    assert (line["method"], line["path"], line["status"]) == (
        "GET",
        "/api/v1/packages/no-such-package",
        404,
    )
    assert isinstance(line["ms"], float)
