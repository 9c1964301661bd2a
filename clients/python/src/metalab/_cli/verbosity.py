"""``-v``/``-vv``: INFO, then DEBUG, logging to stderr, with secrets scrubbed from every record.

Only imported when ``-v`` is given: `logging` is not needed on the fast path.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# key=value / "key": "value" for secret-looking keys, and the password of a URL's userinfo.
_SECRET_ITEM = re.compile(
    r"(?i)(\b[\w-]*(?:password|passwd|secret|token)[\w-]*['\"]?\s*[:=]\s*['\"]?)([^'\"\s,&;}]+)"
)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)([^@\s]+)(@)", re.IGNORECASE)


def scrub(text: str) -> str:
    """``text`` with secret values replaced by ``***``."""
    text = _URL_PASSWORD.sub(r"\1***\3", text)
    return _SECRET_ITEM.sub(r"\1***", text)


class ScrubSecrets(logging.Filter):
    """Formats each record once, scrubbed (its message and any traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure(verbosity: int) -> None:
    """Log INFO (``-v``) or DEBUG (``-vv`` and more) to stderr; replaces an earlier setup."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(ScrubSecrets())
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbosity <= 1 else logging.DEBUG)
