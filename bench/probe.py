#!/usr/bin/env python3
"""One MCP-shaped POST through a target; exits 0 when it answers 200 with the origin's JSON.

  probe.py PORT [--tls] [--count N] [--timeout SECONDS]

Used by bench/run as a readiness/correctness check and as the warmup request before
RSS baselines. Loopback only; TLS without certificate verification (self-signed bench cert).
"""
import http.client
import ssl
import sys

BODY = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'


def main():
    port = int(sys.argv[1])
    tls = "--tls" in sys.argv
    count = int(sys.argv[sys.argv.index("--count") + 1]) if "--count" in sys.argv else 1
    timeout = float(sys.argv[sys.argv.index("--timeout") + 1]) if "--timeout" in sys.argv else 5.0
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        for _ in range(count):
            conn.request("POST", "/mcp", body=BODY, headers={
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
            })
            r = conn.getresponse()
            data = r.read()
            if r.status != 200 or b'"jsonrpc"' not in data:
                print(f"HTTP {r.status}: {data[:120]!r}")
                return 1
    except (OSError, http.client.HTTPException) as e:
        print(f"{type(e).__name__}: {e}")
        return 1
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
