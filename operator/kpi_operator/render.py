"""YAML output that people read: multi-line PromQL as literal blocks, keys in the order they were built."""

from __future__ import annotations

from typing import Any, Iterable

import yaml


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings as ``|`` blocks (PromQL stays readable in diffs)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump_yaml(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)


def dump_yaml_documents(documents: Iterable[Any]) -> str:
    """A multi-document YAML stream, each document starting with ``---``."""
    return "".join("---\n" + dump_yaml(document) for document in documents)
