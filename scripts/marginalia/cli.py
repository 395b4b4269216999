"""Command line: ``python -m marginalia <command>`` (the Makefile calls these).

    extract   fetch and verify every pinned file into the cache
    check     check every note; print problems as file:line: message
    pages     write the generated pages into docs/code/
    build     extract, check, then ``mkdocs build --strict`` (``--generator zensical``: the
              pages, then ``zensical build --strict`` into site-zensical/), then csp, then linkcheck
    serve     extract, then ``mkdocs serve`` (notes rebuild on save; problems shown, not fatal)
    linkcheck check every internal link and anchor of the built site (run by build)
    csp       put the Content-Security-Policy (script hashes computed per page) into every page of the built site (run by build)
    schema    write annotations/note.schema.json from the note model
    new       scaffold a note on CODEBASE PATH LINES (placeholders for what the author says); print its path
    export    write every note as a W3C Web Annotation, one AnnotationCollection (site/annotations.jsonld)
    import    turn W3C (or Hypothesis) annotations of presented files into draft notes; never overwrites
    cite      print a note's citation: Chicago author-date 18th, MLA 9th, APA 7th, BibTeX, RIS, CSL-JSON
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import citation, csp, scaffold, urls, webanno
from .linkcheck import check_completeness, check_site
from .manifest import load_manifest
from .notes import NoteFrontMatter, load_notes
from .problems import InputError
from .site import (ZENSICAL_SITE, Options, Project, generate, load_inputs, missing_lines, run_mkdocs, run_zensical,
                   site_base_path)
from .sources import Extractor, Reporter, load_sources
from .svglinks import rewrite_site as rewrite_svg_links


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _print_problems(problems, stream=sys.stderr) -> None:
    github = _truthy("GITHUB_ACTIONS")
    for problem in problems:
        print(problem.github_annotation() if github else str(problem), file=stream)


def cmd_extract(project: Project, args: argparse.Namespace) -> int:
    manifest = load_manifest(project.manifest_path)
    report = Extractor(manifest, project.cache, Reporter()).run(set(args.codebase) if args.codebase else None)
    total = len(report.extracted) + len(report.from_cache) + len(report.failures)
    print(f"extract: {len(report.extracted)} fetched, {len(report.from_cache)} already in the cache, "
          f"{len(report.failures)} failed, of {total} files", file=sys.stderr)
    tolerated = bool(report.failures) and args.allow_missing and all(f.kind == "unreachable" for f in report.failures)
    for line in report.failure_lines():
        print(f"{'warning' if tolerated else 'error'}: {line}", file=sys.stderr)
    if tolerated:
        print(f"warning: continuing without {', '.join(report.missing_codebases())} "
              "(MARGINALIA_ALLOW_MISSING): their pages will say 'not extracted'", file=sys.stderr)
        return 0
    return 1 if report.failures else 0


def cmd_check(project: Project, args: argparse.Namespace) -> int:
    inputs = load_inputs(project)
    notes = inputs.notes
    _print_problems(notes.problems)
    for line in missing_lines(inputs.manifest, inputs.sources):
        print(f"{'warning' if args.allow_missing else 'error'}: {line}", file=sys.stderr)
    for note in notes.unverified:
        print(f"{note.file}: unverified: {note.codebase}/{note.path} is not extracted", file=sys.stderr)
    if args.reviews:
        for note, why in notes.unreviewed:
            print(f"{note.file}:{note.line_of('reviewed') if note.review else 1}: unreviewed: {why}", file=sys.stderr)
    files = len(notes.notes) + len(notes.broken)
    broken = len({p.file for p in notes.problems})
    print(f"check: {files} notes, {broken} with problems ({len(notes.problems)} problems), "
          f"{len(notes.unverified)} unverified, {len(notes.unreviewed)} not reviewed against their pinned file",
          file=sys.stderr)
    if notes.problems or (notes.unverified and not args.allow_missing):
        return 1
    return 0


def cmd_pages(project: Project, args: argparse.Namespace) -> int:
    result = generate(project, Options(preview=args.preview, allow_missing=args.allow_missing))
    for line in result.log:
        print(line, file=sys.stderr)
    print(f"pages: {result.pages} pages, {len(result.written)} written, {len(result.removed)} removed", file=sys.stderr)
    return 0


def cmd_build(project: Project, args: argparse.Namespace) -> int:
    status = cmd_extract(project, args)
    if status:
        print("build: stopped, sources missing. Set MARGINALIA_ALLOW_MISSING=1 (make site ALLOW_MISSING=1) "
              "to build the rest with 'not extracted' notices.", file=sys.stderr)
        return status
    if cmd_check(project, args):
        print("build: stopped, the notes have problems (listed above as file:line: message).", file=sys.stderr)
        return 1
    env = {"MARGINALIA_ALLOW_MISSING": "1" if args.allow_missing else "0"}
    if args.generator == "zensical":
        # Zensical reads mkdocs.yml but runs no MkDocs hook: write the generated pages first.
        cmd_pages(project, argparse.Namespace(preview=False, allow_missing=args.allow_missing))
        site = project.root / ZENSICAL_SITE
        status = run_zensical(project, "build", "--strict", "--clean", *args.mkdocs_args,
                              env={**env, "SITE_DIR": str(site)})
    else:
        site = project.root / "site"
        status = run_mkdocs(project, "build", "--strict", *args.mkdocs_args, env=env)
    if status == 0 and not args.mkdocs_args:
        args.site = site
        rewrite_svg_links(site)  # before the policy: it hashes the pages as they will be served
        cmd_csp(project, args)  # first: the policy is part of the pages the later steps read
        write_collection(project, site / "annotations.jsonld")
        status = cmd_linkcheck(project, args)
    return status


def cmd_csp(project: Project, args: argparse.Namespace) -> int:
    """Every page of the built site gets its Content-Security-Policy (see marginalia.csp)."""
    site = Path(getattr(args, "site", None) or project.root / "site")
    report = csp.apply(site)
    print(f"csp: {report.pages} pages, {report.rewritten} rewritten; {report.inline_scripts} inline scripts, "
          f"{len(report.hashes)} distinct, allowed by hash ({len(report.shared)} in page bodies, allowed on every "
          f"page for instant navigation)", file=sys.stderr)
    return 0


def cmd_linkcheck(project: Project, args: argparse.Namespace) -> int:
    """Links and anchors of the built site, and that every note made it onto a page."""
    site = Path(getattr(args, "site", None) or project.root / "site")
    inputs = load_inputs(project)
    unextracted = frozenset()
    if args.allow_missing:  # without the opt-in, a link into a missing file is broken like any other
        unextracted = frozenset(urls.code_page(cb, f.path) + "index.html" for cb, f in inputs.manifest.files()
                                if inputs.sources[(cb, f.path)].text is None)
    report = check_site(site, site_base_path(project), unextracted)
    for link in report.broken:
        print(f"error: {link}", file=sys.stderr)
    for link in report.unverified:
        print(f"unverified: {link}", file=sys.stderr)
    code_pages = [urls.code_page(cb, f.path) for cb, f in inputs.manifest.files()]
    code_pages += [urls.lineage_page(r.id) for r in inputs.lineage.relations]  # and every compare page
    missing = check_completeness(site, [n.id for n in inputs.notes.notes], code_pages)
    for message in missing:
        print(f"error: {message}", file=sys.stderr)
    unverified = f", {len(report.unverified)} unverified (lines of files not extracted)" if report.unverified else ""
    print(f"linkcheck: {report.checked} internal links and anchors, {len(report.broken)} broken{unverified}; "
          f"{len(inputs.notes.notes)} notes, {len(missing)} missing or repeated", file=sys.stderr)
    return 1 if report.broken or missing else 0


def cmd_serve(project: Project, args: argparse.Namespace) -> int:
    args.allow_missing = True
    cmd_extract(project, args)
    # --dirty: after an edit only the pages whose files changed are rebuilt (the hook rewrites
    # only the generated pages whose content changed), so a saved note shows in about a second.
    return run_mkdocs(project, "serve", "--dirty", *args.mkdocs_args, env={"MARGINALIA_ALLOW_MISSING": "1"})


def cmd_schema(project: Project, args: argparse.Namespace) -> int:
    schema = NoteFrontMatter.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    target = project.annotations / "note.schema.json"
    if args.check:
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            print(f"{target.relative_to(project.root)} is out of date: run `python -m marginalia schema`", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    return 0


def write_collection(project: Project, target: Path) -> list[str]:
    """Every note as a W3C Web Annotation, in one collection (JSON-LD) at ``target``."""
    inputs = load_inputs(project)
    site = citation.site_url(project.root)
    data, skipped = webanno.collection(inputs.notes.notes, inputs.sources, inputs.manifest, site,
                                       citation.NoteHistory.read(project.root))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(webanno.dumps(data), encoding="utf-8")
    for line in skipped:
        print(f"warning: {line}", file=sys.stderr)
    print(f"export: {data['total']} notes as W3C Web Annotations in {target}", file=sys.stderr)
    return skipped


def cmd_export(project: Project, args: argparse.Namespace) -> int:
    target = args.output if args.output else project.root / "site" / "annotations.jsonld"
    write_collection(project, Path(target))
    return 0


def _raw_inputs(project: Project):
    manifest = load_manifest(project.manifest_path)
    sources = load_sources(manifest, project.cache)
    notes = load_notes(project.annotations, project.root)
    return manifest, sources, notes


def cmd_new(project: Project, args: argparse.Namespace) -> int:
    manifest, sources, notes = _raw_inputs(project)
    try:
        made = scaffold.new_note(manifest, sources, notes.notes, args.codebase, args.path, args.lines, args.id)
        if args.stdout:
            sys.stdout.write(made.text)
            return 0
        written = scaffold.write_new_note(project.root, made)
    except scaffold.ScaffoldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(written.relative_to(project.root).as_posix())
    print(f"new: class {made.text.split('class: ')[1].split()[0]} taken from {made.class_from}; fill in every "
          "{{…}} placeholder, then run `make check`", file=sys.stderr)
    return 0


def cmd_import(project: Project, args: argparse.Namespace) -> int:
    manifest, sources, notes = _raw_inputs(project)
    report = webanno.import_file(project.root, Path(args.file), manifest, sources, notes.notes,
                                 citation.site_url(project.root), dry_run=args.dry_run)
    if report.fatal:
        print(f"error: {report.fatal}", file=sys.stderr)
        print("import: nothing written", file=sys.stderr)
        return 1
    for line in report.problems:
        print(f"import: {line}", file=sys.stderr)
    for draft in report.drafts:
        if args.dry_run:
            print(f"{draft.filename} (lines {draft.start}-{draft.end}; not written: --dry-run)")
    for name in report.written:
        print(name)
    print(f"import: {len(report.drafts)} anchored, {len(report.written)} written; check them with `make check`",
          file=sys.stderr)
    return 0 if report.drafts or not report.problems else 1


def cmd_cite(project: Project, args: argparse.Namespace) -> int:
    notes = load_notes(project.annotations, project.root)
    note = notes.by_id().get(args.note)
    if note is None:
        print(f"error: no note with id {args.note!r}", file=sys.stderr)
        return 1
    try:
        cited = citation.cite_note(project.root, note)
    except citation.RendererMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if cited.unavailable:
        print(cited.unavailable, file=sys.stderr)
        return 1
    wanted = args.format
    for key, style in cited.styles.items():
        if wanted in ("all", key):
            print(f"{style.label}:\n  {style.text}\n  in the text: {style.in_text}\n" if wanted == "all" else style.text)
    if wanted in ("all", "bibtex"):
        print(cited.bibtex)
    if wanted in ("all", "ris"):
        print(cited.ris.replace("\r\n", "\n"))
    if wanted in ("all", "csl-json"):
        print(cited.csl_json, end="")
    return 0


COMMANDS = {"extract": cmd_extract, "check": cmd_check, "pages": cmd_pages, "build": cmd_build,
            "serve": cmd_serve, "linkcheck": cmd_linkcheck, "csp": cmd_csp, "schema": cmd_schema,
            "new": cmd_new, "export": cmd_export, "import": cmd_import, "cite": cmd_cite}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="marginalia", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--root", type=Path, help="project root (default: found from the current directory)")
    sub = top.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        cmd = sub.add_parser(name)
        if name in ("extract", "check", "pages", "build", "serve", "linkcheck"):
            cmd.add_argument("--allow-missing", action="store_true", default=_truthy("MARGINALIA_ALLOW_MISSING"),
                             help="carry on when some upstream files are not extracted (also MARGINALIA_ALLOW_MISSING=1)")
        if name in ("extract", "build", "serve"):
            cmd.add_argument("--codebase", action="append", help="only this codebase (repeatable)")
        if name in ("check", "build"):
            cmd.add_argument("--reviews", action="store_true",
                             help="list each note whose review record is missing or older than its pinned file")
        if name == "pages":
            cmd.add_argument("--preview", action="store_true", help="show broken notes instead of failing")
        if name in ("linkcheck", "csp"):
            cmd.add_argument("site", nargs="?", type=Path, help="the built site (default: site/)")
        if name == "schema":
            cmd.add_argument("--check", action="store_true", help="fail if the committed schema is out of date")
        if name == "build":
            cmd.add_argument("--generator", choices=("mkdocs", "zensical"), default="mkdocs",
                             help="mkdocs (into site/, the published site) or zensical (into site-zensical/)")
        if name in ("build", "serve"):
            cmd.add_argument("mkdocs_args", nargs="*", help="passed on to the generator")
        if name == "new":
            cmd.add_argument("codebase", help="a codebase id from sources.toml (gpt-2, aidungeon, twdne, transformers)")
            cmd.add_argument("path", help="the file's path as listed in sources.toml (src/model.py)")
            cmd.add_argument("lines", help="one line (85) or a range (80-82)")
            cmd.add_argument("--id", help="the note's id (else a placeholder, and the file is new-<…>.md)")
            cmd.add_argument("--stdout", action="store_true", help="print the note instead of writing it")
        if name == "export":
            cmd.add_argument("--output", type=Path, help="where to write (default: site/annotations.jsonld)")
        if name == "import":
            cmd.add_argument("file", help="a W3C annotation collection, annotation page, annotation or list, "
                                          "or Hypothesis' JSON export")
            cmd.add_argument("--dry-run", action="store_true", help="report what would be written; write nothing")
        if name == "cite":
            cmd.add_argument("note", help="the note's id")
            cmd.add_argument("--format", default="all",
                             choices=("all", "chicago", "mla", "apa", "bibtex", "ris", "csl-json"))
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        project = Project(args.root.resolve()) if args.root else Project.find()
        return COMMANDS[args.command](project, args)
    except InputError as exc:
        _print_problems(exc.problems)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
