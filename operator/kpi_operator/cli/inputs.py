"""Reading ``-f FILE|DIR|-`` arguments into validated documents, for every command that takes specs.

Directories are read recursively in name order (``.yaml`` / ``.yml``); folders whose name starts with ``_`` or
``.`` are skipped, so ``examples/_gen/`` (generated output kept beside the examples) is never read as input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterable, Iterator

from ..api.loading import Document, Problem, load_text


def add_filename_argument(parser: "argparse.ArgumentParser") -> None:
    """``-f FILE|DIR|-``, repeatable: the same input option for every command that reads specs."""
    parser.add_argument(
        "-f", "--filename", action="append", required=True, metavar="FILE|DIR|-", help="file, directory or - for stdin; repeatable"
    )


class InputError(Exception):
    """A path that cannot be read at all (missing file, unreadable): a usage error, exit 2."""


def iter_sources(paths: Iterable[str]) -> Iterator[tuple[str, str]]:
    """``(name, text)`` for every input file; ``-`` is standard input."""
    for raw in paths:
        if raw == "-":
            yield "<stdin>", sys.stdin.read()
            continue
        path = Path(raw)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in (".yaml", ".yml")
                and p.is_file()
                and not any(part.startswith(("_", ".")) for part in p.relative_to(path).parts[:-1])
            )
            for file in files:
                yield str(file), _read(file)
        elif path.exists():
            yield str(path), _read(path)
        else:
            raise InputError(f"{raw}: no such file or directory")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read: {error}") from None


def load_documents(paths: Iterable[str]) -> list[Document]:
    """Every document of every input, each validated on its own."""
    documents: list[Document] = []
    for name, text in iter_sources(paths):
        docs = load_text(text, name)
        if not docs:
            documents.append(Document(source=name, index=0, body=None, problems=[Problem("", "no documents in file")]))
        documents.extend(docs)
    return documents
