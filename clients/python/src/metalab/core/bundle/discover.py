"""`store="discover"`: find the nearest service bundle without starting gRPC."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from metalab.core.bundle.files import BUNDLE_NAME, read_bundle
from metalab.core.bundle.model import Bundle
from metalab.core.errors import BundleNotFound, BundleRefused


class Discovered(NamedTuple):
    store_locator: str
    path: Path
    bundle: Bundle


def discover(
    start_dir: Path | None = None,
    project: str | None = None,
    environment: str | None = None,
    configured_path: Path | None = None,
) -> Discovered:
    """Walk up from ``start_dir`` to the nearest ``services/bundle.json`` of this project/env.

    Bundles of another project or environment are skipped, never returned. ``configured_path``
    (where the project's config says the bundle lives, e.g. a file_root outside the tree) is
    tried when the walk finds nothing.
    """
    start = (start_dir or Path.cwd()).resolve()
    skipped: list[str] = []
    candidates = [d / "services" / BUNDLE_NAME for d in (start, *start.parents)]
    if configured_path is not None:
        candidates.append(configured_path)
    for candidate in candidates:
        try:
            bundle = read_bundle(candidate, root_reads_owner=True)  # read-only use
        except BundleRefused as exc:  # e.g. planted by another account in a shared directory
            skipped.append(f"{candidate} (refused: {str(exc).removeprefix(str(candidate))})")
            continue
        if bundle is None:
            continue
        if project and bundle.get("project") != project:
            skipped.append(f"{candidate} (project {bundle.get('project')!r})")
            continue
        if environment and bundle.get("environment") != environment:
            skipped.append(f"{candidate} (environment {bundle.get('environment')!r})")
            continue
        locator = bundle.get("store_locator")
        if not isinstance(locator, str) or not locator:
            skipped.append(f"{candidate} (no store_locator)")
            continue
        return Discovered(locator, candidate, bundle)
    hint = f"; skipped {', '.join(skipped)}" if skipped else ""
    raise BundleNotFound(
        f"no service bundle found from {start}{hint}; run `metalab services up` first"
    )
