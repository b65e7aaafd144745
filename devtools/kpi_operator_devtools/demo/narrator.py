"""Terminal narration for the demo: numbered steps, a live progress line while waiting, tables at the end.

On a terminal the progress line is redrawn in place (elapsed time, what is awaited, the latest reading); when the
output is a pipe or a CI log, the same facts come as plain lines, at most one every few seconds, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Iterable, Optional, Sequence, TextIO

SPINNER = "|/-\\"


class Narrator:
    def __init__(self, stream: Optional[TextIO] = None, color: Optional[bool] = None):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.color = self.tty if color is None else color
        self.started = time.monotonic()
        self.step_number = 0
        self._live = False
        self._tick = 0
        self._last_plain = 0.0

    def _paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def _clear(self) -> None:
        if self._live:
            self.stream.write("\r\033[K")
            self._live = False

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:5.1f}s"

    def step(self, title: str) -> None:
        self._clear()
        self.step_number += 1
        self.stream.write("\n" + self._paint(f"[{self.step_number}] {title}", "1;36") + "\n")
        self.stream.flush()

    def say(self, text: str) -> None:
        self._clear()
        self.stream.write(f"    {text}\n")
        self.stream.flush()

    def good(self, text: str) -> None:
        self.say(self._paint("✔ ", "32") + text)

    def warn(self, text: str) -> None:
        self.say(self._paint("! ", "33") + text)

    def bad(self, text: str) -> None:
        self.say(self._paint("✘ ", "31") + text)

    def progress(self, waiting_for: str, reading: str = "") -> None:
        """One progress update while waiting; cheap to call every poll."""
        if self.tty:
            self._tick += 1
            line = f"    {SPINNER[self._tick % 4]} [{self.elapsed()}] {waiting_for}"
            if reading:
                line += f"  {reading}"
            self.stream.write("\r\033[K" + line[:160])
            self._live = True
            self.stream.flush()
        elif time.monotonic() - self._last_plain >= 3.0:
            self._last_plain = time.monotonic()
            self.stream.write(f"    ... [{self.elapsed()}] {waiting_for}{'  ' + reading if reading else ''}\n")
            self.stream.flush()

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        self._clear()
        cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        for index, row in enumerate(cells):
            line = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row))
            self.stream.write("    " + (self._paint(line, "1") if index == 0 else line) + "\n")
        self.stream.flush()

    def side_by_side(self, left_title: str, left: list[str], right_title: str, right: list[str]) -> None:
        self._clear()
        width = max([len(left_title)] + [len(line) for line in left]) + 4
        self.stream.write("    " + self._paint(left_title.ljust(width), "1") + self._paint(right_title, "1") + "\n")
        for index in range(max(len(left), len(right))):
            a = left[index] if index < len(left) else ""
            b = right[index] if index < len(right) else ""
            marker = self._paint(b, "33") if a != b else b
            self.stream.write("    " + a.ljust(width) + marker + "\n")
        self.stream.flush()
