"""YAML output that people read, written fast: multi-line PromQL as literal blocks, keys in the order built.

``generate`` writes hundreds of thousands of rules for a large estate; PyYAML's representer alone took 25 of the
37 seconds for 10,000 SLOs. The data written here is plain (mappings, lists, strings, numbers, booleans), so a
small emitter suffices. It is conservative: a string is written plain only when it cannot be read back as
anything else, as a ``|`` block when it is multi-line and safe for one, single-quoted when it is one printable
line, and double-quoted (JSON escapes, which YAML reads) otherwise. ``tests/unit/test_render.py`` checks that everything reads back equal with PyYAML.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Iterable

_PLAIN = re.compile(r"^[A-Za-z_/](?:[A-Za-z0-9_./:@-]*[A-Za-z0-9_./@-])?$")
# Words YAML 1.1 (PyYAML) reads as booleans or null, in any of their spellings.
_RESERVED = {
    "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
# Characters JSON leaves raw that YAML reads as line breaks or refuses as non-printable: escaped as \uXXXX.
_UNSAFE_IN_QUOTES = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def _scalar_string(value: str) -> str:
    if _PLAIN.fullmatch(value) and value.lower() not in _RESERVED:  # fullmatch: "$" alone allows a trailing newline
        return value
    if value and "\n" not in value and not _CONTROL.search(value) and not _UNSAFE_IN_QUOTES.search(value) and "\t" not in value and "\r" not in value:
        # Single quotes need no escapes but doubled quotes: PromQL with label matchers stays readable.
        return "'" + value.replace("'", "''") + "'"
    quoted = json.dumps(value, ensure_ascii=False)
    return _UNSAFE_IN_QUOTES.sub(lambda m: f"\\u{ord(m.group(0)):04x}", quoted)


def _block_ok(value: str) -> bool:
    """Whether ``value`` can be a ``|`` / ``|-`` literal block and read back unchanged."""
    if "\n" not in value or _CONTROL.search(value) or "\t" in value or "\r" in value:
        return False
    body = value[:-1] if value.endswith("\n") else value
    first = next((line for line in body.split("\n") if line), "")
    if body.endswith("\n") or not first or first[0] == " ":  # the first text line sets the block's indentation
        return False
    return all(line == line.rstrip() for line in body.split("\n"))


def _number(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "e" in text and "." not in text:  # YAML 1.1 reads 1e-05 as a string; 1.0e-05 is a float
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    return text


def _inline(value: Any) -> str | None:
    """The one-line form of a scalar or empty collection, or None when it needs lines of its own."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return None if _block_ok(value) else _scalar_string(value)
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, (list, tuple)) and not value:
        return "[]"
    return None


def _block(value: str, indent: str) -> str:
    chomp = "" if value.endswith("\n") else "-"
    body = value[:-1] if value.endswith("\n") else value
    return f"|{chomp}\n" + "\n".join(f"{indent}{line}" if line else "" for line in body.split("\n")) + "\n"


def _emit(value: Any, indent: str, out: list[str]) -> None:
    """Write a mapping or list whose first line starts after whatever the caller wrote."""
    if isinstance(value, dict):
        first = True
        for key, item in value.items():
            prefix = "" if first else indent
            first = False
            key_text = _scalar_string(str(key))
            inline = _inline(item)
            if inline is not None:
                out.append(f"{prefix}{key_text}: {inline}\n")
            elif isinstance(item, str):
                out.append(f"{prefix}{key_text}: {_block(item, indent + '  ')}")
            elif isinstance(item, dict):
                out.append(f"{prefix}{key_text}:\n{indent}  ")
                _emit(item, indent + "  ", out)
            else:
                out.append(f"{prefix}{key_text}:\n{indent}")
                _emit(item, indent, out)
        return
    if isinstance(value, (list, tuple)):
        first = True
        for item in value:
            prefix = "" if first else indent
            first = False
            inline = _inline(item)
            if inline is not None:
                out.append(f"{prefix}- {inline}\n")
            elif isinstance(item, str):
                out.append(f"{prefix}- {_block(item, indent + '  ')}")
            else:
                out.append(f"{prefix}- ")
                _emit(item, indent + "  ", out)
        return
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def dump_yaml(document: Any) -> str:
    """One YAML document (no ``---``)."""
    inline = _inline(document)
    if inline is not None:
        return inline + "\n"
    if isinstance(document, str):
        return _block(document, "  ")
    out: list[str] = []
    _emit(document, "", out)
    return "".join(out)


def dump_yaml_documents(documents: Iterable[Any]) -> str:
    """A multi-document YAML stream, each document starting with ``---``."""
    return "".join("---\n" + dump_yaml(document) for document in documents)


def write_yaml_documents(documents: Iterable[Any], stream: Any) -> None:
    """The same stream written document by document, so 10,000 objects never sit in memory as one string."""
    for document in documents:
        stream.write("---\n")
        stream.write(dump_yaml(document))
