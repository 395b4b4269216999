"""Where a library name is documented: the rules of ``annotations/library-docs.toml``.

Data, not guesses: each rule names the codebases (and pins) it serves, the documentation
of the library version the code was written for, and examples that the tests check.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .problems import InputError, Problem
from .xref import Definition, LibraryUse, XrefIndex


class DocRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    library: str
    label: str
    codebases: list[str]
    pins: list[str] = []
    prefix: str | None = None
    path_root: str | None = None
    code: str | None = Field(default=None, pattern=r"^[a-z0-9._-]+:[A-Za-z0-9._-]+$")
    """``codebase:pin``: names defined in that pin's presented files link to their code page."""
    url: str = ""
    default_page: str | None = None
    pages: dict[str, str] = {}
    examples: list[tuple[str, str]] = []

    def matches(self, codebase: str, pin: str, library: str, qualname: str) -> bool:
        if codebase not in self.codebases or (self.pins and pin not in self.pins) or library != self.library:
            return False
        return self.prefix is None or qualname == self.prefix or qualname.startswith(self.prefix + ".")

    def url_for(self, qualname: str) -> str:
        parts = qualname.split(".")
        path = qualname
        if self.prefix and self.path_root is not None:
            path = self.path_root + qualname[len(self.prefix):]
        page = next((self.pages[key] for key in sorted(self.pages, key=len, reverse=True)
                     if qualname == key or qualname.startswith(key + ".")), None)
        if page is None:
            page = (self.default_page or "").format(top=parts[0])
        return self.url.format(qualname=qualname, path=path.replace(".", "/"), page=page, name=parts[-1], top=parts[0])


@dataclass(frozen=True)
class LibraryDocs:
    rules: tuple[DocRule, ...] = ()

    def target(self, codebase: str, pin: str, use: LibraryUse, index: XrefIndex) -> Definition | tuple[str, str] | None:
        """Where a library name leads: a definition in presented code of the library version
        the codebase pinned (a ``code`` rule), else (url, label) of the first documentation
        rule that matches, else None (no documented place, no link)."""
        for rule in self.rules:
            if not rule.matches(codebase, pin, use.library, use.qualname):
                continue
            if rule.code:
                library_codebase, _, library_pin = rule.code.partition(":")
                key = index.exports.get((library_codebase, library_pin, use.qualname))
                if key is not None and key in index.definitions:
                    return index.definitions[key]
                continue
            return rule.url_for(use.qualname), rule.label
        return None


def load_library_docs(path: Path, display: str = "annotations/library-docs.toml") -> LibraryDocs:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return LibraryDocs()
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError([Problem(display, None, f"cannot read the library documentation rules: {exc}")]) from None
    rules, problems = [], []
    for index, raw in enumerate(data.get("rule", [])):
        try:
            rules.append(DocRule.model_validate(raw))
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"])
                problems.append(Problem(display, None, f"rule[{index}] {where}: {error['msg']}"))
    if problems:
        raise InputError(problems)
    return LibraryDocs(tuple(rules))
