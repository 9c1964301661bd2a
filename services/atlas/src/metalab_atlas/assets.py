"""The UI: static files shipped in the package, loaded into memory once.

A request names a file; it is looked up in a fixed table, so no client text ever reaches the
filesystem.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from starlette.responses import Response

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; frame-ancestors 'none'"


class Assets:
    """The files of ``static/`` and of its ``vendor/`` folder (third-party libraries, named
    ``vendor/NAME``)."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        static = resources.files("metalab_atlas") / "static"
        self._load(static, "")
        vendor = static / "vendor"
        if vendor.is_dir():
            self._load(vendor, "vendor/")

    def _load(self, folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            suffix = "." + entry.name.rpartition(".")[2]
            if entry.is_file() and suffix in TYPES and not entry.name.startswith("."):
                self.files[prefix + entry.name] = (entry.read_bytes(), TYPES[suffix])

    def response(self, name: str) -> Response | None:
        found = self.files.get(name)
        if found is None:
            return None
        body, media_type = found
        return Response(
            body,
            media_type=media_type,
            headers={
                "Content-Security-Policy": CSP,
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-cache",
            },
        )
