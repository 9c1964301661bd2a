"""Run identity: fingerprints of params, context and seeds, and the run id built from them.

A run id is the fingerprint of ``{"experiment_id", "context_fp", "params_fp", "seed_fp"}``
(plus ``"code_fp"`` when the operation's code hash is part of identity). Context
fingerprints are taken after :func:`resolve_context` has replaced every
:class:`Fingerprintable` value (``FilePath``, ``DirPath`` or a user type) with its
``fingerprint_payload()``, so file hashes are computed when a run is planned, not when the
spec is built.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from metalab._canonical import fingerprint
from metalab._filehash import dir_hash, dir_metadata_hash, file_hash, file_metadata_hash

if TYPE_CHECKING:
    from metalab.seeds.bundle import SeedBundle

__all__ = [
    "DirHash",
    "DirPath",
    "FileHash",
    "FilePath",
    "Fingerprintable",
    "compute_run_id",
    "dir_hash",
    "file_hash",
    "fingerprint_context",
    "fingerprint_params",
    "fingerprint_seeds",
    "resolve_context",
]


@runtime_checkable
class Fingerprintable(Protocol):
    """A value that supplies its fingerprint data when the context is resolved.

    ``fingerprint_payload()`` is called lazily (at run planning time), so it may read files,
    query git, etc.; its dict replaces the value in the fingerprinted context.
    """

    def fingerprint_payload(self) -> dict[str, Any]:
        """Return the data that stands for this value in the context fingerprint."""
        ...


@dataclass(frozen=True)
class FilePath:
    """A file in a context spec, fingerprinted by its metadata (size, mtime, inode).

    Building one does not touch the filesystem; the hash is taken when the context is
    resolved, so the file may be produced after the spec is created. With
    ``hash_path=True`` the path itself is part of the fingerprint too. Usable wherever a
    path is expected (``str()``, ``os.fspath()``, ``Path()``).
    """

    path: str
    hash_path: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.path, Path):
            object.__setattr__(self, "path", str(self.path))

    def fingerprint_payload(self) -> dict[str, Any]:
        """Return ``{"hash": ...}`` (and ``"path"`` when ``hash_path``).

        Raises:
            FileNotFoundError: the file does not exist.
        """
        payload: dict[str, Any] = {"hash": file_metadata_hash(self.path)}
        if self.hash_path:
            payload["path"] = self.path
        return payload

    def __str__(self) -> str:
        return self.path

    def __fspath__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        suffix = ", hash_path=True" if self.hash_path else ""
        return f"FilePath({self.path!r}{suffix})"


@dataclass(frozen=True)
class DirPath:
    """A directory in a context spec, fingerprinted by the metadata of its matching files.

    Like :class:`FilePath`, lazily hashed at resolution time; ``pattern`` selects the files
    (glob, default ``"*"``); ``hash_path=True`` adds path and pattern to the fingerprint.
    """

    path: str
    pattern: str = "*"
    hash_path: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.path, Path):
            object.__setattr__(self, "path", str(self.path))

    def fingerprint_payload(self) -> dict[str, Any]:
        """Return ``{"hash": ...}`` (and ``"path"``, ``"pattern"`` when ``hash_path``).

        Raises:
            FileNotFoundError: the directory does not exist.
        """
        payload: dict[str, Any] = {"hash": dir_metadata_hash(self.path, self.pattern)}
        if self.hash_path:
            payload["path"] = self.path
            payload["pattern"] = self.pattern
        return payload

    def __str__(self) -> str:
        return self.path

    def __fspath__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        parts = [repr(self.path)]
        if self.pattern != "*":
            parts.append(f"pattern={self.pattern!r}")
        if self.hash_path:
            parts.append("hash_path=True")
        return f"DirPath({', '.join(parts)})"


FileHash = FilePath
"""Deprecated alias of :class:`FilePath`."""

DirHash = DirPath
"""Deprecated alias of :class:`DirPath`."""


def resolve_context(spec: Any, _path: str = "context") -> tuple[Any, dict[str, Any]]:
    """Replace every fingerprintable value in ``spec`` with its payload.

    Dataclasses and dicts become dicts, lists and tuples become lists, other values pass
    through. Returns ``(resolved, manifest)`` where ``manifest`` maps the dotted location of
    each resolved value (``"context.data"``, ``"context.items[0]"``) to
    ``{"type": <class name>, **payload}``.

    Raises:
        FileNotFoundError: a payload needed a missing file; the message starts with the
            value's location.
    """
    manifest: dict[str, Any] = {}

    def child(value: Any, where: str) -> Any:
        resolved, found = resolve_context(value, where)
        manifest.update(found)
        return resolved

    if hasattr(spec, "fingerprint_payload"):
        try:
            payload = spec.fingerprint_payload()
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{_path}: {exc}") from exc
        manifest[_path] = {"type": type(spec).__name__, **payload}
        return payload, manifest
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        fields = dataclasses.fields(spec)
        return {f.name: child(getattr(spec, f.name), f"{_path}.{f.name}") for f in fields}, manifest
    if isinstance(spec, dict):
        return {key: child(value, f"{_path}.{key}") for key, value in spec.items()}, manifest
    if isinstance(spec, (list, tuple)):
        return [child(item, f"{_path}[{i}]") for i, item in enumerate(spec)], manifest
    return spec, manifest


def fingerprint_params(params: dict[str, Any]) -> str:
    """Fingerprint a resolved parameter dict (this is also a param case's ``case_id``)."""
    return fingerprint(params)


def fingerprint_context(spec: Any) -> str:
    """Fingerprint a context spec after :func:`resolve_context`.

    Raises:
        FileNotFoundError: a ``FilePath``/``DirPath`` in the spec is missing.
    """
    resolved, _ = resolve_context(spec)
    return fingerprint(resolved)


def fingerprint_seeds(bundle: SeedBundle) -> str:
    """Fingerprint a seed bundle by its root seed and replicate index."""
    return fingerprint({"root_seed": bundle.root_seed, "replicate_index": bundle.replicate_index})


def compute_run_id(
    experiment_id: str,
    context_fp: str,
    params_fp: str,
    seed_fp: str,
    code_fp: str | None = None,
) -> str:
    """Return the 16-hex-digit run id for these component fingerprints.

    ``experiment_id`` is ``"name:version"``; ``code_fp`` (the operation's code hash) takes
    part only when given.
    """
    parts = {
        "experiment_id": experiment_id,
        "context_fp": context_fp,
        "params_fp": params_fp,
        "seed_fp": seed_fp,
    }
    if code_fp is not None:
        parts["code_fp"] = code_fp
    return fingerprint(parts)
