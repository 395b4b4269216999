"""Problems found in the project's own inputs, reported as ``file:line: message``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input file.

    ``file`` is relative to the project root so that the message can be pasted into an
    editor; ``line`` is 1-based and counts lines of that file, or is ``None`` when the
    problem concerns the whole file.
    """

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"

    def github_annotation(self) -> str:
        """The same problem as a GitHub Actions workflow command (shown inline in PRs)."""
        line = "" if self.line is None else f",line={self.line}"
        message = self.message.replace("%", "%25").replace("\n", "%0A")
        return f"::error file={self.file}{line}::{message}"


class InputError(Exception):
    """Raised when an input cannot be used at all; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
