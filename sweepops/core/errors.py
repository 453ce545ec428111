"""The one error type users see: what is wrong, where, and what to do."""

from __future__ import annotations


class SweepopsError(Exception):
    """A user-facing error. ``str()`` gives the full message.

    ``where`` is ``file:line`` (or just a file / host) when known, ``hint`` says what to do.
    """

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ExperimentError(SweepopsError):
    """An experiment file is malformed or invalid. May carry several problems."""

    def __init__(self, problems: list[str], *, hint: str | None = None):
        self.problems = problems
        super().__init__("\n".join(problems), hint=hint)
