"""Start ``python -m metalab_atlas`` as a real process on a free port and wait for health."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import free_port

START_TIMEOUT = 30.0


@dataclass
class Atlas:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def _healthy(url: str, token: str | None) -> bool:
    request = urllib.request.Request(f"{url}/api/health")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@contextlib.contextmanager
def running_atlas(
    store: str,
    log: Path,
    *,
    host: str = "127.0.0.1",
    token: str | None = None,
    bundle: Path | None = None,
    extra: tuple[str, ...] = ("--refresh-interval", "0.2"),
    env_overrides: dict[str, str | None] | None = None,
) -> Iterator[Atlas]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("METALAB_TOKEN")}
    for key, value in (env_overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    if token:
        env["METALAB_ATLAS_TOKEN"] = token
    argv = [sys.executable, "-m", "metalab_atlas", "--store", store, "--host", host]
    argv += ["--port", str(port), *extra]
    if bundle is not None:
        argv += ["--bundle", str(bundle)]
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(url, token):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"atlas did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield Atlas(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
