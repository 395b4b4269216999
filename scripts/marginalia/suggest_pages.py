""""Suggest a note on these lines": what the code page needs to scaffold a note in the reader's browser.

When a reader selects lines (click, shift-click), the script offers GitHub's new-file page
for ``annotations/<codebase>/``, prefilled with the note :func:`scaffold.new_note` would
write for those lines (``make new`` does the same locally); without a configured
repository it shows that command instead. Everything the scaffold depends on beyond the
line's own text is in a small ``suggest.json`` beside the page, fetched on first use: the
file's definitions (to name the enclosing symbol exactly as :func:`scaffold.enclosing_symbol`
does), the notes' ranges and classes, the file's class, and the scaffold's fixed texts. A
browser test compares the script's result with :func:`scaffold.new_note` range by range.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from . import scaffold, symbols
from .layers import CodeView, Layer, PageAdditions
from .notes import Note
from .pages import Page
from .urls import Repository

SUGGEST_FILE = "suggest.json"


def suggest_table(codebase: str, path: str, text: str, file_class: str, notes: list[Note],
                  symbol_cache: symbols.SymbolCache | None = None) -> dict:
    prefix = scaffold.ID_PREFIXES.get(codebase, codebase)
    return {
        "codebase": codebase, "path": path, "prefix": prefix, "class": file_class,
        "stem": path.rsplit("/", 1)[-1].rsplit(".", 1)[0],
        "defs": (symbol_cache or symbols.SymbolCache()).definitions(path, text),
        "notes": sorted([n.start, n.end, n.code_class.value, n.id] for n in notes),
        "body": scaffold.BODY_PROMPT,
        "limit": scaffold.MAX_TEXT_BYTES,
    }


class SuggestLayer(Layer):
    """The data the "Suggest a note" action needs, beside each code page, and where to send it."""

    def __init__(self, repository: Repository | None, notes_by_file: Mapping[tuple[str, str], list[Note]],
                 symbol_cache: symbols.SymbolCache | None = None):
        self.repository = repository
        self.notes_by_file = notes_by_file
        self.symbol_cache = symbol_cache or symbols.SymbolCache()

    def code_page(self, view: CodeView) -> PageAdditions | None:
        if view.text is None:
            return None
        table = suggest_table(view.codebase, view.path, view.text, view.file.code_class.value,
                              self.notes_by_file.get((view.codebase, view.path), []), self.symbol_cache)
        attributes = {"data-suggest": SUGGEST_FILE}
        if self.repository is not None:
            attributes["data-repo"] = self.repository.url
            attributes["data-branch"] = self.repository.branch
        text = json.dumps(table, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n"
        return PageAdditions(attributes=attributes, companions=[Page(view.page_dir + SUGGEST_FILE, text)])
