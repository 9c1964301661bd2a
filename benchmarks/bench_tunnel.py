"""Tunnel data path vs OpenSSH ``ssh -N -L`` on the same loopback, same cipher, same run.

Run from the repository root as root or any user with sshd available:

    .venv/bin/python -m benchmarks.bench_tunnel [--mib 512] [--rounds 5]

Prints throughput each way, small round-trip latency, new-connection cost and healing time after
the sshd is killed and restarted (with connections refused during the outage) for both metalab
data paths (``openssh``: a ControlMaster carries the bytes; ``asyncssh``), each as a ratio
against ``ssh -N -L`` (respawned in a loop like autossh). All tunnels run at once and are
measured in turn, round after round, keeping each one's best: load from other jobs on a shared
machine then hits all of them alike instead of whichever ran during it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from tests.support.ports import free_port
from tests.support.sshd import KeyPair, SshServer, keygen

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
    """Child mode: run a metalab Tunnel (on uvloop when installed), print its ports, run on."""
    from metalab_tunnel import ForwardSpec, SshTarget, Tunnel, TunnelSpec

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # exit handlers end ssh, remove dirs
    data = json.loads(spec_json)

    async def main() -> None:
        target = SshTarget(**{**data["target"], "options": tuple(data["target"]["options"]),
                              "config_files": ()})  # fmt: skip
        forwards = tuple(ForwardSpec(**f) for f in data["forwards"])
        tunnel = Tunnel(TunnelSpec(target, forwards))
        bound = await tunnel.start()
        print(json.dumps({"ports": [b.local_port for b in bound]}), flush=True)
        await asyncio.Event().wait()

    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


def stop_child(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    child.wait()


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


def _heal_one(port: int, ready: float, out: dict[int, float]) -> None:
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.settimeout(10)
                echo_once(s, b"heal")
            break
        except OSError:
            time.sleep(0.01)
    out[port] = time.perf_counter() - ready


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def heal(ports: dict[str, int], sshd: SshServer, trials: int = 3) -> dict[str, tuple[float, int]]:
    """Kill sshd, probe every port during the outage, restart sshd; per tunnel: median seconds
    from 'sshd listening' to the first echo through the unchanged port, and refused probes."""
    samples: dict[str, list[float]] = {name: [] for name in ports}
    refused = dict.fromkeys(ports, 0)
    for _ in range(trials):
        sshd.stop()
        time.sleep(0.25)
        for name, port in ports.items():
            refused[name] += _refused(port)
        time.sleep(0.25)
        sshd.start()
        ready = time.perf_counter()
        out: dict[int, float] = {}
        threads = [threading.Thread(target=_heal_one, args=(p, ready, out)) for p in ports.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for name, port in ports.items():
            samples[name].append(out[port])
        time.sleep(0.5)
    return {name: (statistics.median(v), refused[name]) for name, v in samples.items()}


class OpenSshLoop:
    """``ssh -N -L`` respawned when it exits (what autossh does), for the healing comparison."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = False
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


# metric → (measure(ports, bytes), rounds per --rounds): the quick ones get more, smaller rounds.
METRICS: dict[str, tuple[Callable[[tuple[int, int, int], int], float], int]] = {
    "upload MiB/s": (lambda ports, total: upload(ports[0], total), 1),
    "download MiB/s": (lambda ports, total: download(ports[1], total), 1),
    "round trip us (p50)": (lambda ports, total: latency_us(ports[2], 500), 5),
    "new connection ms": (lambda ports, total: new_conn_ms(ports[2], 100), 5),
}
HIGHER_IS_BETTER = ("upload MiB/s", "download MiB/s")


def measure(
    tunnels: dict[str, tuple[int, int, int]], mib: int, rounds: int
) -> dict[str, dict[str, float]]:
    """Each metric on every tunnel in turn, ``rounds`` times (interleaved, so that load from other
    jobs spreads over all of them); keep each tunnel's best."""
    total = mib * 2**20
    for ports in tunnels.values():
        upload(ports[0], 16 * 2**20)  # warm up
    best: dict[str, dict[str, float]] = {name: {} for name in tunnels}
    for metric, (run, factor) in METRICS.items():
        pick = max if metric in HIGHER_IS_BETTER else min
        for _ in range(rounds * factor):
            for name, ports in tunnels.items():
                value = run(ports, total)
                best[name][metric] = pick(best[name].get(metric, value), value)
    return best


def start_metalab(
    data_path: str, sshd: SshServer, key: KeyPair, known: Path, targets: tuple[int, int, int]
) -> tuple[subprocess.Popen[bytes], tuple[int, int, int]]:
    spec = {
        "target": {"gateway": f"root@127.0.0.1:{sshd.port}", "ssh_key": str(key.private),
                   "mode": "gateway", "data_path": data_path,
                   "options": [f"UserKnownHostsFile={known}", f"Ciphers={CIPHER}"]},
        "forwards": [{"service": n, "remote_host": "127.0.0.1", "remote_port": p}
                     for n, p in zip(("sink", "source", "echo"), targets, strict=True)],
    }  # fmt: skip
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_tunnel", "--run-tunnel", json.dumps(spec)],
        stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": os.getcwd()},
    )  # fmt: skip
    assert child.stdout is not None
    ports = json.loads(child.stdout.readline())["ports"]
    return child, (ports[0], ports[1], ports[2])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--run-tunnel", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_tunnel:
        run_tunnel_process(args.run_tunnel)
        return

    work = Path(tempfile.mkdtemp(prefix="mlt-bench-"))
    key: KeyPair = keygen(work / "id")
    sshd = SshServer(
        work / "sshd", authorized_keys=[key.public_line], extra_config=[f"Ciphers {CIPHER}"]
    )
    sshd.start()
    known = work / "known_hosts"
    known.write_text(sshd.known_hosts_line)
    targets = (free_port(), free_port(), free_port())
    servers = subprocess.Popen([sys.executable, "-c", SERVERS, *map(str, targets)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    assert servers.stdout is not None and servers.stdout.readline().strip() == b"ready"
    cleanups: list[Callable[[], None]] = []
    try:
        local = (free_port(), free_port(), free_port())
        argv = ["ssh", "-N", "-c", CIPHER, "-i", str(key.private), "-p", str(sshd.port),
                "-o", f"UserKnownHostsFile={known}", "-o", "BatchMode=yes",
                "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=5",
                "-F", "none"]  # fmt: skip
        for lp, rp in zip(local, targets, strict=True):
            argv += ["-L", f"127.0.0.1:{lp}:127.0.0.1:{rp}"]
        ssh = OpenSshLoop([*argv, "root@127.0.0.1"])
        cleanups.append(ssh.stop)
        wait_port(local[2])
        tunnels = {"direct": targets, "OpenSSH ssh -N -L": local}
        for data_path in ("openssh", "asyncssh"):
            child, ports = start_metalab(data_path, sshd, key, known, targets)
            cleanups.append(partial(stop_child, child))
            tunnels[f"metalab {data_path}"] = ports
        print(f"loopback, cipher {CIPHER}, {args.mib} MiB per transfer, best of {args.rounds} "
              f"interleaved rounds ({5 * args.rounds} for latencies)", flush=True)  # fmt: skip
        results = measure(tunnels, args.mib, args.rounds)
        healed = heal({k: v[2] for k, v in tunnels.items() if k != "direct"}, sshd)
        for name, result in results.items():
            if name in healed:
                result["healing s"] = healed[name][0]
            line = ", ".join(f"{k} {v:.3g}" for k, v in result.items())
            refused = f", refused during outage {healed[name][1]}/3" if name in healed else ""
            print(f"  {name}: {line}{refused}", flush=True)
        base = results["OpenSSH ssh -N -L"]
        print("ratios vs OpenSSH (throughput: higher is better; times: lower is better):")
        for name in ("metalab openssh", "metalab asyncssh"):
            ratios = ", ".join(f"{k} {v / base[k]:.2f}" for k, v in results[name].items())
            print(f"  {name}: {ratios}")
    finally:
        for cleanup in reversed(cleanups):
            cleanup()
        servers.kill()
        servers.wait()
        sshd.stop()


if __name__ == "__main__":
    main()
