"""Secrets out of text that leaves the process: the one place that knows what a credential looks like.

A Prometheus address may carry credentials (``https://user:password@host``, ``?access_token=...``) and request
errors may quote it; a status message, an Event, a log line or the CLI's table is read by everyone who can read
the object (or the logs), in every namespace. ``redact`` is applied to every such text on its way out, so a
credential is never printed, whichever message happened to embed it.
"""

from __future__ import annotations

import re

MASK = "***"

# scheme://userinfo@ : the userinfo (user, user:password, or a token used as user name) goes whole, up to the
# last @ of the authority (a password may contain an unescaped @).
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/?#\s'\"<>]+)@")
# Query parameters (or key=value pairs in a message) whose name says they hold a secret.
_SECRET_PARAMETER = re.compile(
    r"(?P<name>\b(?:[a-z0-9_\-]*(?:token|secret|password|passwd|pwd|api[_\-]?key|apikey|auth|signature|credential)[a-z0-9_\-]*))"
    r"(?P<sep>=|%3D)(?P<value>[^&\s'\"<>#,;)~][^&\s'\"<>#,;)]*)",
    re.IGNORECASE,
)
# An Authorization header's value, or a bearer/basic credential quoted in a message.
_AUTHORIZATION = re.compile(
    r"(?P<name>\bAuthorization\b['\"]?\s*[:=]\s*['\"]?(?:(?:Bearer|Basic)\s+)?|\b(?:Bearer|Basic)\s+)(?P<value>[^\s'\",}]+)", re.IGNORECASE
)


def redact(text: str) -> str:
    """``text`` with every URL userinfo, secret-named query parameter and authorization credential masked."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = _SECRET_PARAMETER.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", text)
    return _AUTHORIZATION.sub(lambda m: f"{m['name']}{MASK}", text)
