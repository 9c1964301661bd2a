"""Tunnel data path vs OpenSSH ``ssh -N -L`` on the same loopback, same cipher, same run.

Run from the repository root as root or any user with sshd available:

    /work/venvs/tunnel/bin/python -m benchmarks.bench_tunnel [--mib 256]

Prints throughput each way, small round-trip latency, new-connection cost and healing time after
the sshd is killed and restarted, each as metalab (asyncssh + uvloop) / OpenSSH ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.integration.tunnel.sshd_fixture import KeyPair, Sshd, free_port, make_key

CIPHER = "aes128-gcm@openssh.com"
CHUNK = 1024 * 1024

# Target servers in their own process: sink (upload), source (download), echo (latency).
SERVERS = r"""
import socket, sys, threading, struct
def serve(port, handler):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(128)
    while True:
        c, _ = s.accept(); threading.Thread(target=handler, args=(c,), daemon=True).start()
def sink(c):
    buf = bytearray(1 << 20); n = 0
    while True:
        k = c.recv_into(buf)
        if not k: break
        n += k
    c.sendall(struct.pack("!Q", n)); c.close()
def source(c):
    head = c.recv(8)
    if len(head) < 8: c.close(); return
    n = struct.unpack("!Q", head)[0]; block = b"x" * (1 << 20)
    while n > 0:
        c.sendall(block[: min(n, len(block))]); n -= len(block)
    c.close()
def echo(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
    c.close()
ports = [int(p) for p in sys.argv[1:4]]
for p, h in zip(ports, (sink, source, echo)):
    threading.Thread(target=serve, args=(p, h), daemon=True).start()
print("ready", flush=True); sys.stdin.read()
"""


def run_tunnel_process(spec_json: str) -> None:
    """Child mode: run a metalab Tunnel on uvloop, print bound ports as JSON, run until killed."""
    import uvloop

    from metalab_tunnel import ForwardSpec, SshTarget, Tunnel, TunnelSpec

    data = json.loads(spec_json)

    async def main() -> None:
        target = SshTarget(**{**data["target"], "options": tuple(data["target"]["options"]),
                              "config_files": ()})  # fmt: skip
        forwards = tuple(ForwardSpec(**f) for f in data["forwards"])
        tunnel = Tunnel(TunnelSpec(target, forwards))
        bound = await tunnel.start()
        print(json.dumps({"ports": [b.local_port for b in bound]}), flush=True)
        await asyncio.Event().wait()

    uvloop.run(main())


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.01)
    raise RuntimeError(f"port {port} never opened")


def upload(port: int, total: int) -> float:
    block = b"y" * CHUNK
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        sent = 0
        while sent < total:
            s.sendall(block)
            sent += len(block)
        s.shutdown(socket.SHUT_WR)
        got = int.from_bytes(s.recv(8), "big")
    elapsed = time.perf_counter() - start
    assert got == total, (got, total)
    return total / elapsed / 2**20


def download(port: int, total: int) -> float:
    buf = bytearray(CHUNK)
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(total.to_bytes(8, "big"))
        got = 0
        while True:
            k = s.recv_into(buf)
            if not k:
                break
            got += k
    elapsed = time.perf_counter() - start
    assert got == total, (got, total)
    return total / elapsed / 2**20


def echo_once(s: socket.socket, payload: bytes) -> None:
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        part = s.recv(65536)
        if not part:
            raise ConnectionError("closed")
        got += part


def latency_us(port: int, rounds: int = 2000) -> float:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        samples = []
        for _ in range(rounds):
            t = time.perf_counter()
            echo_once(s, b"p" * 64)
            samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1e6


def new_conn_ms(port: int, count: int = 200) -> float:
    start = time.perf_counter()
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port)) as s:
            echo_once(s, b"hello")
    return (time.perf_counter() - start) / count * 1e3


def heal_s(port: int, sshd: Sshd, trials: int = 3) -> float:
    """Kill sshd, restart it; seconds from 'sshd listening' until an echo passes the port."""
    samples = []
    for _ in range(trials):
        sshd.stop()
        time.sleep(0.5)
        sshd.start()
        ready = time.perf_counter()
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.settimeout(10)
                    echo_once(s, b"heal")
                break
            except OSError:
                time.sleep(0.01)
        samples.append(time.perf_counter() - ready)
    return statistics.median(samples)


class OpenSshLoop:
    """``ssh -N -L`` respawned when it exits (what autossh does), for the healing comparison."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = False
        import threading

        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stopped:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)  # fmt: skip
            self.proc.wait()
            time.sleep(0.1)

    def stop(self) -> None:
        self.stopped = True
        if self.proc is not None:
            self.proc.kill()
        self.thread.join()


def measure(
    name: str, ports: tuple[int, int, int], mib: int, sshd: Sshd | None
) -> dict[str, float]:
    sink, source, echo = ports
    total = mib * 2**20
    upload(sink, 16 * 2**20)  # warm up
    result = {
        "upload MiB/s": max(upload(sink, total) for _ in range(2)),
        "download MiB/s": max(download(source, total) for _ in range(2)),
        "round trip us (p50)": latency_us(echo),
        "new connection ms": new_conn_ms(echo),
    }
    if sshd is not None:
        result["healing s"] = heal_s(echo, sshd)
    print(f"  {name}: " + ", ".join(f"{k} {v:.3g}" for k, v in result.items()), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--run-tunnel", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_tunnel:
        run_tunnel_process(args.run_tunnel)
        return

    work = Path(tempfile.mkdtemp(prefix="mlt-bench-"))
    key: KeyPair = make_key(work / "id")
    sshd = Sshd(work / "sshd", [key.public_line], extra_config=[f"Ciphers {CIPHER}"])
    sshd.start()
    known = work / "known_hosts"
    known.write_text(sshd.known_hosts_line)
    targets = (free_port(), free_port(), free_port())
    servers = subprocess.Popen([sys.executable, "-c", SERVERS, *map(str, targets)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    assert servers.stdout is not None and servers.stdout.readline().strip() == b"ready"
    cleanups: list[Callable[[], None]] = []
    try:
        print(f"loopback, cipher {CIPHER}, {args.mib} MiB per transfer", flush=True)
        direct = measure("direct (no tunnel)", targets, args.mib, None)

        local = (free_port(), free_port(), free_port())
        argv = [
            "ssh",
            "-N",
            "-c",
            CIPHER,
            "-i",
            str(key.private),
            "-p",
            str(sshd.port),
            "-o",
            f"UserKnownHostsFile={known}",
            "-o",
            "BatchMode=yes",
            "-o",
            "ExitOnForwardFailure=yes",
            "-o",
            "ServerAliveInterval=5",
            "-F",
            "/dev/null",
        ]
        for lp, rp in zip(local, targets, strict=True):
            argv += ["-L", f"127.0.0.1:{lp}:127.0.0.1:{rp}"]
        ssh = OpenSshLoop([*argv, "root@127.0.0.1"])
        cleanups.append(ssh.stop)
        wait_port(local[2])
        openssh = measure("OpenSSH ssh -N -L (+respawn loop)", local, args.mib, sshd)
        ssh.stop()
        cleanups.remove(ssh.stop)

        spec = {
            "target": {"gateway": f"root@127.0.0.1:{sshd.port}", "ssh_key": str(key.private),
                       "mode": "gateway", "options": [f"UserKnownHostsFile={known}",
                                                      f"Ciphers={CIPHER}"]},
            "forwards": [{"service": n, "remote_host": "127.0.0.1", "remote_port": p}
                         for n, p in zip(("sink", "source", "echo"), targets, strict=True)],
        }  # fmt: skip
        child = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_tunnel", "--run-tunnel", json.dumps(spec)],
            stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": os.getcwd()},
        )  # fmt: skip

        def stop_child() -> None:
            child.kill()
            child.wait()

        cleanups.append(stop_child)
        assert child.stdout is not None
        while True:
            line = json.loads(child.stdout.readline())
            if "ports" in line:
                break
        metalab = measure("metalab (asyncssh + uvloop)", tuple(line["ports"]), args.mib, sshd)

        print("ratios metalab / OpenSSH (throughput: higher is better; time: lower is better):")
        for k, v in metalab.items():
            print(f"  {k}: {v / openssh[k]:.2f}")
        print("ratios OpenSSH / direct:")
        for k, v in direct.items():
            print(f"  {k}: {openssh[k] / v:.2f}")
    finally:
        for cleanup in reversed(cleanups):
            cleanup()
        servers.kill()
        servers.wait()
        sshd.stop()


if __name__ == "__main__":
    main()
