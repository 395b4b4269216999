"""The bibliography (CSL-JSON in ``annotations/bibliography.json``) and note citations.

A citation in a note is ``key`` or ``key locator``: ``hua-raley-2023 §2 ¶13``,
``hua-raley-2023 §3 ¶5–6``, ``hua-raley-2023 note 12``, ``mackenzie-2017 p. 22``.
For a work that records its structure (``custom.sections`` = paragraphs per section,
``custom.notes``, ``custom.figures``) the locator is checked against it, so that a note
cannot cite a paragraph the article does not have.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .problems import InputError, Problem

_LOCATOR = re.compile(
    r"^(?:§(?P<section>\d+)(?:\s*¶(?P<p1>\d+)(?:[–-](?P<p2>\d+))?)?"
    r"|note[s]?\s+(?P<n1>\d+)(?:[–-](?P<n2>\d+))?"
    r"|fig(?:ure)?\.?\s+(?P<f1>\d+)(?:[–-](?P<f2>\d+))?"
    r"|pp?\.\s+(?P<page>\d+(?:[–-]\d+)?)"
    r"|ch\.\s+\d+)$"
)


@dataclass(frozen=True)
class Work:
    key: str
    data: dict

    @property
    def year(self) -> str:
        parts = self.data.get("issued", {}).get("date-parts", [[]])
        return str(parts[0][0]) if parts and parts[0] else "n.d."

    def _names(self) -> list[str]:
        out = []
        for person in self.data.get("author", []):
            out.append(person.get("family") or person.get("literal") or "")
        return [n for n in out if n]

    @property
    def short(self) -> str:
        """Author–date label: ``Hua & Raley 2023``, ``Radford et al. 2019``."""
        names = [n for n in self._names() if n != "et al."]
        etal = "et al." in self._names() or len(names) > 2
        if not names:
            who = self.data.get("title", self.key)
        elif etal:
            who = f"{names[0]} et al."
        else:
            who = " & ".join(names)
        return f"{who} {self.year}"

    def reference_html(self) -> str:
        """A full reference in a plain author–date style, already HTML-escaped."""
        d = self.data
        people = []
        for person in d.get("author", []):
            if "literal" in person:
                people.append(person["literal"])
            else:
                people.append(", ".join(p for p in (person.get("family"), person.get("given")) if p))
        esc = html.escape
        parts = [esc("; ".join(people) or d.get("title", self.key)), f"({esc(self.year)})."]
        title = esc(d.get("title", ""))
        container = d.get("container-title")
        if d.get("type") in {"book", "report", "software"} and not container:
            parts.append(f"<em>{title}</em>.")
        else:
            parts.append(f"“{title}.”")
        if container:
            volume = d.get("volume")
            issue = d.get("issue")
            extra = f" {esc(volume)}" if volume else ""
            extra += f".{esc(issue)}" if issue else ""
            parts.append(f"<em>{esc(container)}</em>{extra}.")
        if d.get("editor"):
            eds = ", ".join(e.get("family", e.get("literal", "")) for e in d["editor"])
            parts.append(f"Ed. {esc(eds)}.")
        if d.get("publisher"):
            place = d.get("publisher-place")
            parts.append(f"{esc(place)}: {esc(d['publisher'])}." if place else f"{esc(d['publisher'])}.")
        if d.get("page"):
            parts.append(f"pp. {esc(d['page'])}.")
        if d.get("URL"):
            url = esc(d["URL"], quote=True)
            parts.append(f'<a href="{url}">{esc(d["URL"])}</a>')
        if d.get("note"):
            parts.append(f"<span class=\"mg-bib-note\">{esc(d['note'])}</span>")
        return " ".join(parts)

    def check_locator(self, locator: str) -> str | None:
        match = _LOCATOR.match(locator)
        if not match:
            return (f"locator {locator!r} is not understood; write e.g. '§2 ¶13', '§3 ¶5–6', "
                    f"'note 12', 'fig. 6' or 'p. 22'")
        structure = self.data.get("custom", {})
        sections = structure.get("sections")
        if match.group("section") and sections:
            section = match.group("section")
            if section not in sections:
                return f"{self.short} has no section §{section} (it has §1–§{len(sections)})"
            for para in (match.group("p1"), match.group("p2")):
                if para and not 1 <= int(para) <= sections[section]:
                    return f"§{section} of {self.short} has paragraphs ¶1–¶{sections[section]}, not ¶{para}"
        notes = structure.get("notes")
        for note in (match.group("n1"), match.group("n2")):
            if note and notes and not 1 <= int(note) <= notes:
                return f"{self.short} has notes 1–{notes}, not note {note}"
        figures = structure.get("figures")
        for fig in (match.group("f1"), match.group("f2")):
            if fig and figures and not 1 <= int(fig) <= figures:
                return f"{self.short} has figures 1–{figures}, not fig. {fig}"
        return None


@dataclass(frozen=True)
class Citation:
    key: str
    locator: str | None

    @classmethod
    def parse(cls, text: str) -> "Citation":
        key, _, locator = text.strip().partition(" ")
        return cls(key, locator.strip() or None)


@dataclass(frozen=True)
class Bibliography:
    works: dict[str, Work]

    def __contains__(self, key: str) -> bool:
        return key in self.works

    def __getitem__(self, key: str) -> Work:
        return self.works[key]

    def sorted(self) -> list[Work]:
        return sorted(self.works.values(), key=lambda w: (w.short.lower(), w.key))


def load_bibliography(path: Path, *, display: str | None = None) -> Bibliography:
    name = display or path.name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError([Problem(name, None, f"cannot read the bibliography: {exc.strerror}")]) from None
    except json.JSONDecodeError as exc:
        raise InputError([Problem(name, exc.lineno, f"not valid JSON: {exc.msg}")]) from None
    if not isinstance(data, list):
        raise InputError([Problem(name, 1, "the bibliography must be a CSL-JSON list of works")])
    works: dict[str, Work] = {}
    problems: list[Problem] = []
    for index, item in enumerate(data):
        key = item.get("id") if isinstance(item, dict) else None
        if not isinstance(key, str) or not re.match(r"^[a-z0-9][a-z0-9-]*$", key):
            problems.append(Problem(name, None, f"work #{index + 1} needs an `id` that is a lower-case slug"))
        elif key in works:
            problems.append(Problem(name, None, f"work id {key!r} occurs twice"))
        else:
            works[key] = Work(key, item)
    if problems:
        raise InputError(problems)
    return Bibliography(works)
