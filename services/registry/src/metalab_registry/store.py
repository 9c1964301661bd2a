"""BundleStore: the registry's domain — bundle.json files are the truth, guarded by file locks."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from metalab._bundle.discover import Discovered, discover
from metalab._bundle.files import (
    BUNDLE_NAME,
    Bundle,
    bundle_path,
    delete_bundle,
    home_services_dir,
    read_bundle,
    write_bundle,
)
from metalab.errors import BundleError, MetalabError


class NonceMismatch(MetalabError):
    """A compare-and-swap on a bundle lost: someone else changed it first."""


@dataclass(frozen=True)
class BundleKey:
    project: str
    environment: str
    file_root: str = ""

    @property
    def path(self) -> Path:
        return bundle_path(self.project, self.environment, self.file_root or None)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class BundleStore:
    """Get, put (optionally compare-and-swap on the nonce), delete, list and discover bundles."""

    def get(self, key: BundleKey) -> Bundle | None:
        return read_bundle(key.path)

    def put(self, key: BundleKey, bundle: Bundle, expected_nonce: str = "") -> Path:
        path = key.path
        with _locked(path):
            if expected_nonce:
                self._check_nonce(path, expected_nonce)
            write_bundle(path, bundle)
        return path

    def delete(self, key: BundleKey, expected_nonce: str = "") -> bool:
        path = key.path
        with _locked(path):
            if expected_nonce:
                self._check_nonce(path, expected_nonce)
            return delete_bundle(path)

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

    @staticmethod
    def _check_nonce(path: Path, expected: str) -> None:
        current = read_bundle(path)
        actual = current.get("nonce", "") if current else ""
        if actual != expected:
            raise NonceMismatch(f"{path}: bundle changed (nonce {actual!r}, expected {expected!r})")
