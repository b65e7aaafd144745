"""``kpi-operator gate``: a quality gate for any CI/CD pipeline, from the objects' own queries.

Exit codes: 0 every object passes, 1 any fails, 2 none fails but one is inconclusive or Prometheus cannot be
reached. The verdicts are the operator's (``gate`` module); only the reading differs: the page-tier windows are
queried directly, so the operator's recording rules need not be loaded.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Optional, Union

from ..adapters.prometheus import PrometheusReader, PrometheusSettings, PrometheusUnavailable
from ..api.durations import DurationError, parse_duration_seconds
from ..api.models import KPI, SLO
from ..api.redaction import redact
from ..evaluation.direct import error_ratio_query, events_query, kpi_value_query, page_windows
from ..gate import KPIReading, Outcome, SLOReading, Verdict, kpi_verdict, slo_verdict
from .inputs import add_filename_argument, load_documents
from .validate import check


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gate",
        help="pass or fail a pipeline step on live KPIs and SLOs",
        description="Evaluate the canary-gate verdict of each KPI/SLO against a live Prometheus. Exit 0 when all "
        "pass, 1 when any fails, 2 when none fails but one is inconclusive or Prometheus cannot be reached.",
    )
    add_filename_argument(parser)
    parser.add_argument("--prometheus", required=True, metavar="URL", help="Prometheus-compatible query API")
    parser.add_argument("--header", action="append", default=[], metavar="NAME: VALUE", help="extra request header, e.g. 'X-Scope-OrgID: a'")
    parser.add_argument("--token-file", help="bearer token file")
    parser.add_argument("--duration", default="0s", help="keep evaluating this long (e.g. 10m); fail at the first failure")
    parser.add_argument("--interval", default="30s", help="time between evaluations with --duration")
    parser.add_argument("--no-data", choices=("hold", "fail"), default=None, help="override spec.gate.noData")
    parser.set_defaults(run=run)


def evaluate(obj: Union[SLO, KPI], reader: PrometheusReader, no_data: Optional[str]) -> Outcome:
    """One verdict for one object, from its own queries."""
    try:
        if isinstance(obj, SLO):
            ratios: dict[str, Optional[float]] = {}
            events: dict[str, Optional[float]] = {}
            for window in page_windows(obj):
                samples = reader.query(error_ratio_query(obj, window))
                ratios[window] = samples[0].value if samples else None
                events_promql = events_query(obj, window)
                if events_promql is not None and obj.spec.alerting.min_events is not None:
                    counted = reader.query(events_promql)
                    events[window] = counted[0].value if counted else None
            reading = SLOReading(error_ratios=ratios, events=events, query=error_ratio_query(obj, page_windows(obj)[0]))
            return slo_verdict(obj, reading, no_data)  # type: ignore[arg-type]
        query = kpi_value_query(obj)
        span = parse_duration_seconds(obj.spec.for_)
        now = time.time()
        if span > 0:
            step = max(span / 20, 15.0)
            series = reader.query_range(query, now - span - step, now, step)
            points = series[0][1] if series else []
            samples = [(t, v) for t, v in points]
        else:
            instant = reader.query(query)
            samples = [(now, instant[0].value)] if instant else []
        return kpi_verdict(obj, KPIReading(samples=samples, query=query), no_data)  # type: ignore[arg-type]
    except PrometheusUnavailable as error:
        reading_error = str(error)
        if isinstance(obj, SLO):
            return slo_verdict(obj, SLOReading(query_error=reading_error), no_data)  # type: ignore[arg-type]
        return kpi_verdict(obj, KPIReading(query_error=reading_error), no_data)  # type: ignore[arg-type]


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)


def print_table(rows: list[tuple[str, Outcome]]) -> None:
    headers = ("OBJECT", "VALUE", "THRESHOLD", "VERDICT", "REASON")
    table = [(name, _fmt(o.value), _fmt(o.threshold), o.verdict.value, redact(o.reason)) for name, o in rows]
    widths = [max(len(str(r[i])) for r in [headers, *table]) for i in range(4)]
    for row in [headers, *table]:
        print("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])


def exit_code(outcomes: list[Outcome]) -> int:
    verdicts = {o.verdict for o in outcomes}
    if Verdict.FAIL in verdicts:
        return 1
    if verdicts & {Verdict.INCONCLUSIVE, Verdict.ERROR}:
        return 2
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        duration = parse_duration_seconds(args.duration)
        interval = parse_duration_seconds(args.interval)
    except DurationError as error:
        print(f"kpi-operator gate: {error}", file=sys.stderr)
        return 2
    documents = load_documents(args.filename)
    problems = check(documents, "native")  # as `validate` finds them: an SLO whose page tier can never fire can never fail
    if problems:
        for message in problems:
            print(message, file=sys.stderr)
        return 1
    headers = {}
    for header in args.header:
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    reader = PrometheusReader(PrometheusSettings(url=args.prometheus, headers=headers, token_file=args.token_file))
    objects = [d.obj for d in documents if d.obj is not None]
    deadline = time.monotonic() + duration
    while True:
        rows = [(f"{o.kind}/{o.metadata.namespace}/{o.metadata.name}", evaluate(o, reader, args.no_data)) for o in objects]
        code = exit_code([o for _, o in rows])
        if code == 1 or time.monotonic() + interval > deadline:
            print_table(rows)
            return code
        time.sleep(interval)
