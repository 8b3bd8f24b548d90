#!/usr/bin/env python3
"""Open N idle SSE streams (GET /sse) through a proxy and hold them.

Used by bench/run for the idle-SSE memory test. Python 3 stdlib only (selectors/epoll,
non-blocking sockets, ssl without verification for the self-signed bench cert).

  sse_hold.py --port P [--tls] [--streams N] [--concurrency C] [--release FILE]
              [--timeout SECONDS] [--hold-timeout SECONDS]

Protocol with the caller (stdout, one line each, flushed):
  READY ok=<n> failed=<n> secs=<t>   every stream has received its priming event (or failed)
  CLOSED dropped=<n>                 after FILE appeared (or hold-timeout); all streams closed
A stream counts as ok once its response is 200 and the priming event ("primed") arrived.
At most C connections are in the connecting/handshaking/waiting state at a time.
"""
import argparse
import errno
import os
import selectors
import socket
import ssl
import sys
import time

CONNECTING, HANDSHAKE, SENDING, WAITING, OPEN = range(5)


class Stream:
    __slots__ = ("sock", "state", "buf", "out", "events")

    def __init__(self, sock):
        self.sock = sock
        self.state = CONNECTING
        self.buf = b""
        self.out = b""
        self.events = 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--sni", default="localhost")
    ap.add_argument("--path", default="/sse")
    ap.add_argument("--streams", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--release", default="")
    ap.add_argument("--timeout", type=float, default=120.0, help="deadline for opening all streams")
    ap.add_argument("--hold-timeout", type=float, default=300.0, help="max hold time after READY")
    a = ap.parse_args()
    if a.host != "127.0.0.1":
        sys.exit("sse_hold: loopback only")

    ctx = None
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    request = (
        f"GET {a.path} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\n"
        "Accept: text/event-stream\r\nCache-Control: no-cache\r\n"
        "Mcp-Protocol-Version: 2025-06-18\r\n\r\n"
    ).encode()

    sel = selectors.DefaultSelector()
    started = 0
    pending = 0  # streams not yet OPEN and not failed
    ok = 0
    failed = 0
    fail_reasons = {}
    t0 = time.monotonic()

    def fail(st, why):
        nonlocal failed, pending
        failed += 1
        pending -= 1
        fail_reasons[why] = fail_reasons.get(why, 0) + 1
        try:
            sel.unregister(st.sock)
        except (KeyError, ValueError):
            pass
        st.sock.close()
        st.state = -1

    def start_one():
        nonlocal started, pending
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = s.connect_ex((a.host, a.port))
        st = Stream(s)
        started += 1
        pending += 1
        if err not in (0, errno.EINPROGRESS):
            fail(st, f"connect:{errno.errorcode.get(err, err)}")
            return
        sel.register(s, selectors.EVENT_WRITE, st)

    def set_events(st, ev):
        if st.events != ev:
            sel.modify(st.sock, ev, st)
            st.events = ev

    def after_connect(st):
        err = st.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            return fail(st, f"connect:{errno.errorcode.get(err, err)}")
        if ctx is not None:
            st.sock = ctx.wrap_socket(st.sock, server_hostname=a.sni, do_handshake_on_connect=False)
            sel.unregister(st.sock)  # same fd; re-register the wrapped object
            sel.register(st.sock, selectors.EVENT_WRITE, st)
            st.events = selectors.EVENT_WRITE
            st.state = HANDSHAKE
            return handshake(st)
        st.events = selectors.EVENT_WRITE
        st.state = SENDING
        st.out = request
        return send(st)

    def handshake(st):
        try:
            st.sock.do_handshake()
        except ssl.SSLWantReadError:
            return set_events(st, selectors.EVENT_READ)
        except ssl.SSLWantWriteError:
            return set_events(st, selectors.EVENT_WRITE)
        except (ssl.SSLError, OSError) as e:
            return fail(st, f"tls:{type(e).__name__}")
        st.state = SENDING
        st.out = request
        return send(st)

    def send(st):
        try:
            while st.out:
                n = st.sock.send(st.out)
                st.out = st.out[n:]
        except (ssl.SSLWantWriteError, BlockingIOError):
            return set_events(st, selectors.EVENT_WRITE)
        except ssl.SSLWantReadError:
            return set_events(st, selectors.EVENT_READ)
        except OSError as e:
            return fail(st, f"send:{type(e).__name__}")
        st.state = WAITING
        set_events(st, selectors.EVENT_READ)
        return read(st)

    def read(st):
        nonlocal ok, pending
        try:
            while True:
                data = st.sock.recv(65536)
                if not data:
                    if st.state == OPEN:
                        return "eof"
                    return fail(st, "eof")
                if st.state == WAITING:
                    st.buf += data
                if not (ctx is not None and st.sock.pending()):
                    if len(data) < 65536:
                        break
        except (ssl.SSLWantReadError, BlockingIOError):
            pass
        except ssl.SSLWantWriteError:
            return set_events(st, selectors.EVENT_WRITE)
        except OSError as e:
            if st.state == OPEN:
                return "eof"
            return fail(st, f"recv:{type(e).__name__}")
        if st.state == WAITING:
            head_end = st.buf.find(b"\r\n\r\n")
            if head_end >= 0:
                status = st.buf[: st.buf.find(b"\r\n")]
                if b" 200" not in status:
                    return fail(st, "status:" + status.decode(errors="replace")[:40])
                if b"primed" in st.buf[head_end:]:
                    st.state = OPEN
                    st.buf = b""
                    ok += 1
                    pending -= 1
        return None

    def dispatch(st):
        if st.state == CONNECTING:
            after_connect(st)
        elif st.state == HANDSHAKE:
            handshake(st)
        elif st.state == SENDING:
            send(st)
        elif st.state in (WAITING, OPEN):
            return read(st)
        return None

    deadline = t0 + a.timeout
    while (started < a.streams or pending > 0) and time.monotonic() < deadline:
        while started < a.streams and pending < a.concurrency:
            start_one()
        for key, _ in sel.select(timeout=0.2):
            st = key.data
            if st.state < 0:
                continue
            dispatch(st)
    # Everything still pending at the deadline counts as failed.
    for key in list(sel.get_map().values()):
        st = key.data
        if st.state not in (OPEN, -1):
            fail(st, "timeout")
    if started < a.streams:
        failed += a.streams - started
        fail_reasons["not_started"] = a.streams - started
    open_streams = [key.data for key in sel.get_map().values() if key.data.state == OPEN]
    reasons = ",".join(f"{k}:{v}" for k, v in sorted(fail_reasons.items()))
    print(f"READY ok={ok} failed={failed} secs={time.monotonic() - t0:.1f}"
          + (f" reasons={reasons}" if reasons else ""), flush=True)

    # Hold until released; count streams the proxy drops meanwhile.
    dropped = 0
    hold_deadline = time.monotonic() + a.hold_timeout
    while time.monotonic() < hold_deadline:
        if a.release and os.path.exists(a.release):
            break
        for key, _ in sel.select(timeout=0.1):
            st = key.data
            if st.state == OPEN and read(st) == "eof":
                dropped += 1
                sel.unregister(st.sock)
                st.sock.close()
                st.state = -1
        if not a.release:
            break
    for st in open_streams:
        if st.state == OPEN:
            try:
                st.sock.close()
            except OSError:
                pass
    print(f"CLOSED dropped={dropped}", flush=True)


if __name__ == "__main__":
    main()
