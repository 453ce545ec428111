"""Progress of long operations (fetching results, waiting for runs) on stderr.

On a terminal one line is redrawn in place as a bar (``[#####.....] 3/6 fetch: ...``); on
anything else (a pipe, a log file, CI) each change is one plain line, never a control
character, so logs stay readable.
"""

from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    """A counter towards ``total`` (None: unknown) with a message, drawn on ``stream``."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        width: int = 24,
        tty: bool | None = None,
    ):
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.width = width
        self._last = ""
        self._drawn = 0

    def bar(self) -> str:
        if not self.total:
            return ""
        filled = min(self.width, round(self.width * self.done / self.total))
        return "[" + "#" * filled + "." * (self.width - filled) + "] "

    def line(self, message: str = "") -> str:
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        text = f"{self.label}: {count}"
        return f"{self.bar() if self.tty else ''}{text}" + (f" {message}" if message else "")

    def update(
        self, done: int | None = None, *, total: int | None = None, message: str = ""
    ) -> None:
        """Set the count (and total), and draw if anything changed."""
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        text = self.line(message)
        if text == self._last:
            return
        self._last = text
        if self.tty:
            pad = max(0, self._drawn - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._drawn = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def advance(self, n: int = 1, *, message: str = "") -> None:
        self.update(self.done + n, message=message)

    def close(self) -> None:
        """End the line drawn in place (a no-op on a non-terminal)."""
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = 0
