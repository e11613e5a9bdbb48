"""Network: a TCP stream from the workload to a receiver in the compare process, as a ratio to
the host doing the same.

The workload runs busybox `dd if=/dev/zero bs=64k count=N | nc ADDR PORT` (busybox nc shuts its
sending half at stdin's EOF and exits when the receiver closes). A thread here accepts one
connection on 0.0.0.0:PORT and times the stream from its first byte to its last on the host's
clock, so every mode is timed by the same clock and nothing in the workload needs one. The host
reference sends to 127.0.0.1 (loopback: no bridge, no veth); the dockyard container (veth) and
microVM (tap, virtio-net) send to the default bridge's gateway, which is the host: the path
through dockyard0. That needs `--network bridge`, so this is its own run per mode, not part of
the speed script (which runs with --network none). If compare brought dockyard0 up, it takes
it down again (service.down_default) when done."""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import threading
import time

from .figures import measured, missing, spread

BASE_MIB = 16  # host loopback ~0.06 s, container ~0.3 s, TCG microVM ~4 s here (busybox nc: small writes)
BLOCK = "64k"
ACCEPT_TIMEOUT = 180  # a VM under TCG boots in ~2 s; a loaded machine is slower


def script(addr: str, port: int, scale: float) -> str:
    return f"dd if=/dev/zero bs={BLOCK} count={count(scale)} 2>/dev/null | nc {addr} {port}"


def count(scale: float) -> int:
    return max(16, int(BASE_MIB * 16 * scale))  # 64 KiB blocks, 1 MiB at least


class Receiver:
    """One TCP connection accepted on 0.0.0.0, its bytes counted and timed first-to-last."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(1)
        self.sock.settimeout(ACCEPT_TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.bytes, self.seconds, self.error = 0, None, None
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self):
        try:
            conn, _ = self.sock.accept()
        except OSError as e:
            self.error = f"no connection: {e}"
            return
        buf = bytearray(1 << 20)
        first = last = None
        with conn:
            conn.settimeout(60)
            try:
                while n := conn.recv_into(buf):
                    last = time.monotonic()
                    first = first or last
                    self.bytes += n
            except OSError as e:
                self.error = f"receiving: {e}"
        if first is not None and last > first:
            self.seconds = last - first

    def close(self, wait: float) -> None:
        self.thread.join(wait)
        with contextlib.suppress(OSError):
            # wakes an accept() still waiting (the workload never connected): on Linux close() alone does not
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)


def one_run(m, addr: str, scale: float) -> tuple[float | None, str | None]:
    rx = Receiver()
    want = count(scale) * 64 * 1024
    try:
        p = subprocess.run(m.bridge_argv(script(addr, rx.port, scale)), capture_output=True, text=True, timeout=ACCEPT_TIMEOUT + 60,
                           check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        rx.close(0)
        return None, str(e)
    rx.close(30)
    if p.returncode != 0:
        return None, (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
    if rx.error or rx.bytes != want or not rx.seconds:
        return None, rx.error or f"received {rx.bytes} of {want} bytes"
    return rx.seconds, None


def bridge_info() -> tuple[str, str]:
    from ..network import service

    net = service.inspect_network("bridge")
    return net["IPAM"]["Config"][0]["Gateway"], net["Options"]["com.docker.network.bridge.name"]


def measure(modes, runs: int, scale: float, log) -> dict:
    """{mode: {"seconds", "ratio", "throughput"}} for the speed table's network column."""
    gateway, bridge = bridge_info()
    bridge_was_up = os.path.exists(f"/sys/class/net/{bridge}")
    mib = count(scale) * 64 / 1024
    samples: dict[str, list[float]] = {}
    errors: dict[str, str] = {}
    try:
        for i in range(runs):
            log(f"network: round {i + 1}/{runs}")
            for m in modes:
                if not m.available or m.key in errors or m.net_reason:
                    continue
                addr = "127.0.0.1" if m.key == "host" else gateway
                seconds, err = one_run(m, addr, scale)
                if err:
                    errors[m.key] = err
                else:
                    samples.setdefault(m.key, []).append(seconds)
    finally:
        if not bridge_was_up and os.path.exists(f"/sys/class/net/{bridge}"):
            from ..network import service

            service.down_default()  # compare brought it up; refuses while an endpoint is left
    host = statistics.median(samples["host"]) if samples.get("host") else None
    out = {}
    for m in modes:
        to = "127.0.0.1 (loopback, no bridge)" if m.key == "host" else f"the bridge gateway {gateway} ({bridge})"
        how = (f"busybox dd {mib:g} MiB (bs={BLOCK}) | nc to {to}, on the default bridge (--network bridge); "
               "timed first to last byte by a receiver thread in compare (host clock); median of "
               f"{runs}") if m.key != "host" else (
               f"busybox dd {mib:g} MiB (bs={BLOCK}) | nc to {to}; timed first to last byte by a receiver "
               f"thread in compare (host clock); median of {runs}")
        if not m.available:
            row = dict.fromkeys(("seconds", "ratio", "throughput"), missing(m.reason))
        elif m.key in errors:
            row = dict.fromkeys(("seconds", "ratio", "throughput"), missing(f"failed: {errors[m.key]}"))
        elif m.net_reason:
            row = dict.fromkeys(("seconds", "ratio", "throughput"), missing(m.net_reason))
        elif not samples.get(m.key):
            row = dict.fromkeys(("seconds", "ratio", "throughput"), missing("no run succeeded"))
        else:
            s = spread(samples[m.key], "s", how, digits=3)
            median = statistics.median(samples[m.key])  # unrounded: the host's own ratio is exactly 1
            row = {"seconds": s,
                   "throughput": measured(round(mib / median, 1), "MiB/s", f"{mib:g} MiB / the median seconds"),
                   "ratio": (measured(round(median / host, 2), "x",
                                      f"median seconds here / the host's loopback median ({host:.3f} s); > 1 is slower "
                                      "than the host")
                             if host else missing("no host reference run"))}
        out[m.key] = row
    return out
