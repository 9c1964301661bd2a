"""The `metalab` console script: the hot commands' fast path (`fast`), else the click CLI."""

from __future__ import annotations

import sys
from typing import Any


def main(argv: list[str] | None = None) -> Any:
    """Run ``metalab ARGS``; click (`metalab._cli.main`) is imported only when needed."""
    args = sys.argv[1:] if argv is None else list(argv)
    from metalab._cli.fast import dispatch

    lines = dispatch(args)
    if lines is None:
        from metalab._cli.main import main as full

        return full(args)
    try:
        sys.stdout.write("".join(f"{line}\n" for line in lines))
        sys.stdout.flush()
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)
    return None


if __name__ == "__main__":
    main()
