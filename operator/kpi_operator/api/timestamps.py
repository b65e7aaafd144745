"""Times as Kubernetes writes them: RFC 3339 in UTC, to the second (``2026-03-02T09:00:00Z``).

One formatter for every time the operator writes (conditions, ``lastEvaluated``, ``armedAt``, Events), so a
reader can compare them as strings and a status does not change for a sub-second difference.
"""

from __future__ import annotations

import datetime
from typing import Union


def utc_timestamp(moment: Union[float, datetime.datetime]) -> str:
    """A Unix time in seconds or a datetime (a naive one is taken as UTC) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    if isinstance(moment, datetime.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
    else:
        moment = datetime.datetime.fromtimestamp(moment, datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
