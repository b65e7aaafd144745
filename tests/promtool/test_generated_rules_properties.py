"""Generated specs: every valid one gives rules Prometheus loads; every invalid one gets a located, readable error.

Valid bodies are built field by field from the API's own rules (DNS names, objectives strictly between 0 and
100 and high enough that every alert tier can fire, windows no longer than the period, thresholds on the bad
side of the target) with hostile text wherever
the API takes free text: quotes, backslashes, ``{{``, unicode. Each hypothesis example is a batch of objects; each
object's rules go to a file of their own, as prometheus-operator writes one file per PrometheusRule, and one
``promtool check rules --lint-fatal`` run checks every file of the batch.

Invalid documents are valid ones with one thing broken, so each failure has one known cause and the test knows
the field path the message must name. The CLI runs in-process (stdin and stdout swapped for buffers): a Python
exception there is exactly what a user would see as a traceback.
"""

from __future__ import annotations

import copy
import io
import re
import subprocess
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import yaml
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st

from kpi_operator.api import parse_object
from kpi_operator.cli import main
from kpi_operator.cli.render import dump_yaml
from kpi_operator.rules import build_rule_file, generate_groups
from kpi_operator.rules.compiled import compile_slo
from support.promtool import promtool_path, requires_promtool

pytestmark = [requires_promtool, pytest.mark.promtool]

ROOT = Path(__file__).resolve().parents[2]
API_VERSION = "kpi.dev/v1alpha1"

PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: A failing batch is not shrunk: every shrink step is a promtool run (minutes in all), and the failure message
#: already shows promtool's error and only the objects whose file it refused.
BATCH_SETTINGS = settings(PROPERTY_SETTINGS, max_examples=50, phases=[Phase.explicit, Phase.reuse, Phase.generate])
CLI_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- text ---------------------------------------------------------------------------------------------------------

#: Strings that have broken YAML, PromQL or Go-template quoting somewhere, mixed into every free-text field.
NASTY = ['"', "\\", '\\"', "{{", "}}", "{{ $value }}", "{{.window}}", "'", "ü", "€", "😀", "日本", "a\tb", "%s", "$labels"]

_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r")
_chars_nl = st.characters(blacklist_categories=("Cs",))


def free_text(min_size: int = 0, newlines: bool = False) -> st.SearchStrategy[str]:
    """Any text a person might type (no newlines unless asked), biased towards characters that need escaping."""
    piece = st.one_of(st.sampled_from(NASTY), st.text(_chars_nl if newlines else _chars, min_size=1, max_size=6))
    return st.lists(piece, min_size=max(min_size, 0), max_size=5).map("".join).filter(lambda s: len(s) >= min_size)


def template_safe_text() -> st.SearchStrategy[str]:
    """Text for fields Prometheus reads as Go templates (alert labels and annotations the user writes)."""
    plain = free_text().filter(lambda s: "{{" not in s and "}}" not in s)
    return st.one_of(plain, st.sampled_from(["{{ $value }}", "{{ $labels.slo_name }} burns", "value {{ $value | humanize }}"]))


def promql_string(value: str) -> str:
    """``value`` as a PromQL double-quoted string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


dns_label = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?\Z")
label_name = st.from_regex(r"\A[a-zA-Z_][a-zA-Z0-9_]{0,12}\Z").filter(lambda s: not s.startswith("__"))
#: Words PromQL reads as keywords in any case; a metric with such a name cannot be written bare (``on{}``).
KEYWORDS = {"on", "ignoring", "group_left", "group_right", "bool", "atan2", "inf", "nan"}
#: Words that look like keywords but are fine as bare metric names.
KEYWORD_LIKE = ["sum", "rate", "by", "without", "offset", "and", "or", "unless", "start", "end", "le", "topk", "x:y", ":x"]
metric_name = st.one_of(
    st.sampled_from(KEYWORD_LIKE),
    st.from_regex(r"\A[a-zA-Z_:][a-zA-Z0-9_:]{0,20}\Z").filter(
        lambda s: not s.endswith(("_bucket", "_count", "_sum")) and s.lower() not in KEYWORDS
    ),
)
label_values = st.dictionaries(label_name, free_text(newlines=True), max_size=3)


@st.composite
def selector(draw: Any, allow_empty: bool = True) -> str:
    """A label matcher list such as ``{job="a\\"b", code=~"5.."}``, values escaped as PromQL requires."""
    matchers = draw(
        st.lists(
            st.tuples(label_name, st.sampled_from(["=", "!=", "=~", "!~"]), free_text()),
            min_size=0 if allow_empty else 1,
            max_size=3,
        )
    )
    parts = []
    for name, op, value in matchers:
        if "~" in op:
            value = re.escape(value)  # a regex matcher needs a valid RE2 pattern; an escaped literal is one
        parts.append(f"{name}{op}{promql_string(value)}")
    return "{" + ",".join(parts) + "}"


# --- durations ----------------------------------------------------------------------------------------------------

PERIODS = {"7d": 7 * 1440, "14d": 14 * 1440, "28d": 28 * 1440, "30d": 30 * 1440, "90d": 90 * 1440, "1w": 7 * 1440, "4w": 28 * 1440}


@st.composite
def spelled_minutes(draw: Any, minutes: int) -> str:
    """``minutes`` in one of the spellings Prometheus accepts (``90m``, ``1h30m``, ``5400s``)."""
    spellings = [f"{minutes}m", f"{minutes * 60}s"]
    if minutes % 60 == 0:
        spellings.append(f"{minutes // 60}h")
    if minutes % 1440 == 0:
        spellings.append(f"{minutes // 1440}d")
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        spellings.append(f"{hours}h{rest}m")
    return draw(st.sampled_from(spellings))


short_duration = st.integers(1, 180).flatmap(spelled_minutes)
for_duration = st.one_of(st.just("0s"), st.just("0"), st.integers(1, 120).flatmap(spelled_minutes))


# --- SLO ----------------------------------------------------------------------------------------------------------


@st.composite
def ratio_indicator(draw: Any) -> dict[str, Any]:
    if draw(st.booleans()):
        errors = f"sum(rate({draw(metric_name)}{draw(selector())}[{{{{.window}}}}]))"
        total = f"sum(rate({draw(metric_name)}{draw(selector())}[{{{{ .window }}}}]))"
        return {"ratio": {"errors": errors, "total": total}}
    metric = draw(metric_name)
    errors = metric + draw(st.sampled_from(["", "{}"]) | selector(allow_empty=False))
    total = metric + draw(st.sampled_from(["", "{}"]) | selector(allow_empty=False))
    indicator: dict[str, Any] = {"ratio": {"errorsMetric": errors, "totalMetric": total}}
    grouping = draw(st.lists(label_name, max_size=3, unique=True))
    if grouping:
        indicator["grouping"] = grouping
    return indicator


@st.composite
def latency_indicator(draw: Any) -> dict[str, Any]:
    threshold = draw(st.one_of(st.sampled_from([0.05, 0.1, 0.25, 0.3, 0.5, 1, 2.5, 5]), st.floats(0.05, 5)))
    latency: dict[str, Any] = {"histogram": draw(metric_name), "threshold": threshold}
    if draw(st.booleans()):
        latency["selector"] = draw(selector())
    if draw(st.booleans()):
        latency["native"] = draw(st.booleans())
    indicator: dict[str, Any] = {"latency": latency}
    grouping = draw(st.lists(label_name, max_size=2, unique=True))
    if grouping:
        indicator["grouping"] = grouping
    return indicator


@st.composite
def raw_indicator(draw: Any) -> dict[str, Any]:
    errors = f"sum(rate({draw(metric_name)}{draw(selector())}[{{{{.window}}}}]))"
    total = f"sum(rate({draw(metric_name)}{draw(selector())}[{{{{.window}}}}]))"
    return {"raw": {"errorRatio": f"{errors}\n/\n{total}"}}


@st.composite
def burn_windows(draw: Any, period_minutes: int) -> list[dict[str, Any]]:
    """Custom window pairs: 0 < short < long <= the SLO's period (often exactly the period)."""
    pairs = []
    for _ in range(draw(st.integers(1, 3))):
        long = draw(st.one_of(st.just(period_minutes), st.integers(2, period_minutes)))
        short = draw(st.integers(1, long - 1))
        budget = draw(st.one_of(st.sampled_from([2, 5, 10, 100]), st.floats(0, 100, exclude_min=True)))
        pairs.append({"long": draw(spelled_minutes(long)), "short": draw(spelled_minutes(short)), "budgetPercent": budget})
    return pairs


@st.composite
def alert_tier(draw: Any, period_minutes: int) -> dict[str, Any]:
    tier: dict[str, Any] = {}
    if draw(st.booleans()):
        tier["disabled"] = draw(st.booleans())
    if draw(st.booleans()):
        tier["for"] = draw(for_duration)
    if draw(st.booleans()):
        tier["windows"] = draw(burn_windows(period_minutes))
    if draw(st.booleans()):
        tier["labels"] = draw(st.dictionaries(label_name, template_safe_text(), max_size=2))
    if draw(st.booleans()):
        tier["annotations"] = draw(st.dictionaries(label_name, template_safe_text(), max_size=2))
    return tier


@st.composite
def alerting(draw: Any, period_minutes: int, raw: bool) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if draw(st.booleans()):
        result["name"] = draw(st.from_regex(r"\A[A-Za-z_:][A-Za-z0-9_:]{0,20}\Z"))
    if draw(st.booleans()):
        result["labels"] = draw(st.dictionaries(label_name, template_safe_text(), max_size=2))
    if draw(st.booleans()):
        result["annotations"] = draw(st.dictionaries(label_name, template_safe_text(), max_size=2))
    for key in ("pageAlert", "ticketAlert"):
        if draw(st.booleans()):
            result[key] = draw(alert_tier(period_minutes))
    if not raw and draw(st.integers(0, 3)) == 0:
        result["minEvents"] = draw(st.integers(0, 10_000))
    if draw(st.booleans()):
        no_data: dict[str, Any] = {"for": draw(st.integers(1, 60).flatmap(spelled_minutes))}
        if draw(st.booleans()):
            no_data["disabled"] = draw(st.booleans())
        if draw(st.booleans()):
            no_data["labels"] = draw(st.dictionaries(label_name, template_safe_text(), max_size=2))
        result["noData"] = no_data
    return result


@st.composite
def gate(draw: Any) -> dict[str, Any]:
    selector_body: dict[str, Any] = {}
    if draw(st.booleans()):
        selector_body["matchLabels"] = {"app": draw(dns_label)}
    else:
        selector_body["matchExpressions"] = [{"key": "app", "operator": "In", "values": [draw(dns_label)]}]
    return {
        "selector": selector_body,
        "action": draw(st.sampled_from(["rollback", "pause", "scaleToZero"])),
        "failureLimit": draw(st.integers(1, 10)),
        "noData": draw(st.sampled_from(["hold", "fail"])),
        "dryRun": draw(st.booleans()),
    }


objectives = st.one_of(
    st.sampled_from([99.999, 50, 99.9, 99.5, 95, 90]),
    st.floats(0, 100, exclude_min=True, exclude_max=True),
)


def lowest_objective_that_fires(spec: dict[str, Any]) -> float:
    """The objective above which every tier that must be able to fire can (``rules.feasibility``: a tier that is on,
    or the page tier of a gated SLO, needs a pair with ``factor x (1 - objective / 100) < 1``); the factors depend
    on the window and the tiers' windows only."""
    probe = {"apiVersion": API_VERSION, "kind": "SLO", "metadata": {"name": "probe", "namespace": "default"}, "spec": {**spec, "objective": 50}}
    obj, problems = parse_object(probe)
    assert obj is not None, problems
    floor = 0.0
    for tier in compile_slo(obj).tiers:  # type: ignore[arg-type]
        if tier.disabled and not ("gate" in spec and tier.tier == "page"):
            continue
        factor = min(pair.factor for pair in tier.pairs)
        if factor > 1:
            floor = max(floor, 100 * (1 - 1 / factor))
    return floor


@st.composite
def slo_body(draw: Any, name: str, namespace: str) -> dict[str, Any]:
    window = draw(st.sampled_from(sorted(PERIODS)))
    indicator = draw(st.one_of(ratio_indicator(), latency_indicator(), raw_indicator()))
    spec: dict[str, Any] = {
        "service": draw(free_text(min_size=1)),
        "owner": draw(free_text(min_size=1)),
        "objective": draw(objectives),
        "window": window,
        "indicator": indicator,
    }
    if draw(st.booleans()):
        spec["description"] = draw(free_text())
    if draw(st.booleans()):
        spec["labels"] = draw(label_values)
    if draw(st.booleans()):
        spec["alerting"] = draw(alerting(PERIODS[window], raw="raw" in indicator))
    native_only = bool(indicator.get("grouping")) or "minEvents" in spec.get("alerting", {})
    if draw(st.booleans()):
        spec["ruleSchema"] = "native" if native_only else draw(st.sampled_from(["native", "sloth"]))
    if draw(st.integers(0, 3)) == 0:
        spec["gate"] = draw(gate())
    floor = lowest_objective_that_fires(spec)
    if spec["objective"] <= floor:
        spec["objective"] = draw(st.floats(floor, 100, exclude_min=True, exclude_max=True))
    body = {"apiVersion": API_VERSION, "kind": "SLO", "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    obj, _ = parse_object(body)
    assume(obj is not None and not compile_slo(obj).silent_tiers(gated="gate" in spec))  # type: ignore[arg-type]  # rounding at the floor
    return body


# --- KPI ----------------------------------------------------------------------------------------------------------


@st.composite
def kpi_query(draw: Any) -> str:
    a, b = draw(metric_name), draw(metric_name)
    sel = draw(selector())
    return draw(
        st.sampled_from(
            [
                f"sum(rate({a}{sel}[{{{{.window}}}}])) / sum(rate({b}[{{{{.window}}}}]))",
                f"histogram_quantile(0.99, sum by (le) (rate({a}_bucket{sel}[{{{{.window}}}}])))",
                f"avg_over_time({a}{sel}[{{{{.window}}}}])",
                f"sum({a}{sel})",
                f"{a}{sel} * 100",
            ]
        )
    )


finite = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
gaps = st.one_of(st.just(0.0), st.floats(0, 1e6, allow_nan=False, allow_infinity=False))


@st.composite
def kpi_body(draw: Any, name: str, namespace: str) -> dict[str, Any]:
    op = draw(st.sampled_from([">=", ">", "<=", "<"]))
    target = draw(finite)
    spec: dict[str, Any] = {
        "owner": draw(free_text(min_size=1)),
        "query": draw(kpi_query()),
        "target": {"op": op, "value": target},
    }
    if draw(st.booleans()):
        spec["window"] = draw(short_duration)
    if draw(st.booleans()):
        spec["unit"] = draw(st.sampled_from(["ratio", "percent", "seconds", "requests_per_second", "score"]))
    if draw(st.booleans()):
        spec["description"] = draw(free_text())
    if draw(st.booleans()):
        # Bad side: below the target when higher is better, above it when lower is better; critical beyond warning.
        sign = -1 if op in (">=", ">") else 1
        warning = target + sign * draw(gaps)
        critical = warning + sign * draw(gaps)
        spec["thresholds"] = draw(
            st.sampled_from([{"warning": warning}, {"critical": critical}, {"warning": warning, "critical": critical}])
        )
    if draw(st.booleans()):
        spec["for"] = draw(for_duration)
    if draw(st.booleans()):
        spec["labels"] = draw(label_values)
    if draw(st.booleans()):
        spec["annotations"] = draw(st.dictionaries(label_name, template_safe_text(), max_size=2))
    if draw(st.integers(0, 3)) == 0:
        spec["gate"] = draw(gate())
    return {"apiVersion": API_VERSION, "kind": "KPI", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


@st.composite
def valid_body(draw: Any, index: int = 0) -> dict[str, Any]:
    """One valid SLO or KPI. ``-{index}`` ends the name, so the objects of a batch never share a name."""
    name = f"{draw(dns_label)}-{index}"
    namespace = draw(st.one_of(st.just("default"), dns_label))
    return draw(st.one_of(slo_body(name, namespace), kpi_body(name, namespace)))


@st.composite
def valid_batch(draw: Any, size: int = 20) -> list[dict[str, Any]]:
    return [draw(valid_body(index)) for index in range(size)]


# --- running things -----------------------------------------------------------------------------------------------


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(args: list[str], stdin_text: str) -> CliResult:
    """``kpi-operator ARGS`` in this process, with ``stdin_text`` as standard input."""
    stdout, stderr = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin_text)
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            try:
                code = main(args)
            except SystemExit as exit_:  # argparse's usage errors
                code = int(exit_.code or 0)
    finally:
        sys.stdin = saved
    return CliResult(code, stdout.getvalue(), stderr.getvalue())


def _dump(body: Any) -> str:
    """YAML as a user's file would hold it; non-ASCII escaped, so a U+0085 stays a character, not a line break."""
    return yaml.safe_dump(body, sort_keys=False)


def rule_file_text(groups: list[dict[str, Any]]) -> str:
    """The rule file for ``groups``, written with libyaml when present (ten times faster than PyYAML's emitter)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump({"groups": groups}, Dumper=dumper, sort_keys=False, default_flow_style=False)


def check_rule_files(files: dict[str, str]) -> tuple[bool, str]:
    """``promtool check rules --lint-fatal`` over several rule files in one run (name -> YAML text)."""
    with tempfile.TemporaryDirectory(prefix="kpi-promtool-") as tmp:
        for name, text in files.items():
            (Path(tmp) / name).write_text(text, encoding="utf-8")
        proc = subprocess.run(
            [promtool_path(), "check", "rules", "--lint-fatal", *files],
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
    return proc.returncode == 0, (proc.stdout + proc.stderr).decode("utf-8", "replace")


def sloth_expressible(body: dict[str, Any]) -> bool:
    spec = body["spec"]
    return not spec["indicator"].get("grouping") and "minEvents" not in spec.get("alerting", {})


# --- valid specs --------------------------------------------------------------------------------------------------


def _slo(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "SLO",
        "metadata": {"name": name},
        "spec": {
            "service": "api",
            "owner": "team",
            "objective": 99.9,
            "window": "7d",
            "indicator": {"ratio": {"errorsMetric": 'http_requests_total{code=~"5.."}', "totalMetric": "http_requests_total"}},
            **spec,
        },
    }


#: What hypothesis found once (each was refused by promtool, or crashed), kept so that it runs every time.
FOUND_BEFORE = [
    _slo("braces-in-service", service="a{{b"),
    _slo("braces-in-labels", labels={"team": "{{ x", "quote": '"}}\\'}, alerting={"noData": {"for": "5m"}}),
    _slo("long-window-is-the-period", ruleSchema="sloth", alerting={"ticketAlert": {"windows": [{"long": "7d", "short": "1d", "budgetPercent": 10}]}}),
    _slo("long-window-is-the-period-native", alerting={"ticketAlert": {"windows": [{"long": "1w", "short": "6h", "budgetPercent": 10}]}}),
    {
        "apiVersion": API_VERSION,
        "kind": "KPI",
        "metadata": {"name": "braces-in-description"},
        "spec": {"owner": "{{ who", "description": "{{ oops", "query": "up", "target": {"op": "<", "value": 1}, "labels": {"a": "{{"}},
    },
]


@BATCH_SETTINGS
@example(batch=FOUND_BEFORE)
@given(batch=valid_batch())
def test_every_valid_spec_is_accepted_and_its_rules_load_in_promtool(batch: list[dict[str, Any]]) -> None:
    files: dict[str, str] = {}
    for index, body in enumerate(batch):
        obj, problems = parse_object(copy.deepcopy(body))
        assert not problems, f"a valid spec was refused: {[str(p) for p in problems]}\n{yaml.safe_dump(body, allow_unicode=True)}"
        schemas = ["native", "sloth"] if body["kind"] == "SLO" and sloth_expressible(body) else ["native"]
        for schema in schemas:
            groups = generate_groups(obj, schema)
            files[f"{index:02d}-{schema}.yml"] = rule_file_text(groups)
    ok, output = check_rule_files(files)
    if not ok:
        failing = sorted({int(m) for m in re.findall(r"^(\d\d)-(?:native|sloth)\.yml: ", output, re.MULTILINE)})
        shown = "\n---\n".join(yaml.safe_dump(batch[i], sort_keys=False) for i in failing[:2])  # non-ASCII escaped
        pytest.fail(f"promtool refused the rules of valid specs:\n{output}\nspecs:\n{shown}")


def test_the_cli_rule_file_keeps_every_character_of_a_label_value() -> None:
    """What ``generate --output rules`` writes must read back as the groups it was made from.

    Found by this suite: PyYAML wrote U+0085 (NEL) raw, which YAML readers (PyYAML and Prometheus alike) read as a
    line break, so a NEL in a service name became a newline and broke a PromQL string. ``render`` escapes it.
    """
    obj, problems = parse_object(
        {
            "apiVersion": API_VERSION,
            "kind": "SLO",
            "metadata": {"name": "api"},
            "spec": {
                "service": "api\x85v2",
                "owner": "team",
                "objective": 99.9,
                "indicator": {"ratio": {"errorsMetric": "http_errors_total", "totalMetric": "http_requests_total"}},
            },
        }
    )
    assert not problems
    text = dump_yaml(build_rule_file(generate_groups(obj)))
    assert yaml.safe_load(text) == build_rule_file(generate_groups(obj))
    ok, output = check_rule_files({"rules.yml": text})
    assert ok, output


@PROPERTY_SETTINGS
@given(batch=valid_batch(size=6))
def test_a_stream_of_valid_specs_passes_the_cli_validate_and_generate(batch: list[dict[str, Any]]) -> None:
    text = "".join("---\n" + _dump(body) for body in batch)
    validate = run_cli(["validate", "-f", "-"], text)
    assert validate.code == 0, validate.stderr
    assert f"{len(batch)} document(s) valid" in validate.stdout
    generate = run_cli(["generate", "-f", "-", "--output", "prometheusrule"], text)
    assert generate.code == 0, generate.stderr
    assert len([d for d in yaml.safe_load_all(generate.stdout) if d]) == len(batch)


# --- invalid specs ------------------------------------------------------------------------------------------------


@dataclass
class Broken:
    """An invalid input: the YAML text, and the field path its error message must name ('' for the file/document)."""

    text: str
    path: str
    why: str


@dataclass(frozen=True)
class Mutation:
    """One thing broken in a valid body (in place). ``expect`` is the field path the error message must name."""

    label: str
    apply: Callable[[dict[str, Any]], None]
    expect: str

    def __call__(self, body: dict[str, Any]) -> str:
        self.apply(body)
        return self.expect


def _node(body: dict[str, Any], keys: list[str], create: bool = False) -> dict[str, Any]:
    node = body
    for key in keys:
        node = node.setdefault(key, {}) if create else node[key]
    return node


def _set(path: str, value: Any, expect: Optional[str] = None) -> Mutation:
    """Set ``path`` (dotted; missing mappings are created) to ``value``.

    ``expect`` is given where a rule spans fields: the model checks it, and reports it, on the object holding them.
    """

    def apply(body: dict[str, Any]) -> None:
        keys = path.split(".")
        _node(body, keys[:-1], create=True)[keys[-1]] = value

    return Mutation(f"{path}={value!r}", apply, expect or path)


def _remove(path: str, expect: Optional[str] = None) -> Mutation:
    def apply(body: dict[str, Any]) -> None:
        keys = path.split(".")
        del _node(body, keys[:-1])[keys[-1]]

    return Mutation(f"no {path}", apply, expect or path)


def _rename(path: str, typo: str) -> Mutation:
    """A typo in a field name: the error names the unknown field."""
    keys = path.split(".")

    def apply(body: dict[str, Any]) -> None:
        node = _node(body, keys[:-1])
        node[typo] = node.pop(keys[-1])

    return Mutation(f"{path} spelt {typo}", apply, ".".join([*keys[:-1], typo]))


BAD_OBJECTIVES = [0, 100, -1, 100.5, "abc", True, None, [], {"value": 99}, float("nan"), float("inf")]
BAD_DURATIONS = ["30 days", "1.5h", "d30", "", "-5m", "5m1h", "30D", "5", "1h 30m", 30, None, "0"]
BAD_PROMQL = [
    "sum(rate(x[{{.window}}])",
    "rate(x{a=}[{{.window}}])",
    "sum(rate(x[{{.window}}])) +",
    'rate(x{a="b}[{{.window}}])',
    "rate(x[{{.window}}]) by (a)",
    "sum by (a (rate(x[{{.window}}]))",
]
WINDOWLESS = ["sum(rate(x[5m]))", "sum(rate(x[{{window}}]))", "sum(rate(x[{.window}]))"]
BAD_LABEL_NAMES = ["1abc", "__reserved", "a-b", "a.b", "ü"]
BAD_OBJECT_NAMES = ["Upper", "a_b", "-a", "a-", "a" * 64, "", "a.b", 42]
BAD_GATES = [
    {"selector": {"matchLabels": {"app": "a"}}, "action": "delete"},
    {"selector": {"matchLabels": {"app": "a"}}, "failureLimit": 0},
    {"selector": {}},
    {"selector": {"matchLabels": {}, "matchExpressions": []}},
    {"selector": {"matchExpressions": [{"key": "app", "operator": "Like"}]}},
    {"action": "rollback"},
]
OTHER_INDICATOR = {
    "ratio": {"errorsMetric": "x", "totalMetric": "y"},
    "latency": {"histogram": "h", "threshold": 0.5},
    "raw": {"errorRatio": "sum(rate(x[{{.window}}]))"},
}


def slo_mutations(body: dict[str, Any]) -> list[Mutation]:
    indicator = body["spec"]["indicator"]
    present = next(kind for kind in OTHER_INDICATOR if kind in indicator)
    mutations = [
        *(_remove(f"spec.{key}") for key in ("service", "owner", "objective", "indicator")),
        _remove("metadata.name"),
        _remove("spec"),
        _rename("spec.objective", "objectve"),
        _rename("spec.owner", "Owner"),
        _rename("spec.indicator", "indicators"),
        *(_set("spec.objective", value) for value in BAD_OBJECTIVES),
        *(_set("spec.window", value) for value in BAD_DURATIONS),
        _set("spec.service", ""),
        _set("spec.owner", ""),
        _set("spec.ruleSchema", "prometheus"),
        *(_set("spec.labels", {name: "x"}) for name in BAD_LABEL_NAMES),
        *(_set("spec.alerting.labels", {name: "x"}) for name in BAD_LABEL_NAMES),
        *(_set("spec.alerting.pageAlert.labels", {name: "x"}) for name in BAD_LABEL_NAMES),
        *(_set("metadata.name", name) for name in BAD_OBJECT_NAMES),
        _set("metadata.namespace", "Bad_Namespace"),
        *(_set(f"spec.indicator.{kind}", value, "spec.indicator") for kind, value in OTHER_INDICATOR.items() if kind != present),
        _set("spec.indicator", {}),
        _set("spec.alerting.pageAlert.windows", [{"long": "5m", "short": "1h", "budgetPercent": 2}]),
        _set("spec.alerting.pageAlert.windows", [{"long": "1h", "short": "1h", "budgetPercent": 2}]),
        _set("spec.alerting.pageAlert.windows", [{"long": "1h", "short": "5m", "budgetPercent": 0}]),
        _set("spec.alerting.pageAlert.windows", [{"long": "1h", "short": "5m", "budgetPercent": 101}]),
        _set("spec.alerting.pageAlert.windows", [{"long": "1h", "budgetPercent": 2}]),
        _set("spec.alerting.ticketAlert.windows", [{"long": "365d", "short": "1d", "budgetPercent": 10}], "spec"),
        _set("spec.alerting.ticketAlert.windows", []),
        _set("spec.alerting.pageAlert.for", "soon"),
        _set("spec.alerting.noData", {"for": "0s"}),
        _set("spec.alerting.minEvents", -1),
        _set("spec.alerting.name", "not a metric name"),
        *(_set("spec.gate", value) for value in BAD_GATES),
    ]
    if "ratio" in indicator and "errors" in indicator["ratio"]:
        mutations += [_set("spec.indicator.ratio.errors", query) for query in BAD_PROMQL + WINDOWLESS]
        mutations += [
            _set("spec.indicator.ratio.total", "sum(rate(x[5m]))"),
            _remove("spec.indicator.ratio.total", "spec.indicator.ratio"),
            _set("spec.indicator.ratio.errorsMetric", "x", "spec.indicator.ratio"),
            _set("spec.indicator.grouping", ["route"], "spec.indicator"),
        ]
    if "ratio" in indicator and "errorsMetric" in indicator["ratio"]:
        mutations += [
            _set("spec.indicator.ratio.errorsMetric", "9abc"),
            _set("spec.indicator.ratio.errorsMetric", 'x{code=~"5.."'),
            _set("spec.indicator.ratio.totalMetric", "x{a=}"),
            _set("spec.indicator.ratio.totalMetric", "rate(x[5m])"),
            *(_set("spec.indicator.ratio.errorsMetric", word) for word in ("on", "Ignoring", "bool", "group_left", "inf", "NaN", "atan2")),
            _set("spec.indicator.ratio.totalMetric", 'bool{job="a"}'),
            _set("spec.indicator.ratio.errors", "sum(rate(x[{{.window}}]))", "spec.indicator.ratio"),
            _set("spec.indicator.grouping", ["a-b"]),
            _set("spec.indicator.grouping", ["a", "a"], "spec.indicator"),
        ]
    if "latency" in indicator:
        mutations += [
            _set("spec.indicator.latency.histogram", "http_duration_seconds_bucket"),
            _set("spec.indicator.latency.histogram", "9abc"),
            _set("spec.indicator.latency.selector", 'job="x"'),
            _set("spec.indicator.latency.selector", "{job=}"),
            *(_set("spec.indicator.latency.threshold", value) for value in (0, -0.5, float("inf"), float("nan"), "fast")),
            _remove("spec.indicator.latency.histogram"),
            _set("spec.indicator.latency", {"histogram": "on", "native": True, "threshold": 0.5}),
        ]
    if "raw" in indicator:
        mutations += [_set("spec.indicator.raw.errorRatio", query) for query in BAD_PROMQL + WINDOWLESS]
        mutations += [
            _set("spec.alerting.minEvents", 10, "spec"),
            _set("spec.indicator.grouping", ["route"], "spec.indicator"),
        ]
    if not sloth_expressible(body):
        refused = "spec.indicator.grouping" if indicator.get("grouping") else "spec.alerting.minEvents"
        mutations.append(_set("spec.ruleSchema", "sloth", refused))
    return mutations


def kpi_mutations(body: dict[str, Any]) -> list[Mutation]:
    op = body["spec"]["target"]["op"]
    target = body["spec"]["target"]["value"]
    good_side = target + (1 if op in (">=", ">") else -1) * max(1.0, abs(target))
    return [
        *(_remove(f"spec.{key}") for key in ("owner", "query", "target")),
        _remove("spec.target.op"),
        _remove("spec.target.value"),
        _remove("metadata"),
        _rename("spec.query", "qurey"),
        _rename("spec.target", "targets"),
        *(_set("spec.query", query) for query in BAD_PROMQL + ["up +", "", "sum("]),
        *(_set("spec.window", value) for value in BAD_DURATIONS),
        *(_set("spec.for", value) for value in ["soon", "1.5m", "-1s", 5]),
        *(_set("spec.target.op", value) for value in ["==", "=>", "gt", None]),
        *(_set("spec.target.value", value) for value in ["high", float("nan"), float("inf"), float("-inf"), None]),
        _set("spec.thresholds", {"warning": good_side}, "spec"),
        _set("spec.thresholds", {"critical": good_side}, "spec"),
        *(_set("spec.thresholds", {level: value}, f"spec.thresholds.{level}") for level in ("warning", "critical") for value in (float("nan"), float("-inf"), float("inf"), "low")),
        _set("spec.unit", "Seconds"),
        _set("spec.owner", ""),
        *(_set("spec.labels", {name: "x"}) for name in BAD_LABEL_NAMES),
        *(_set("metadata.name", name) for name in BAD_OBJECT_NAMES),
        *(_set("spec.gate", value) for value in BAD_GATES),
    ]


HEADER_MUTATIONS = [
    _set("apiVersion", "kpi.dev/v1"),
    _set("apiVersion", "v1"),
    _set("apiVersion", ["kpi.dev/v1alpha1"]),
    _remove("apiVersion"),
    _set("kind", "Slo"),
    _set("kind", "PrometheusRule"),
    _set("kind", ["SLO"]),
    _set("kind", {"name": "SLO"}),
    _remove("kind"),
    _set("status", "ok"),
    _set("extra", 1),
]

NOT_MAPPINGS = ["just a string", "42", "- a\n- list\n", "[SLO, KPI]", "true", "3.5"]

BAD_YAML = [
    "apiVersion: kpi.dev/v1alpha1\nkind: SLO\nspec: [unclosed\n",
    "apiVersion: kpi.dev/v1alpha1\nkind: SLO: KPI\n",
    "apiVersion: kpi.dev/v1alpha1\nmetadata:\n  name: a\n\tnamespace: b\n",
    "spec:\n  owner: 'unterminated\n",
    "spec:\n  labels: {a: 1\n",
    "a: &x 1\nb: *y\n",
    "key: value\n  bad indent: 2\n",
    'spec:\n  owner: "unterminated\n',
    "- a\nb: c\n",
]


@st.composite
def broken_document(draw: Any, index: int = 0) -> Broken:
    """A document with one thing wrong: a mutated valid object, a non-mapping, or a wrong header."""
    body = draw(valid_body(index))
    kind = draw(st.sampled_from(["mutation", "mutation", "mutation", "header", "not-mapping"]))
    if kind == "not-mapping":
        return Broken(draw(st.sampled_from(NOT_MAPPINGS)), "", "a document that is not a mapping")
    candidates = HEADER_MUTATIONS if kind == "header" else (slo_mutations(body) if body["kind"] == "SLO" else kpi_mutations(body))
    path = draw(st.sampled_from(candidates))(body)
    return Broken(_dump(body), path, "mutated valid spec")


@st.composite
def broken_input(draw: Any) -> Broken:
    """A whole input that must be refused: one broken document, or text that is not YAML at all."""
    if draw(st.integers(0, 5)) == 0:
        return Broken(draw(st.sampled_from(BAD_YAML)), "", "not YAML")
    return draw(broken_document())


LINE = re.compile(r"^<stdin>: document (?P<index>\d+)(?: \((?P<what>.*?)\))?: (?P<rest>.+)$")


def assert_refused_with_a_located_message(result: CliResult, broken: Broken, index: int = 1) -> None:
    assert result.code == 1, f"exit {result.code} for {broken.why}; stderr:\n{result.stderr}\ninput:\n{broken.text}"
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = [LINE.match(line) for line in result.stderr.splitlines()]
    located = [m for m in lines if m and int(m["index"]) == index]
    assert located, f"no '<stdin>: document {index}...: ...' line; stderr:\n{result.stderr}\ninput:\n{broken.text}"
    if broken.path:
        assert any(
            m["rest"].startswith(broken.path + ": ") or m["rest"].startswith(broken.path + ".") or m["rest"].startswith(broken.path + "[")
            for m in located
        ), f"no message names {broken.path!r}; stderr:\n{result.stderr}\ninput:\n{broken.text}"


@CLI_SETTINGS
@given(broken=broken_input())
def test_validate_refuses_an_invalid_document_naming_the_field(broken: Broken) -> None:
    result = run_cli(["validate", "-f", "-"], broken.text)
    assert_refused_with_a_located_message(result, broken)
    if broken.why == "not YAML":
        assert "not valid YAML" in result.stderr


@CLI_SETTINGS
@given(broken=broken_input())
def test_generate_refuses_an_invalid_document_and_writes_nothing(broken: Broken) -> None:
    result = run_cli(["generate", "-f", "-"], broken.text)
    assert_refused_with_a_located_message(result, broken)
    assert result.stdout == ""


FIXED_SPECS = {
    "SLO ratio queries": {
        "apiVersion": API_VERSION,
        "kind": "SLO",
        "metadata": {"name": "checkout-availability", "namespace": "shop"},
        "spec": {
            "service": "checkout",
            "owner": "team-payments",
            "objective": 99.9,
            "indicator": {
                "ratio": {
                    "errors": 'sum(rate(http_requests_total{service="checkout",code=~"5.."}[{{.window}}]))',
                    "total": 'sum(rate(http_requests_total{service="checkout"}[{{.window}}]))',
                }
            },
        },
    },
    "SLO ratio selectors, grouped": {
        "apiVersion": API_VERSION,
        "kind": "SLO",
        "metadata": {"name": "api-per-route"},
        "spec": {
            "service": "api",
            "owner": "team-platform",
            "objective": 99.5,
            "window": "7d",
            "indicator": {
                "ratio": {"errorsMetric": 'http_requests_total{code=~"5.."}', "totalMetric": "http_requests_total"},
                "grouping": ["route"],
            },
            "alerting": {"minEvents": 50},
        },
    },
    "SLO latency": {
        "apiVersion": API_VERSION,
        "kind": "SLO",
        "metadata": {"name": "search-latency"},
        "spec": {
            "service": "search",
            "owner": "team-search",
            "objective": 99,
            "window": "28d",
            "indicator": {"latency": {"histogram": "http_request_duration_seconds", "selector": '{job="search"}', "threshold": 0.3}},
        },
    },
    "SLO raw": {
        "apiVersion": API_VERSION,
        "kind": "SLO",
        "metadata": {"name": "legacy"},
        "spec": {
            "service": "legacy",
            "owner": "team-legacy",
            "objective": 95,
            "indicator": {"raw": {"errorRatio": "avg_over_time(job:error_ratio[{{.window}}])"}},
        },
    },
    "KPI": {
        "apiVersion": API_VERSION,
        "kind": "KPI",
        "metadata": {"name": "conversion", "namespace": "shop"},
        "spec": {
            "owner": "team-growth",
            "query": "sum(rate(orders_total[{{.window}}])) / sum(rate(visits_total[{{.window}}]))",
            "target": {"op": ">=", "value": 0.03},
            "thresholds": {"warning": 0.025, "critical": 0.02},
        },
    },
}


def _table() -> list[Any]:
    cases = []
    for name, body in FIXED_SPECS.items():
        mutations = slo_mutations(body) if body["kind"] == "SLO" else kpi_mutations(body)
        for mutation in [*mutations, *HEADER_MUTATIONS]:
            broken = copy.deepcopy(body)
            mutation(broken)
            cases.append(pytest.param(Broken(_dump(broken), mutation.expect, mutation.label), id=f"{name}: {mutation.label}"))
    cases += [pytest.param(Broken(text, "", "not a mapping"), id=f"not a mapping: {text!r}") for text in NOT_MAPPINGS]
    cases += [pytest.param(Broken(text, "", "not YAML"), id=f"not YAML: {text!r}") for text in BAD_YAML]
    return cases


@pytest.mark.parametrize("body", FIXED_SPECS.values(), ids=FIXED_SPECS.keys())
def test_the_fixed_specs_are_valid_before_they_are_broken(body: dict[str, Any]) -> None:
    result = run_cli(["validate", "-f", "-"], _dump(body))
    assert result.code == 0, result.stderr


@pytest.mark.parametrize("broken", _table())
def test_each_kind_of_mistake_is_refused_naming_the_field(broken: Broken) -> None:
    """The mistakes the generated tests draw from, each on a fixed spec of every kind, so every one runs every time."""
    result = run_cli(["validate", "-f", "-"], broken.text)
    assert_refused_with_a_located_message(result, broken)


@st.composite
def mixed_stream(draw: Any) -> tuple[list[Optional[Broken]], str]:
    """2-5 documents, valid (None) and broken, as one YAML stream."""
    slots: list[Optional[Broken]] = []
    texts = []
    for index in range(draw(st.integers(2, 5))):
        if draw(st.booleans()):
            slots.append(None)
            texts.append(_dump(draw(valid_body(index))))
        else:
            broken = draw(broken_document(index))
            slots.append(broken)
            texts.append(broken.text)
    if all(slot is None for slot in slots):
        broken = draw(broken_document(99))
        slots.append(broken)
        texts.append(broken.text)
    return slots, "".join("---\n" + text.rstrip("\n") + "\n" for text in texts)


@CLI_SETTINGS
@given(stream=mixed_stream())
def test_each_invalid_document_of_a_stream_is_reported_and_no_valid_one(stream: tuple[list[Optional[Broken]], str]) -> None:
    slots, text = stream
    result = run_cli(["validate", "-f", "-"], text)
    assert result.code == 1, result.stderr
    reported = {int(m["index"]) for m in (LINE.match(line) for line in result.stderr.splitlines()) if m}
    for number, slot in enumerate(slots, start=1):
        if slot is None:
            assert number not in reported, f"valid document {number} was reported:\n{result.stderr}\n{text}"
        else:
            assert_refused_with_a_located_message(result, slot, index=number)
    generate = run_cli(["generate", "-f", "-"], text)
    assert generate.code == 1 and generate.stdout == ""


def test_one_valid_and_two_invalid_documents_report_both_errors() -> None:
    valid = {
        "apiVersion": API_VERSION,
        "kind": "KPI",
        "metadata": {"name": "conversion"},
        "spec": {"owner": "team", "query": "sum(rate(orders_total[{{.window}}]))", "target": {"op": ">=", "value": 1}},
    }
    objective = {**copy.deepcopy(valid), "metadata": {"name": "second"}}
    objective["spec"]["target"]["op"] = "=="
    typo = {**copy.deepcopy(valid), "metadata": {"name": "third"}}
    typo["spec"]["qurey"] = typo["spec"].pop("query")
    text = "---\n".join(_dump(body) for body in (valid, objective, typo))
    result = run_cli(["validate", "-f", "-"], text)
    assert result.code == 1
    lines = result.stderr.splitlines()
    assert any(line.startswith("<stdin>: document 2 (KPI/second): spec.target.op: ") for line in lines), result.stderr
    assert "<stdin>: document 3 (KPI/third): spec.qurey: unknown field (not part of the kpi.dev/v1alpha1 API; check the spelling)" in lines
    assert "<stdin>: document 3 (KPI/third): spec.query: required field is missing" in lines
    assert not any("document 1" in line for line in lines), result.stderr


def test_the_installed_command_refuses_an_invalid_document_without_a_traceback() -> None:
    text = "apiVersion: kpi.dev/v1alpha1\nkind: [SLO]\nmetadata: {name: a}\n---\n" "apiVersion: kpi.dev/v1alpha1\nkind: KPI\nmetadata: {name: b}\nspec: {owner: o, query: up, target: {op: '>=', value: .nan}}\n"
    for command in ("validate", "generate"):
        proc = subprocess.run(
            [sys.executable, "-m", "kpi_operator.cli", command, "-f", "-"],
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
        assert "<stdin>: document 1 (['SLO']/a): kind: " in proc.stderr, proc.stderr
        assert "<stdin>: document 2 (KPI/b): spec.target.value: " in proc.stderr, proc.stderr
        if command == "generate":
            assert proc.stdout == ""

