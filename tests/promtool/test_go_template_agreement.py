"""The Go template checker (``kpi_operator.api.go_template``) and ``promtool check rules`` agree.

Each template of the corpus is put in an alert annotation and an alert label of a rule file; promtool (Go's own
template parser with Prometheus' functions) accepts or refuses it, and the checker must decide the same. The
corpus holds real-world Prometheus templates and the mistakes the checker exists for (``{{``, ``{{ end }}``,
``{{ if x }}``, ``{{ $labels. }}``), and the corners of the syntax: trim markers, comments, literals, variables
and their scopes, control structures, pipelines.
"""

from __future__ import annotations

import pytest

from kpi_operator.api.go_template import check_template
from support.promtool import check_rules, requires_promtool

pytestmark = [pytest.mark.promtool, requires_promtool]

CORPUS = [
    '{{ $labels.instance }}',
    '{{ $value | humanizePercentage }}',
    '{{ printf "%.2f" $value }}',
    '{{ with query "up" }}{{ . | first | value }}{{ end }}',
    '{{ if gt $value 1.0 }}x{{ else }}y{{ end }}',
    '{{',
    '{{ end }}',
    '{{ if x }}',
    '{{ if true }}',
    '{{ $labels. }}',
    '}}',
    'a }} b',
    '{{ }}',
    '{{/* c */}}',
    '{{- /* c */ -}}',
    '{{ /* c */ }}',
    '{{/* c */ }}',
    '{{/* c',
    '{{- $value -}}',
    '{{-$value}}',
    '{{-3}}',
    '{{ $value -}}',
    '{{ $value-}}',
    '{{ $foo }}',
    '{{ $x := 1 }}{{ $x }}',
    '{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}',
    '{{ range $i, $e := $labels }}{{ $i }}={{ $e }}{{ end }}',
    '{{ range $labels }}{{ break }}{{ end }}',
    '{{ break }}',
    '{{ range $labels }}{{ continue }}{{ end }}',
    '{{ if true }}a{{ else if false }}b{{ else }}c{{ end }}',
    '{{ with $labels }}a{{ else with $value }}b{{ end }}',
    '{{ define "x" }}hi{{ end }}{{ template "x" }}',
    '{{ template "nope" }}',
    '{{ template x }}',
    '{{ block "b" . }}hi{{ end }}',
    '{{ if true }}{{ define "x" }}y{{ end }}{{ end }}',
    '{{ define "x" }}{{ $labels }}{{ end }}',
    '{{ "a\\"b" }}',
    '{{ `raw\nstring` }}',
    "{{ 'a' }}",
    "{{ 'ab' }}",
    '{{ "unterminated }}',
    '{{ 1 | 2 }}',
    '{{ $value | 2 }}',
    '{{ nil }}',
    '{{ printf "%s" nil }}',
    '{{ .Labels.foo }}',
    '{{ . }}',
    '{{ $ }}',
    '{{ $.Labels }}',
    '{{ (len $labels) }}',
    '{{ (len $labels }}',
    '{{ len $labels) }}',
    '{{ $value\n}}',
    '{{ 0x1F }}',
    '{{ 1e3 }}',
    '{{ 1.2.3 }}',
    '{{ 089 }}',
    '{{ 1_000 }}',
    '{{ 1+2i }}',
    '{{ | }}',
    '{{ $value | }}',
    '{{ $x = 1 }}',
    '{{ $labels = 1 }}',
    '{{ $x := }}',
    '{{ "a".b }}',
    '{{ (.).Labels }}',
    '{{ $labels.a.b }}',
    '{{ a:=1 }}',
    '{{ $value = }}',
    '{{ else }}',
    '{{ if }}{{ end }}',
    '{{ range }}{{ end }}',
    '{{ with }}{{ end }}',
    '{{ if true }}{{ else }}{{ else }}{{ end }}',
    '{{ end x }}',
    '{{ if true x }}{{ end }}',
    '{{ humanize $value }}%',
    '{{ index $labels "a" }}',
    '{{ $labels.a | toUpper | printf "%s!" }}',
    '{{ true }}',
    '{{ true.x }}',
    '{{ $value.x.y }}',
    '{{ .x.y }}',
    '{{ ,}}',
    '{{ $value,$value }}',
    '{{ range $a, $b, $c := $labels }}{{ end }}',
    '{{ range $a := $labels }}{{ $a }}{{ end }}',
    '{{ with $a := $labels }}{{ $a }}{{ end }}',
    '{{ if $a := 1 }}{{ $a }}{{ end }}',
    '{{ $a, $b := 1 }}',
    '{{ ! }}',
    '{{ $value + 1 }}',
    '{{ $x+1 }}',
    "{{ 'a }}",
    "{{ '\\n' }}",
    '{{ "\\q" }}',
    '{{ `a` }}',
    '{{ "é" }}',
    '{{ é }}',
    '{{ x.y }}',
    '{{ printf .x }}',
    '{{ (printf) }}',
    '{{ () }}',
    '{{ define "x" }}a{{ end }}{{ define "x" }}b{{ end }}',
    '{{ define "x" }}{{ end }}{{ define "x" }}b{{ end }}',
    '{{ define x }}{{ end }}',
    '{{ define "x" }}',
    '{{ template "x" $value }}',
    '{{ template "x" $value $value }}',
    '{{ block "b" }}x{{ end }}',
]


def _rule_file(text: str) -> list[dict]:
    return [{"name": "g", "rules": [
        {"alert": "A", "expr": "up", "annotations": {"x": text}},
        {"alert": "B", "expr": "up", "labels": {"x": text}},
    ]}]


def test_the_corpus_is_large_and_mixed() -> None:
    assert len(CORPUS) >= 25
    verdicts = {check_template(text) is None for text in CORPUS}
    assert verdicts == {True, False}


@pytest.mark.parametrize("text", CORPUS)
def test_the_checker_and_promtool_agree(text: str) -> None:
    accepted, output = check_rules(_rule_file(text), lint_fatal=False)
    mine = check_template(text)
    assert (mine is None) == accepted, f"promtool {'accepts' if accepted else 'refuses'} {text!r}: {output.strip()[-300:]}; checker: {mine}"
