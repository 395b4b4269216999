"""The source manifest (``sources.toml``): which upstream files the site presents, pinned.

Loading turns the TOML into small typed objects and checks everything that can be checked
without the network: field types, hash formats, that every file names a pin that exists,
that paths and archive members are safe relative paths. Each problem becomes one line
``sources.toml: <where>: <what>``.
"""

from __future__ import annotations

import re
import tomllib
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .problems import InputError, Problem

SHA256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="lower-case hex sha256")]
GIT_COMMIT = Annotated[str, Field(pattern=r"^[0-9a-f]{40}$", description="full 40-hex commit id")]
SLUG = r"^[a-z0-9][a-z0-9._-]*$"


class CodeClass(str, Enum):
    """A place on Hua and Raley's map of deep learning code."""

    model = "model"
    application = "application"
    boundary = "boundary"

    @property
    def label(self) -> str:
        return {"model": "Model code", "application": "Application code", "boundary": "Boundary"}[self.value]


def safe_relative_path(value: str) -> str:
    """Reject absolute paths, ``..`` segments, backslashes and empty segments."""
    if not value or value.startswith("/") or "\\" in value or "\x00" in value:
        raise ValueError(f"{value!r} is not a safe relative path")
    parts = PurePosixPath(value).parts
    if any(part in ("", ".", "..") for part in parts) or re.match(r"^[A-Za-z]:", value):
        raise ValueError(f"{value!r} is not a safe relative path")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Artifact(_Strict):
    """A file on PyPI, fetched by URL and trusted only after its sha256 matches."""

    url: Annotated[str, Field(pattern=r"^https://")]
    sha256: SHA256

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def kind(self) -> Literal["wheel", "sdist"]:
        return "wheel" if self.filename.endswith(".whl") else "sdist"


class Mirror(_Strict):
    """Another place holding byte-identical content (same sha256) for one file."""

    artifact: str
    member: str

    _safe_member = field_validator("member")(safe_relative_path)


class Pin(_Strict):
    """One pinned upstream version: a git commit, or a PyPI artifact."""

    git: Annotated[str, Field(pattern=r"^(https://|file://|/)")] | None = None
    commit: GIT_COMMIT | None = None
    artifact: str | None = None
    label: str
    browse: str = Field(description="URL template with {commit}, {member} and {path} placeholders")

    @model_validator(mode="after")
    def _one_kind(self) -> "Pin":
        if self.artifact is None and (self.git is None or self.commit is None):
            raise ValueError("a pin needs either `git` and `commit`, or `artifact`")
        if self.artifact is not None and (self.git is not None or self.commit is not None):
            raise ValueError("a pin is either a git commit or an artifact, not both")
        return self

    @property
    def is_git(self) -> bool:
        return self.git is not None


class SourceFile(_Strict):
    """One presented file of a codebase."""

    path: str
    sha256: SHA256
    code_class: CodeClass = Field(alias="class")
    class_note: str | None = None
    licence: str | None = None
    pin: str | None = None
    member: str | None = None
    mirrors: list[Mirror] = []

    _safe_path = field_validator("path")(safe_relative_path)

    @field_validator("member")
    @classmethod
    def _safe_member(cls, value: str | None) -> str | None:
        return None if value is None else safe_relative_path(value)


class Reference(_Strict):
    """A file that is extracted and hash-checked like a presented file but gets no code page:
    it is shown only where it is compared (the lineage pages, ``annotations/lineage.toml``).
    Later releases of a library, and other packages' copies of a presented file."""

    label: str = Field(description="what the file is, for headings: 'transformers 2.9.0'")
    path: str = Field(description="the file's path inside its package, for display")
    artifact: str
    member: str
    sha256: SHA256
    date: Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")] | None = None
    browse: Annotated[str, Field(pattern=r"^https://")] = Field(
        description="the file upstream at this version; a line fragment (#L10-L20) is appended to it")

    _safe_member = field_validator("member")(safe_relative_path)
    _safe_path = field_validator("path")(safe_relative_path)


class Codebase(_Strict):
    title: str
    authors: str
    summary: str
    upstream: Annotated[str, Field(pattern=r"^https://")]
    licence: str
    licence_file: str | None = None
    pins: dict[str, Pin]
    files: list[SourceFile]

    @model_validator(mode="after")
    def _consistent(self) -> "Codebase":
        if not self.pins:
            raise ValueError("a codebase needs at least one pin")
        seen: set[str] = set()
        for index, file in enumerate(self.files):
            if file.path in seen:
                raise ValueError(f"files[{index}]: path {file.path!r} is listed twice")
            seen.add(file.path)
            if file.pin is None and len(self.pins) > 1:
                raise ValueError(f"files[{index}] ({file.path}): `pin` is required when a codebase has several pins")
            if file.pin is not None and file.pin not in self.pins:
                raise ValueError(f"files[{index}] ({file.path}): unknown pin {file.pin!r}")
        if self.licence_file is not None and self.licence_file not in seen:
            raise ValueError(f"licence_file {self.licence_file!r} is not one of the listed files")
        return self


class Manifest(_Strict):
    schema_version: Literal[1] = Field(alias="schema")
    artifacts: dict[str, Artifact] = {}
    codebases: dict[str, Codebase]
    references: dict[str, Reference] = {}

    @field_validator("codebases", "references")
    @classmethod
    def _slugs(cls, value: dict, info) -> dict:
        for key in value:
            if not re.match(SLUG, key):
                raise ValueError(f"{info.field_name[:-1]} id {key!r} must be a lower-case slug")
        return value

    @model_validator(mode="after")
    def _artifacts_exist(self) -> "Manifest":
        for cb_id, codebase in self.codebases.items():
            for pin_id, pin in codebase.pins.items():
                if pin.artifact is not None and pin.artifact not in self.artifacts:
                    raise ValueError(f"codebases.{cb_id}.pins.{pin_id}: unknown artifact {pin.artifact!r}")
            for file in codebase.files:
                pin = codebase.pins[file.pin or next(iter(codebase.pins))]
                if pin.artifact is not None and file.member is None:
                    raise ValueError(f"codebases.{cb_id} file {file.path}: `member` is required for an artifact pin")
                for mirror in file.mirrors:
                    if mirror.artifact not in self.artifacts:
                        raise ValueError(f"codebases.{cb_id} file {file.path}: unknown mirror artifact {mirror.artifact!r}")
        mirrors = {(m.artifact, m.member): (cb_id, f) for cb_id, f in self.files() for m in f.mirrors}
        for ref_id, ref in self.references.items():
            if ref.artifact not in self.artifacts:
                raise ValueError(f"references.{ref_id}: unknown artifact {ref.artifact!r}")
            mirrored = mirrors.get((ref.artifact, ref.member))
            if mirrored is not None and mirrored[1].sha256 != ref.sha256:
                raise ValueError(f"references.{ref_id}: the same member is a mirror of {mirrored[0]}/{mirrored[1].path}, "
                                 "whose sha256 differs")
        return self

    # -- queries -----------------------------------------------------------------
    def pin_of(self, codebase_id: str, file: SourceFile) -> Pin:
        codebase = self.codebases[codebase_id]
        return codebase.pins[file.pin or next(iter(codebase.pins))]

    def files(self) -> list[tuple[str, SourceFile]]:
        """Every presented file as ``(codebase id, file)``, in manifest order."""
        return [(cb_id, f) for cb_id, cb in self.codebases.items() for f in cb.files]


def member_of(file: SourceFile) -> str:
    """The file's path inside its primary pin (a repository path or an archive member)."""
    return file.member or file.path


def browse_url(pin: Pin, file: SourceFile) -> str:
    return pin.browse.format(commit=pin.commit or "", member=member_of(file), path=file.path)


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def parse_manifest(text: str, *, filename: str = "sources.toml") -> Manifest:
    """Parse and validate manifest text; raise :class:`InputError` listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        raise InputError([Problem(filename, line, f"not valid TOML: {exc}")]) from None
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = _where(tuple(p for p in error["loc"] if p not in ("function-after",)))
            message = error["msg"].removeprefix("Value error, ")
            problems.append(Problem(filename, None, f"{where}: {message}" if where else message))
        raise InputError(problems) from None


def load_manifest(path: Path) -> Manifest:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError([Problem(path.name, None, f"cannot read the manifest: {exc.strerror}")]) from None
    return parse_manifest(text, filename=path.name)
