"""Every log line through ``api.redaction``: a credential quoted by any library's message (a URL with userinfo
in a request error, a header in a debug line) never reaches the logs, which more people read than the config."""

from __future__ import annotations

import logging

from ..api.redaction import redact


class RedactingFilter(logging.Filter):
    """Masks credentials in the record's message and in its formatted traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def redact_logs(*loggers: logging.Logger) -> None:
    """Put the filter on every handler of ``loggers`` (default: the root logger, where every record ends up)."""
    for logger in loggers or (logging.getLogger(),):
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
