"""The PromQL the operator reads each evaluation cycle: a constant handful, whatever the number of objects.

The recording rules already computed every SLO's error ratios and every KPI's value; the operator reads them
back with one selector over their names, one query for their sample timestamps (for the freshness bound), and
one for firing alerts. 10 SLOs or 10,000: three queries.
"""

from __future__ import annotations

from ..rules.records import READ_BACK_SELECTOR

#: Every recorded series the status is made of (both rule schemas; ``rules.records`` owns the names).
VALUES_QUERY = READ_BACK_SELECTOR

#: The same series' sample times; ``timestamp()`` drops ``__name__``, so it is copied to a label first.
SERIES_LABEL = "kpi_operator_series"
TIMESTAMPS_QUERY = f'timestamp(label_replace({VALUES_QUERY}, "{SERIES_LABEL}", "$1", "__name__", "(.+)"))'

#: Firing alerts; the ones of this project's rules are recognised by their labels.
ALERTS_QUERY = 'ALERTS{alertstate="firing"}'

CYCLE_QUERIES = (VALUES_QUERY, TIMESTAMPS_QUERY, ALERTS_QUERY)
