"""BundleStore: the registry's domain — bundle.json files are the truth, guarded by file locks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from metalab.core.bundle import Bundle
from metalab.core.bundle.discover import Discovered, discover
from metalab.core.bundle.files import (
    BUNDLE_NAME,
    bundle_path,
    home_services_dir,
    read_bundle,
)
from metalab.core.errors import BundleError
from metalab_registry.writer import NonceMismatch, Operation, commit

__all__ = ["BundleKey", "BundleStore", "NonceMismatch"]


@dataclass(frozen=True)
class BundleKey:
    project: str
    environment: str
    file_root: str = ""

    @property
    def path(self) -> Path:
        return bundle_path(self.project, self.environment, self.file_root or None)


class BundleStore:
    """Get, put (optionally compare-and-swap on the nonce), delete, list and discover bundles."""

    def get(self, key: BundleKey) -> Bundle | None:
        """The key's bundle; `BundleRefused` when it is not provably this environment's."""
        return read_bundle(key.path, key.project, key.environment)

    def put(self, key: BundleKey, bundle: Bundle, expected_nonce: str = "") -> Path:
        path = key.path
        _raise_rejection(commit(path, [Operation(bundle, expected_nonce)]))
        return path

    def delete(self, key: BundleKey, expected_nonce: str = "") -> bool:
        return _raise_rejection(commit(key.path, [Operation(None, expected_nonce)]))

    def list(self, roots: list[str], project: str = "") -> list[tuple[Path, Bundle]]:
        paths: list[Path] = []
        home = home_services_dir()
        if home.is_dir():
            paths.extend(sorted(home.glob(f"*/*/{BUNDLE_NAME}")))
        paths.extend(Path(root) / "services" / BUNDLE_NAME for root in roots)
        found = []
        for path in paths:
            try:
                bundle = read_bundle(path)
            except BundleError:
                continue  # listed by `metalab services status` for its own environment instead
            if bundle is not None and (not project or bundle.get("project") == project):
                found.append((path, bundle))
        return found

    def discover(self, start_dir: str, project: str = "", environment: str = "") -> Discovered:
        return discover(Path(start_dir), project or None, environment or None)


def _raise_rejection(outcomes: list[bool | NonceMismatch]) -> bool:
    (outcome,) = outcomes
    if isinstance(outcome, NonceMismatch):
        raise outcome
    return outcome
