"""``api.redaction``: no credential of a Prometheus address (or a header) is ever printed."""

from __future__ import annotations

import logging

import pytest

from kpi_operator.api.redaction import redact
from kpi_operator.runtime.log_redaction import RedactingFilter


@pytest.mark.parametrize(
    "text, secret, kept",
    [
        pytest.param("Prometheus at http://alice:s3cret@prom:9090 is unreachable", "s3cret", "http://***@prom:9090 is unreachable", id="user and password"),
        pytest.param("https://alice@prom.example:443/api/v1/query", "alice", "https://***@prom.example:443/api/v1/query", id="user only (may be a token)"),
        pytest.param("http://alice:p@ss@prom:9090/", "ss@prom", "http://***@prom:9090/", id="an unescaped @ in the password"),
        pytest.param("http://prom:9090/api/v1/query?access_token=abc123&query=up", "abc123", "access_token=***&query=up", id="a token in the query string"),
        pytest.param("http://prom:9090/?api_key=k3y", "k3y", "api_key=***", id="an api key in the query string"),
        pytest.param("headers {'Authorization': 'Bearer eyJhbGciOi'}", "eyJhbGciOi", "'Authorization': 'Bearer ***'", id="an Authorization header"),
        pytest.param("Authorization: Basic YWxpY2U6czNjcmV0", "YWxpY2U6czNjcmV0", "Authorization: Basic ***", id="basic credentials"),
        pytest.param("sent bearer abc.def.ghi", "abc.def.ghi", "bearer ***", id="a bearer token in prose"),
    ],
)
def test_credentials_are_masked(text: str, secret: str, kept: str) -> None:
    clean = redact(text)
    assert secret not in clean
    assert kept in clean


@pytest.mark.parametrize(
    "text",
    [
        "Prometheus at http://prom:9090 did not answer within 10s",
        'sum(rate(http_requests_total{service="auth",code=~"5.."}[5m]))',
        'kpi:value{token_count=~"1.."}',
        "mailto-like user@example.com outside a URL",
    ],
)
def test_text_without_credentials_is_unchanged(text: str) -> None:
    assert redact(text) == text


def test_the_log_filter_masks_messages_and_tracebacks() -> None:
    try:
        raise ConnectionError("connect to http://alice:s3cret@prom:9090 failed")
    except ConnectionError:
        record = logging.LogRecord("x", logging.WARNING, __file__, 1, "query %s failed", ("http://alice:s3cret@prom:9090",), None)
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    line = logging.Formatter().format(record)
    assert "s3cret" not in line and "http://***@prom:9090" in line


def test_a_malformed_prometheus_header_is_reported_without_its_credential() -> None:
    import argparse

    from kpi_operator.runtime.config import _headers

    with pytest.raises(argparse.ArgumentTypeError) as raised:
        _headers(["Authorization Bearer eyJhbGciOi"])
    assert "eyJhbGciOi" not in str(raised.value) and "expected 'Name: value'" in str(raised.value)
