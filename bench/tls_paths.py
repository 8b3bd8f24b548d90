#!/usr/bin/env python3
"""TLS client for bench/self_hosted_tunnel: one path (direct, HAProxy, ssh -R, mcpgate tunnel)
to the same TLS terminator, measured from the client's side. Python stdlib only.

  tls_paths.py bulk    --port P --sni NAME --ca CA [--path /big] [--mib 64] [--reps 3]
  tls_paths.py latency --port P --sni NAME --ca CA [--path /small] [--count 300]
  tls_paths.py mixed   --port P --sni NAME --ca CA [--count 200] [--interval-ms 5]
  tls_paths.py idle    --port P --sni NAME --ca CA --count N --release FILE [--hold-timeout S]

Every connection goes to 127.0.0.1:P with SNI NAME and verifies the server's certificate
against CA (so the TLS provably ends at the terminator, not at a relay). HTTP/1.1 keep-alive,
GET only, Content-Length bodies. Each command prints one JSON line (idle: a READY line when
every connection has completed its handshake, then waits for FILE to appear).
"""
import argparse
import json
import os
import signal
import socket
import ssl
import statistics
import sys
import time


def context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class Conn:
    """One TLS connection speaking HTTP/1.1 keep-alive."""

    def __init__(self, ctx, port, sni, timeout=30.0):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.t_tcp = time.perf_counter()
        self.s = ctx.wrap_socket(raw, server_hostname=sni)  # handshake happens here
        self.t_tls = time.perf_counter()
        self.sni = sni
        self.buf = bytearray()
        self.chunk = bytearray(256 * 1024)
        self.view = memoryview(self.chunk)

    def _fill(self):
        n = self.s.recv_into(self.view)
        if n == 0:
            raise ConnectionError("connection closed by peer")
        return n

    def get(self, path, keep_body=False):
        """Sends GET path, reads the whole response; returns body length."""
        self.s.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.sni}\r\n\r\n".encode())
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            n = self._fill()
            self.buf += self.view[:n]
        head = bytes(self.buf[:end]).decode("latin-1")
        status = head.split(" ", 2)[1]
        if status != "200":
            raise RuntimeError(f"status {status} for {path}")
        length = None
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v)
        if length is None:
            raise RuntimeError("no Content-Length")
        del self.buf[: end + 4]
        have = min(len(self.buf), length)
        del self.buf[:have]
        while have < length:
            n = self._fill()
            take = min(n, length - have)
            have += take
            if take < n:  # bytes of a next response (not expected: one request at a time)
                self.buf += self.view[take:n]
        return length

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    return v[min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))]


def cmd_bulk(a):
    ctx = context(a.ca)
    want = a.mib * 1024 * 1024
    runs = []
    for _ in range(a.reps):
        c = Conn(ctx, a.port, a.sni)
        c.get(a.small)  # warm the path (first request after the handshake)
        got = 0
        t0 = time.perf_counter()
        while got < want:
            got += c.get(a.path)
        dt = time.perf_counter() - t0
        c.close()
        runs.append(got / dt / 1048576)
    print(json.dumps({"mib_s": statistics.median(runs), "runs": [round(r, 1) for r in runs], "mib": a.mib}))


def cmd_latency(a):
    ctx = context(a.ca)
    total, tcp, tls, req = [], [], [], []
    for i in range(a.count + a.warmup):
        t0 = time.perf_counter()
        c = Conn(ctx, a.port, a.sni)
        c.get(a.path)
        t1 = time.perf_counter()
        c.close()
        if i >= a.warmup:
            total.append((t1 - t0) * 1e3)
            tcp.append((c.t_tcp - t0) * 1e3)
            tls.append((c.t_tls - c.t_tcp) * 1e3)
            req.append((t1 - c.t_tls) * 1e3)
    print(json.dumps({
        "count": len(total),
        "p50_ms": pct(total, 50), "p99_ms": pct(total, 99), "mean_ms": statistics.fmean(total),
        "tcp_p50_ms": pct(tcp, 50), "tls_p50_ms": pct(tls, 50), "req_p50_ms": pct(req, 50),
    }))


def cmd_mixed(a):
    ctx = context(a.ca)
    small = Conn(ctx, a.port, a.sni)  # opened before the bulk transfer: only requests are timed
    small.get(a.path)
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:  # bulk downloader: loops until SIGTERM, then reports bytes and seconds
        os.close(rd)
        got = 0
        stop = False

        def on_term(*_):
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, on_term)
        try:
            c = Conn(context(a.ca), a.port, a.sni)
            os.write(wr, b"R")
            t0 = time.perf_counter()
            while not stop:
                got += c.get(a.big)
            dt = time.perf_counter() - t0
            os.write(wr, f"{got} {dt}\n".encode())
        except Exception as e:  # noqa: BLE001 - reported to the parent
            os.write(wr, f"error {e}\n".encode())
        os._exit(0)
    os.close(wr)
    if os.read(rd, 1) != b"R":
        raise RuntimeError("bulk downloader failed to connect")
    time.sleep(0.3)  # the bulk transfer is in full flow
    lat = []
    for _ in range(a.count):
        t0 = time.perf_counter()
        small.get(a.path)
        lat.append((time.perf_counter() - t0) * 1e3)
        time.sleep(a.interval_ms / 1000.0)
    os.kill(pid, signal.SIGTERM)
    out = b""
    while True:
        b = os.read(rd, 4096)
        if not b:
            break
        out += b
    os.waitpid(pid, 0)
    small.close()
    parts = out.decode().split()
    bulk = None
    if len(parts) == 2 and parts[0] != "error":
        bulk = int(parts[0]) / float(parts[1]) / 1048576
    print(json.dumps({"count": len(lat), "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
                      "max_ms": max(lat), "bulk_mib_s": bulk, "bulk_raw": out.decode().strip()}))


def cmd_idle(a):
    ctx = context(a.ca)
    conns, failed, err = [], 0, ""
    t0 = time.perf_counter()
    for _ in range(a.count):
        try:
            conns.append(Conn(ctx, a.port, a.sni, timeout=10))
        except Exception as e:  # noqa: BLE001 - counted and reported
            failed += 1
            err = str(e)[:80]
    print(f"READY ok={len(conns)} failed={failed} secs={time.perf_counter() - t0:.1f} err={err!r}", flush=True)
    deadline = time.time() + a.hold_timeout
    while not os.path.exists(a.release) and time.time() < deadline:
        time.sleep(0.1)
    alive = 0
    for c in conns:  # still open? (a relay may have dropped idle streams meanwhile)
        try:
            c.s.setblocking(False)
            if c.s.recv(1):
                alive += 1  # data: still open
        except (ssl.SSLWantReadError, BlockingIOError):
            alive += 1
        except (OSError, ssl.SSLError):
            pass
        c.close()
    print(f"DONE alive={alive}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["bulk", "latency", "mixed", "idle"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--sni", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--path", default=None)
    p.add_argument("--small", default="/small")
    p.add_argument("--big", default="/big")
    p.add_argument("--mib", type=int, default=64)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--interval-ms", type=float, default=5.0)
    p.add_argument("--release", default="")
    p.add_argument("--hold-timeout", type=float, default=120)
    a = p.parse_args()
    if a.path is None:
        a.path = a.big if a.command == "bulk" else a.small
    {"bulk": cmd_bulk, "latency": cmd_latency, "mixed": cmd_mixed, "idle": cmd_idle}[a.command](a)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - one line for the calling script
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
