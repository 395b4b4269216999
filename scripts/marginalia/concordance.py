"""The concordance: every code location the article discusses, and the notes that cover it.

``annotations/article-map.toml`` lists the rows of our paper map (G = GPT-2, D = AI Dungeon,
W = This Word Does Not Exist). A row's entry is *covered* when, for each cited span, some
note on the same file has lines containing the span and the row's class.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .manifest import CodeClass
from .notes import Note
from .problems import InputError, Problem


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: Annotated[str, Field(pattern=r"^[GDW][0-9]+$")]
    cites: str
    topic: str
    codebase: str | None = None
    path: str | None = None
    lines: list[Annotated[str, Field(pattern=r"^[1-9][0-9]*(-[1-9][0-9]*)?$")]] = []
    code_class: CodeClass | None = Field(default=None, alias="class")
    outside: str | None = None

    @model_validator(mode="after")
    def _where(self) -> "Row":
        in_code = self.codebase and self.path and self.lines and self.code_class
        if bool(in_code) == bool(self.outside):
            raise ValueError(f"row {self.id}: give either codebase, path, lines and class, or `outside`")
        return self

    def spans(self) -> list[tuple[int, int]]:
        out = []
        for item in self.lines:
            start, _, end = item.partition("-")
            out.append((int(start), int(end or start)))
        return out

    @property
    def sort_key(self) -> tuple[int, int]:
        return ("GDW".index(self.id[0]), int(self.id[1:]))


class _Map(BaseModel):
    model_config = ConfigDict(extra="forbid")
    row: list[Row]


@dataclass(frozen=True)
class Coverage:
    row: Row
    notes: tuple[Note, ...]
    uncovered: tuple[tuple[int, int], ...]

    @property
    def complete(self) -> bool:
        return self.row.outside is not None or not self.uncovered


def load_rows(path: Path) -> list[Row]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError([Problem(path.name, None, f"cannot read: {exc.strerror}")]) from None
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise InputError([Problem(path.name, int(line.group(1)) if line else None, f"not valid TOML: {exc}")]) from None
    try:
        return sorted(_Map.model_validate(data).row, key=lambda r: r.sort_key)
    except ValidationError as exc:
        raise InputError([Problem(path.name, None, f"{'.'.join(map(str, e['loc']))}: {e['msg']}") for e in exc.errors()]) from None


def coverage(rows: list[Row], notes: list[Note]) -> list[Coverage]:
    out = []
    for row in rows:
        if row.outside is not None:
            out.append(Coverage(row, (), ()))
            continue
        candidates = [n for n in notes if n.codebase == row.codebase and n.path == row.path]
        covering: list[Note] = []
        uncovered = []
        for start, end in row.spans():
            matches = [n for n in candidates if n.start <= start and end <= n.end and n.code_class is row.code_class]
            if not matches:
                uncovered.append((start, end))
            # the tightest note first: it is the one about these lines
            covering.extend(sorted(matches, key=lambda n: (n.end - n.start, n.start))[:1])
        unique = tuple(dict.fromkeys(covering))
        out.append(Coverage(row, unique, tuple(uncovered)))
    return out
