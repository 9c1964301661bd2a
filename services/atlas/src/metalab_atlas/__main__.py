"""``python -m metalab_atlas --store LOCATOR --host H --port P``: serve the dashboard."""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--prewarm"]:
        from metalab_atlas.prewarm import run

        return run(args[1:], serve)
    return serve(args, None)


def serve(argv: list[str], token_given: str | None) -> int:
    """Parse ``argv`` and serve; the token is ``token_given`` (a pre-warmed start's), else
    the environment's (`_token`)."""
    parser = argparse.ArgumentParser(prog="python -m metalab_atlas", description=__doc__)
    parser.add_argument("--store", required=True, help="Store locator (path or postgresql://…).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--bundle", default="", help="bundle.json to show on the Services page.")
    parser.add_argument(
        "--refresh-interval",
        type=float,
        default=2.0,
        help="Seconds between FileStore index refreshes (at least 5x the last refresh).",
    )
    parser.add_argument("--ssh-key", default=None, help="ssh:// stores: a private key file.")
    parser.add_argument("--cache-dir", default=None, help="ssh:// stores: the local cache.")
    parser.add_argument(
        "--sync-interval",
        type=float,
        default=10.0,
        help="ssh:// stores: seconds between syncs (at least 5x the last sync).",
    )
    args = parser.parse_args(argv)
    from pathlib import Path

    from metalab.core.errors import ConfigError, StoreError
    from metalab_server.address import check_listen

    try:
        token = token_given or _token()
        check_listen(f"{args.host}:{args.port}", token)
    except ConfigError as exc:
        print(f"atlas: error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from metalab_atlas.app import create_app
    from metalab_atlas.headercap import UVICORN_SETTINGS
    from metalab_atlas.remote import SshSettings

    ssh = SshSettings(
        args.ssh_key, Path(args.cache_dir) if args.cache_dir else None, args.sync_interval
    )
    try:
        app = create_app(
            args.store,
            token=token,
            bundle_path=args.bundle or None,
            refresh_interval=args.refresh_interval,
            freeze_gc=True,
            ssh=ssh,
        )
    except (ConfigError, StoreError) as exc:
        print(f"atlas: error: {exc}", file=sys.stderr)
        return 2
    from metalab.core.redact import redact_locator

    auth = "token required" if token else "no token: loopback only"
    shown = redact_locator(args.store, files=True)
    print(
        f"atlas: serving {shown} on http://{args.host}:{args.port} ({auth})",
        file=sys.stderr,
        flush=True,
    )
    if args.bundle:
        from metalab_atlas.orphan import watch_services_dir

        watch_services_dir(args.bundle)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        **UVICORN_SETTINGS,
    )
    return 0


def _token() -> str | None:
    """``METALAB_ATLAS_TOKEN``, else the one line of the file ``METALAB_ATLAS_TOKEN_FILE``."""
    token = os.environ.get("METALAB_ATLAS_TOKEN")
    path = os.environ.get("METALAB_ATLAS_TOKEN_FILE")
    if token or not path:
        return token or None
    from metalab.core.errors import ConfigError

    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(4097).strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if not text or len(text) > 4096 or any(c in text for c in "\r\n\0"):
        raise ConfigError(f"{path} must hold one non-empty line")
    return text


if __name__ == "__main__":
    sys.exit(main())
