"""qwen-server against hostile and careless clients: deep JSON, slow and silent connections, body
and header limits, request smuggling shapes, huge chats, cross-site requests, Host checks, metrics
cardinality, and the small corners of HTTP/1.1 (pipelining, half-close, shutdown, keep-alive).

usage: test_hardening.py QWEN_SERVER MODEL.gguf
       {nested|slowloris|sigterm_drip|chunked_limit|headers|duplicate_length|many_messages|
        cross_site|host|metrics|small}
Standard library only; raw sockets where http.client would not send the request. Time limits scale
with QWENEDGE_TEST_TIME_SCALE (see server_util.py); the latency bounds of the spec scale too.
"""
import json
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_util import Server, main, scaled, wait_until  # noqa: E402
from raw_http import (Drippers, Raw, json_of, open_silent, raise_nofile, raw_exchange, read_to_end,  # noqa: E402
                      req, send_and_read, silent_state, timed)

CHAT = "/v1/chat/completions"
ENDPOINT_LABELS = {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics", "web", "other"}


def chat(content, n=8, **extra):
    return {"messages": [{"role": "user", "content": content}], "max_tokens": n, "temperature": 0,
            "ignore_eos": True, **extra}


def check_error_body(payload, what):
    assert isinstance(payload, dict) and isinstance(payload.get("error"), dict), (what, payload)
    assert set(payload["error"]) == {"message", "type", "param", "code"}, (what, payload)
    assert payload["error"]["message"], (what, payload)
    return payload["error"]


def expect_error(s, status, method, path, body=None, headers=None, raw=None, what=None):
    """A request answered by `status` with an OpenAI error body; returns the error object."""
    st, _, r = s.request(method, path, body, headers, raw)
    shown = what or (raw[:80] if isinstance(raw, str) else body)
    assert st == status, ("request", method, path, shown, "expected", status, "got", st, r)
    return check_error_body(r, shown)


def chat_works(s, n=4):
    st, _, r = s.request("POST", CHAT, chat("hi", n))
    assert st == 200 and r["usage"]["completion_tokens"] == n, ("a normal chat after", st, r)


# ---------------------------------------------------------------------------------------------
# Raw HTTP: requests as bytes, responses read off the socket one at a time (pipelining too).

def nested_text(depth, kind):
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def test_nested(binary, model):
    """JSON nested 10k, 40k and 100k deep in every JSON-valued field (and as the whole body): 400
    with an OpenAI error body each time, and the server fine after."""
    def body(content='"hi"', args='"{}"', params="{}", extra=""):
        return ('{"messages": [{"role": "user", "content": %s}, {"role": "assistant", "content": null, "tool_calls": '
                '[{"id": "c1", "type": "function", "function": {"name": "f", "arguments": %s}}]}, '
                '{"role": "tool", "tool_call_id": "c1", "content": "ok"}, {"role": "user", "content": "and?"}], '
                '"max_tokens": 2, "tools": [{"type": "function", "function": {"name": "f", "parameters": %s}}]%s}'
                % (content, args, params, extra))

    with Server(binary, model) as s:
        st, _, r = s.request("POST", CHAT, raw=body())  # the shape itself is fine
        assert st == 200, (st, r)
        times = []
        for depth in (10000, 40000, 100000):
            for kind in ("array", "object"):
                deep = nested_text(depth, kind)
                cases = {
                    "messages[0].content": body(content=deep),
                    "tool_calls[].function.arguments (string)": body(args=json.dumps(deep)),
                    "tool_calls[].function.arguments (raw)": body(args=deep),
                    "tools[].function.parameters": body(params='{"type": "object", "properties": %s}' % deep),
                    "response_format": body(extra=', "response_format": %s' % deep),
                    "stop": body(extra=', "stop": %s' % deep),
                    "unknown top-level field": body(extra=', "x_unknown": %s' % deep),
                    "the whole body": deep,
                }
                for where, raw in cases.items():
                    what = "%s nested %d deep (%s, %d bytes)" % (where, depth, kind, len(raw))
                    t, _ = timed(lambda: expect_error(s, 400, "POST", CHAT, raw=raw, what=what))
                    times.append(t)
                    assert s.health()["status"] == "ok", what
        print("nested: %d requests, slowest %.3f s" % (len(times), max(times)))
        st, _, r = s.request("POST", CHAT, raw=body())
        assert st == 200 and r["usage"]["completion_tokens"] <= 2, (st, r)
        chat_works(s)


# ---------------------------------------------------------------------------------------------
# 2. slowloris

def test_slowloris(binary, model):
    """150 connections dripping a header line a second and 1,500 silent ones: /health in < 1 s and a
    chat completes while they hold; the drippers get 408 once the header timeout passes."""
    raise_nofile()
    with Server(binary, model) as s:
        drip = Drippers(s.port, 150)
        silent = open_silent(s.port, 1500)
        try:
            latencies = []
            chat_time = None
            hold_until = drip.start + 7  # well within the default 10 s header timeout
            while time.monotonic() < hold_until:
                t, (st, _, r) = timed(lambda: s.request("GET", "/health"))
                latencies.append(t)
                assert st == 200 and r["status"] == "ok", (st, r)
                if chat_time is None:
                    chat_time, (st, _, r) = timed(lambda: s.request("POST", CHAT, chat("Hold on.", 8)))
                    assert st == 200 and r["usage"]["completion_tokens"] == 8, (st, r)
                time.sleep(0.3)
            print("slowloris: the 1,500 silent connections at 7 s: %s" % silent_state(silent))
            alive_at_7s = 150 - len([i for i, t in drip.closed.items() if t < 7])
            print("slowloris: /health x%d: max %.3f s, mean %.3f s; chat %.2f s; drippers still open at 7 s: %d/150"
                  % (len(latencies), max(latencies), sum(latencies) / len(latencies), chat_time, alive_at_7s))
            assert max(latencies) < scaled(1.0), latencies
            # Past the default header timeout (10 s) every dripper has been answered 408 (or closed).
            wait_until(lambda: len(drip.closed) == 150 or all(i in drip.received or i in drip.closed
                                                               for i in range(150)), 16, "every dripper to be answered")
            statuses = drip.statuses()
            bad = {i: v for i, v in statuses.items() if not v.startswith("HTTP/1.1 408")}
            print("slowloris: drippers answered 408: %d, closed without answer: %d, first 408 at %.1f s"
                  % (len(statuses) - len(bad), len([i for i in range(150) if i not in statuses]),
                     min(drip.first_reply.values()) if drip.first_reply else -1))
            assert not bad, bad
        finally:
            drip.stop()
            for x in silent:
                x.close()
        assert s.health()["status"] == "ok"
        chat_works(s)

    # A short header timeout: a dripping client gets its 408 within ~3-4 s.
    with Server(binary, model, "--header-timeout-ms", "3000") as s:
        drip = Drippers(s.port, 5)
        try:
            wait_until(lambda: len(drip.first_reply) == 5 or len(drip.closed) == 5, 8, "the 408s")
            times = sorted(drip.first_reply.values())
            statuses = drip.statuses()
            print("slowloris: --header-timeout-ms 3000: 408 after %s s" % ", ".join("%.2f" % t for t in times))
            assert len(statuses) == 5 and all(v.startswith("HTTP/1.1 408") for v in statuses.values()), statuses
            assert all(2.9 <= t < scaled(4.0) for t in times), times
        finally:
            drip.stop()
        chat_works(s)


# ---------------------------------------------------------------------------------------------
# 3. sigterm_drip

def test_sigterm_drip(binary, model):
    """SIGTERM with 20 dripping clients and an endless stream: exit 0 within grace + 1 s."""
    s = Server(binary, model, "--shutdown-grace-ms", "2000", "--ctx", "256", "--max-tokens-limit", "1000000")
    failed = True
    try:
        drip = Drippers(s.port, 20)
        stream = Raw(s.port)
        data = json.dumps({**chat("Go on forever.", 1000000), "stream": True}).encode()
        stream.send(req("POST", CHAT, data, {"Content-Type": "application/json"}, port=s.port))
        stream.response(head_only=True)
        while stream.buf.count(b"data: ") < 3:
            stream._fill()
        start = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        try:
            s.proc.wait(scaled(10))
        except Exception:
            pass
        took = time.monotonic() - start
        code = s.proc.returncode
        read_to_end(stream, 2)  # what the stream got at the end
        tail = stream.buf[-300:]
        stream.close()
        drip.stop()
        print("sigterm_drip: exit %s after %.2f s (grace 2 s); drippers answered: %s, closed: %d/20; stream tail %r"
              % (code, took, sorted(set(drip.statuses().values())), len(drip.closed), tail[-160:]))
        assert code == 0, ("exit code", code)
        assert took < scaled(3.0), ("exit after SIGTERM took", took)
        failed = False
    finally:
        s.stop()
        if failed:
            s.show_stderr()


# ---------------------------------------------------------------------------------------------
# 4. chunked_limit

def chunked(data, size):
    out = []
    for i in range(0, len(data), size):
        part = data[i:i + size]
        out.append(b"%x\r\n" % len(part) + part + b"\r\n")
    out.append(b"0\r\n\r\n")
    return out


def test_chunked_limit(binary, model):
    """--max-body 1 MiB: a 2 MB chunked body and a Content-Length of 5 MB get 413; a chunked chat
    under the limit is answered."""
    with Server(binary, model, "--max-body", "1048576") as s:
        head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n" % (CHAT, s.port)).encode()
        # A valid JSON start, then 2 MB of padding in 64 KiB chunks.
        payload = b'{"messages": [{"role": "user", "content": "' + b"x" * (2 * 1000 * 1000) + b'"}]}'
        st, _, r, t, sent_all = send_and_read(s.port, [head] + chunked(payload, 65536))
        print("chunked_limit: 2 MB chunked: %d after %.3f s (whole body sent: %s)" % (st, t, sent_all))
        assert st == 413, ("chunked 2 MB", "expected 413", "got", st, r)
        check_error_body(r, "chunked 413")

        head5 = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                 "Content-Length: 5000000\r\n\r\n" % (CHAT, s.port)).encode()
        c = Raw(s.port, timeout=5)
        try:
            c.send(head5)
            t, (st, _, b) = timed(c.response)
        finally:
            c.close()
        print("chunked_limit: Content-Length 5000000 (no body sent): %d after %.3f s" % (st, t))
        assert st == 413, ("Content-Length 5000000", "expected 413", "got", st, b)
        check_error_body(json_of(b), "Content-Length 413")
        assert t < scaled(1.0), t

        # Under the limit, in uneven chunks: a chat answered as usual.
        good = json.dumps(chat("Chunked hello.", 4)).encode()
        st, h, r, t, _ = send_and_read(s.port, [head] + chunked(good, 7))
        assert st == 200 and r["usage"]["completion_tokens"] == 4, ("chunked chat", st, r)
        # The same with the chunks in separate writes and a chunk extension and a trailer.
        pieces = [head, b"5;ext=1\r\n" + good[:5] + b"\r\n", b"%x\r\n" % (len(good) - 5) + good[5:] + b"\r\n",
                  b"0\r\nX-Trailer: 1\r\n\r\n"]
        st, h, r, t, _ = send_and_read(s.port, pieces)
        assert st == 200 and r["usage"]["completion_tokens"] == 4, ("chunked chat, extension and trailer", st, r)
        chat_works(s)


# ---------------------------------------------------------------------------------------------
# 5. headers

def test_headers(binary, model):
    """20,000 header lines or one 40 KB line: 431; a 10 KB path: 414; the server fine after."""
    with Server(binary, model) as s:
        head = ("GET /health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % s.port).encode()
        lines = [b"X-h%d: v\r\n" % i for i in range(20000)]
        pieces = [head] + [b"".join(lines[i:i + 500]) for i in range(0, len(lines), 500)] + [b"\r\n"]
        st, _, r, t, _ = send_and_read(s.port, pieces)
        print("headers: 20,000 header lines: %d after %.3f s" % (st, t))
        assert st == 431, ("20,000 header lines", "expected 431", "got", st, r)
        check_error_body(r, "431 many")

        big = head + b"X-Big: " + b"a" * 40000 + b"\r\n\r\n"
        st, _, r, t, _ = send_and_read(s.port, [big])
        print("headers: one 40 KB header line: %d after %.3f s" % (st, t))
        assert st == 431, ("one 40 KB header line", "expected 431", "got", st, r)
        check_error_body(r, "431 big")

        long_path = "/" + "p" * 10000
        st, _, r, t, _ = send_and_read(s.port, [req("GET", long_path, port=s.port)])
        print("headers: a 10 KB path: %d after %.3f s" % (st, t))
        assert st == 414, ("a 10 KB request path", "expected 414", "got", st, r)
        check_error_body(r, "414")

        assert s.health()["status"] == "ok"
        chat_works(s)


# ---------------------------------------------------------------------------------------------
# 6. duplicate_length

def test_duplicate_length(binary, model):
    """Framing a proxy could read otherwise: two Content-Lengths, Content-Length with
    Transfer-Encoding (400); a transfer coding the server does not know (501)."""
    with Server(binary, model) as s:
        body = json.dumps(chat("hi", 2)).encode()
        n = len(body)
        base = "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n" % (CHAT, s.port)
        cases = [
            ("two Content-Length, same value", 400,
             base + "Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (n, n), body),
            ("two Content-Length, different values", 400,
             base + "Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (n, n + 5), body + b"12345"),
            ("one Content-Length with two values", 400,
             base + "Content-Length: %d, %d\r\n\r\n" % (n, n), body),
            ("Content-Length and Transfer-Encoding: chunked", 400,
             base + "Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % (n + 10), b"".join(chunked(body, 64))),
            ("Transfer-Encoding: chunked and Content-Length", 400,
             base + "Transfer-Encoding: chunked\r\nContent-Length: %d\r\n\r\n" % (n + 10), b"".join(chunked(body, 64))),
            ("Transfer-Encoding: gzip", 501,
             base + "Transfer-Encoding: gzip\r\n\r\n", body),
        ]
        for what, expect, head, payload in cases:
            st, _, r, t, _ = send_and_read(s.port, [head.encode() + payload])
            assert st == expect, (what, "expected", expect, "got", st, r)
            check_error_body(r, what)
        assert s.health()["status"] == "ok"
        chat_works(s)


# ---------------------------------------------------------------------------------------------
# 7. many_messages

def many(n):
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": "m%d" % i} for i in range(n)]


def test_many_messages(binary, model):
    """20,000 messages: 400 naming the limit (default 1024) in < 2 s; with no limit and a small
    context, an answer or a context error in < 5 s while a running stream keeps flowing."""
    big = {"messages": many(20000) + [{"role": "user", "content": "last"}], "max_tokens": 4, "temperature": 0}
    with Server(binary, model) as s:
        t, (st, _, r) = timed(lambda: s.request("POST", CHAT, big))
        print("many_messages: 20,001 messages, default limit: %d in %.3f s" % (st, t))
        assert st == 400, ("20,001 messages", "expected 400", "got", st, r)
        err = check_error_body(r, "max messages")
        assert "1024" in err["message"], err
        assert t < scaled(2.0), t
        chat_works(s)

    with Server(binary, model, "--max-messages", "0", "--ctx", "256", "--max-tokens-limit", "1000000") as s:
        stream = Raw(s.port)
        data = json.dumps({**chat("Go on forever.", 1000000), "stream": True}).encode()
        stream.send(req("POST", CHAT, data, {"Content-Type": "application/json"}, port=s.port))
        st, _, _ = stream.response(head_only=True)
        assert st == 200, st
        stamps = []
        stop = threading.Event()

        def reader():
            stream.sock.settimeout(0.5)
            while not stop.is_set():
                try:
                    chunk = stream.sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                now = time.monotonic()
                stamps.extend([now] * chunk.count(b"data: "))
        th = threading.Thread(target=reader, daemon=True)
        th.start()
        try:
            wait_until(lambda: len(stamps) >= 5, 10, "the stream to run")
            time.sleep(0.5)
            start = time.monotonic()
            st, _, r = s.request("POST", CHAT, big)
            end = time.monotonic()
            time.sleep(0.5)
            alive = th.is_alive()
        finally:
            stop.set()
            th.join(scaled(5))
            stream.close()
        window = [x for x in stamps if start - 0.5 <= x <= end + 0.5]
        gaps = [b - a for a, b in zip(window, window[1:])]
        edge = max([window[0] - (start - 0.5)] if window else [end - start + 1])
        largest = max(gaps + [edge] + ([end + 0.5 - window[-1]] if window else []))
        code = r["error"]["code"] if isinstance(r, dict) and "error" in r else None
        print("many_messages: 20,001 messages, no limit, --ctx 256: %d (%s) in %.3f s; stream events in the "
              "window: %d, largest gap %.3f s" % (st, code or "answer", end - start, len(window), largest))
        assert alive, "the stream ended while the big request ran"
        assert st == 200 or (st == 400 and code == "context_length_exceeded"), ("20,001 messages, no limit", st, r)
        if st == 200:
            assert r["usage"]["completion_tokens"] <= 4, r
        assert end - start < scaled(5.0), end - start
        assert largest < scaled(0.5), ("largest gap between stream events", largest)
        chat_works(s)


# ---------------------------------------------------------------------------------------------
# 8. cross_site

def test_cross_site(binary, model):
    """Simple cross-site requests (text/plain, form) get 415; foreign origins 403 and no CORS
    headers; a --cors-origin origin gets its preflight and its answers; same origin is fine."""
    body = json.dumps(chat("hi", 2))
    with Server(binary, model) as s:
        err = expect_error(s, 415, "POST", CHAT, headers={"Content-Type": "text/plain"}, raw=body, what="text/plain")
        err = expect_error(s, 415, "POST", CHAT, headers={"Content-Type": "application/x-www-form-urlencoded"}, raw=body,
                           what="form")
        assert "application/json" in err["message"], err
        st, _, r = s.request("POST", CHAT, headers={"Content-Type": "application/json; charset=utf-8"}, raw=body)
        assert st == 200, ("application/json; charset=utf-8", st, r)

        evil = {"Origin": "http://evil.example"}
        expect_error(s, 403, "POST", CHAT, headers=evil, raw=body, what="POST from http://evil.example")
        st, h, r = s.request("OPTIONS", CHAT, headers={**evil, "Access-Control-Request-Method": "POST",
                                                       "Access-Control-Request-Headers": "content-type"})
        assert st == 403, ("OPTIONS from http://evil.example", st, r)
        assert not any(k.lower() == "access-control-allow-origin" for k in h), h

        same = {"Origin": "http://127.0.0.1:%d" % s.port, "Host": "127.0.0.1:%d" % s.port}
        st, _, r = s.request("POST", CHAT, headers=same, raw=body)
        assert st == 200, ("same origin", st, r)

    app = "http://app.example"
    with Server(binary, model, "--cors-origin", app) as s:
        st, h, r = s.request("OPTIONS", CHAT, headers={"Origin": app, "Access-Control-Request-Method": "POST",
                                                       "Access-Control-Request-Headers": "authorization, content-type"})
        h = {k.lower(): v for k, v in h.items()}
        assert st == 204, ("preflight from the --cors-origin", st, r)
        assert h.get("access-control-allow-origin") == app, h
        allowed = [x.strip().lower() for x in h.get("access-control-allow-headers", "").split(",")]
        assert "authorization" in allowed and "content-type" in allowed, h
        st, h, r = s.request("POST", CHAT, headers={"Origin": app}, raw=body)
        h = {k.lower(): v for k, v in h.items()}
        assert st == 200 and h.get("access-control-allow-origin") == app, ("POST from the --cors-origin", st, h, r)
        expect_error(s, 403, "POST", CHAT, headers={"Origin": "http://evil.example"}, raw=body, what="evil, with cors")


# ---------------------------------------------------------------------------------------------
# 9. host

def test_host(binary, model):
    """DNS rebinding: a foreign Host gets 421 everywhere; local names and addresses are served;
    --allowed-hosts adds names; HTTP/1.1 without Host is 400."""
    with Server(binary, model) as s:
        for path in ("/v1/models", "/health", "/"):
            st, _, r = s.request("GET", path, headers={"Host": "evil.example"})
            assert st == 421, ("GET %s, Host: evil.example" % path, "expected 421", "got", st, r)
        for host in ("localhost:%d" % s.port, "127.0.0.1:%d" % s.port, "[::1]:%d" % s.port):
            for path in ("/v1/models", "/health"):
                st, _, r = s.request("GET", path, headers={"Host": host})
                assert st == 200, ("GET %s, Host: %s" % (path, host), "expected 200", "got", st, r)
        st, _, r = raw_exchange(s.port, req("GET", "/health", host=""))
        assert st == 400, ("HTTP/1.1 without Host", "expected 400", "got", st, r)
        st, _, r = raw_exchange(s.port, req("GET", "/health", host="evil.example"))
        assert st == 421, st
    with Server(binary, model, "--allowed-hosts", "chat.example") as s:
        for path in ("/v1/models", "/health", "/"):
            st, _, r = s.request("GET", path, headers={"Host": "chat.example"})
            assert st == 200, ("GET %s, Host: chat.example with --allowed-hosts" % path, st, r)
        st, _, r = s.request("GET", "/health", headers={"Host": "chat.example:%d" % s.port})
        assert st == 200, st
        st, _, r = s.request("GET", "/health", headers={"Host": "evil.example"})
        assert st == 421, st


# ---------------------------------------------------------------------------------------------
# 10. metrics

def metric_names(text):
    return {ln.split("{")[0].split(" ")[0] for ln in text.splitlines() if ln and not ln.startswith("#")}


def check_metrics(text):
    lines = text.splitlines()
    for ln in lines:
        if ln.startswith("qwen_requests_total"):
            assert ln.startswith("qwen_requests_total{endpoint=\""), ln
            label = ln[len("qwen_requests_total{endpoint=\""):].split("\"", 1)[0]
            assert label in ENDPOINT_LABELS, ("an endpoint label outside the fixed set", ln)
    busy = [ln for ln in lines if ln.startswith("qwen_slots_busy")]
    assert len(busy) == 1, ("qwen_slots_busy lines", busy)
    for ln in lines:  # every sample line: name{labels} value
        if ln and not ln.startswith("#"):
            assert len(ln.rsplit(" ", 1)) == 2 and ln.split("{")[0].split(" ")[0].replace("_", "").isalnum(), ln


def test_metrics(binary, model):
    """No request can add a metrics series: crafted paths, 2,000 unknown paths and bad requests
    leave the fixed set of endpoint labels and a bounded /metrics."""
    with Server(binary, model) as s:
        chat_works(s)
        s.request("GET", "/nothing")
        s.request("POST", CHAT, raw="{bad")
        before = s.request("GET", "/metrics")[2]
        check_metrics(before)

        crafted = '/x"} 1\nqwen_slots_busy 0\n#'
        encoded = "/x%22%7D%201%0Aqwen_slots_busy%200%0A%23"
        requests = [
            req("GET", encoded, port=s.port),
            req("GET", encoded + "?a=%22%7D", port=s.port),
            req("GET", '/x"}', port=s.port),
            req("GET", '/x"}{endpoint="/health",status="200"} 1', port=s.port),  # spaces: a bad request line
            ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (crafted, s.port)).encode(),  # raw LF
            req("POST", encoded, b"{}", {"Content-Type": "application/json"}, port=s.port),
            req('G"ET', "/health", port=s.port),
            req("GET", "/v1/chat/completions\"}", port=s.port),
            req("GET", "/metrics\n", port=s.port),
            b"\x00\x01\x02 garbage\r\n\r\n",
            b"GET\r\n\r\n",
            req("GET", "/health", port=s.port, version="HTTP/9.9"),
            req("POST", CHAT, b"{not json", {"Content-Type": "application/json"}, port=s.port),
            req("POST", CHAT, b"{}", {"Content-Type": "text/plain"}, port=s.port),
            req("GET", "/health", port=s.port, host='evil"}.example'),
            req("BREW", "/health", port=s.port),
        ]
        for data in requests:
            try:
                raw_exchange(s.port, data, timeout=10)
            except (EOFError, OSError, AssertionError, ValueError):
                pass  # closed without an answer, or an answer the test does not need
        # 2,000 unique unknown paths (a 404 closes its connection: one connection each).
        start = time.monotonic()
        for i in range(2000):
            st, _, _ = raw_exchange(s.port, req("GET", "/unknown/%d?q=%d" % (i, i), port=s.port), timeout=10)
            assert st == 404, st
        print("metrics: 2,000 unknown paths in %.2f s" % (time.monotonic() - start))
        after = s.request("GET", "/metrics")[2]
        check_metrics(after)
        assert metric_names(after) == metric_names(before), metric_names(after) ^ metric_names(before)
        size = len(after.encode())
        print("metrics: /metrics is %d bytes before, %d after" % (len(before.encode()), size))
        assert size < 20 * 1024, size
        assert 'qwen_requests_total{endpoint="other",status="404"}' in after, after


# ---------------------------------------------------------------------------------------------
# 11. small

def test_small(binary, model):
    """Huge numbers, pipelining, half-close, NUL in an error message, a too-long completion prompt,
    a cut stream at shutdown, idle keep-alive."""
    with Server(binary, model, "--ctx", "128") as s:
        # Numbers no double or int64 holds.
        base = json.dumps(chat("hi", 2))[1:-1]
        for what, raw in (("temperature 1e309", '{%s, "temperature": 1e309}' % base.replace('"temperature": 0, ', "")),
                          ("max_tokens of 400 digits", '{%s, "max_tokens": %s}' % (base.replace('"max_tokens": 2, ', ""),
                                                                                  "9" * 400)),
                          ("unknown field of 400 digits", '{%s, "x_big": %s}' % (base, "9" * 400)),
                          ("negative 400 digits in max_tokens", '{%s, "max_tokens": -%s}' %
                           (base.replace('"max_tokens": 2, ', ""), "9" * 400))):
            expect_error(s, 400, "POST", CHAT, raw=raw, what=what)

        # Pipelined: three requests in one write, three answers in order.
        c = Raw(s.port)
        try:
            c.send(req("GET", "/health", port=s.port) * 3)
            for i in range(3):
                st, _, b = c.response()
                assert st == 200 and json_of(b)["status"] == "ok", ("pipelined /health", i, st, b)
            c.send(req("GET", "/health", port=s.port) + req("GET", "/v1/models", port=s.port) +
                   req("GET", "/metrics", port=s.port))
            st1, _, b1 = c.response()
            st2, _, b2 = c.response()
            st3, _, b3 = c.response()
            assert st1 == 200 and "status" in json_of(b1), (st1, b1)
            assert st2 == 200 and json_of(b2).get("object") == "list", (st2, b2)
            assert st3 == 200 and b"qwen_slots_busy" in b3, (st3, b3[:200])
            # A chat then /health in one write: the chat's answer first.
            data = json.dumps(chat("Pipelined.", 4)).encode()
            c.send(req("POST", CHAT, data, {"Content-Type": "application/json"}, port=s.port) +
                   req("GET", "/health", port=s.port))
            st1, _, b1 = c.response()
            st2, _, b2 = c.response()
            assert st1 == 200 and json_of(b1)["usage"]["completion_tokens"] == 4, ("pipelined chat", st1, b1)
            assert st2 == 200 and json_of(b2)["status"] == "ok", ("pipelined /health after a chat", st2, b2)
        finally:
            c.close()

        # Half-close: the whole request, then at once no more writes; the answer still comes.
        # 20 times: the FIN right behind the request is a race the server must not lose. (Checked at
        # the end, so that the items after this one run either way.)
        lost = []
        for i in range(20):
            c = Raw(s.port)
            try:
                data = json.dumps(chat("Half closed.", 4)).encode()
                c.send(req("POST", CHAT, data, {"Content-Type": "application/json"}, port=s.port))
                c.sock.shutdown(socket.SHUT_WR)
                try:
                    st, _, b = c.response()
                except EOFError:
                    lost.append(i)
                    continue
                assert st == 200 and json_of(b)["usage"]["completion_tokens"] == 4, ("half-closed chat", st, b)
            finally:
                c.close()
        print("small: half-close: %d of 20 chats answered" % (20 - len(lost)))

        # A NUL in a quoted value survives into the message, escaped.
        c = Raw(s.port)
        try:
            c.send(req("POST", CHAT, '{"model": "a\\u0000b", "messages": [{"role": "user", "content": "hi"}]}',
                       {"Content-Type": "application/json"}, port=s.port))
            st, _, b = c.response()
        finally:
            c.close()
        assert st == 404 and b"\x00" not in b, ("model a\\u0000b", "expected 404, escaped", "got", st, b)
        err = check_error_body(json_of(b), "NUL")
        assert "a\x00b" in err["message"] and err["code"] == "model_not_found", err

        # A completion prompt past the context.
        expect_error(s, 400, "POST", "/v1/completions", {"prompt": "word " * 400, "max_tokens": 4})
        err = s.request("POST", "/v1/completions", {"prompt": "word " * 400, "max_tokens": 4})[2]["error"]
        assert err["code"] == "context_length_exceeded", err
        chat_works(s)

    # Shutdown cuts a running stream: an error event, then [DONE]; a queued request gets 503.
    s = Server(binary, model, "--shutdown-grace-ms", "500", "--slots", "1", "--ctx", "256",
               "--max-tokens-limit", "1000000")
    failed = True
    try:
        stream = Raw(s.port)
        data = json.dumps({**chat("Go on forever.", 1000000), "stream": True}).encode()
        stream.send(req("POST", CHAT, data, {"Content-Type": "application/json"}, port=s.port))
        st, _, _ = stream.response(head_only=True)
        assert st == 200
        while stream.buf.count(b"data: ") < 3:
            stream._fill()
        queued = Raw(s.port)
        queued.send(req("POST", CHAT, json.dumps(chat("Queued.", 4)).encode(), {"Content-Type": "application/json"},
                        port=s.port))
        wait_until(lambda: s.health()["queue"] == 1, 5, "the second request to queue")
        start = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        qst, _, qb = queued.response()
        queued.close()
        try:
            while b"data: [DONE]" not in stream.buf and len(stream.buf) < (1 << 24):
                stream._fill()
        except (EOFError, OSError):
            pass
        stream.close()
        s.proc.wait(scaled(10))
        took = time.monotonic() - start
        events = [ln[6:] for ln in stream.buf.decode("utf-8", "replace").split("\n") if ln.startswith("data: ")]
        last = [e for e in events if e != "[DONE]"][-1] if events else None
        print("small: shutdown cut: queued request %d, stream's last events %s, exit %s after %.2f s"
              % (qst, [e[:120] for e in events[-2:]], s.proc.returncode, took))
        assert qst == 503, ("the request queued at SIGTERM", "expected 503", "got", qst, qb)
        check_error_body(json_of(qb), "queued 503")
        assert events and events[-1] == "[DONE]", ("the cut stream's end", events[-3:])
        ev = json.loads(last)
        assert "error" in ev and ev["error"]["code"] == "server_shutting_down", ("the cut stream's last event", last)
        assert b'"finish_reason":"stop"' not in stream.buf, "a cut stream ended as if complete"
        assert s.proc.returncode == 0, s.proc.returncode
        failed = False
    finally:
        s.stop()
        if failed:
            s.show_stderr()

    # An idle kept-alive connection is closed after --idle-timeout-ms.
    with Server(binary, model, "--idle-timeout-ms", "500") as s:
        c = Raw(s.port)
        try:
            c.send(req("GET", "/health", port=s.port))
            st, h, _ = c.response()
            assert st == 200 and h.get("connection", "").lower() != "close", (st, h)
            start = time.monotonic()
            closed = c.closed_within(scaled(5))
            t = time.monotonic() - start
        finally:
            c.close()
        print("small: idle keep-alive closed after %.2f s (--idle-timeout-ms 500)" % t)
        assert closed, "an idle kept-alive connection stayed open 5 s"
        assert 0.4 <= t < scaled(1.5), t
    assert not lost, ("chat request then shutdown(SHUT_WR)", "expected 200", "got the connection closed without "
                      "an answer in %d of 20 tries" % len(lost))


if __name__ == "__main__":
    main({"nested": test_nested, "slowloris": test_slowloris, "sigterm_drip": test_sigterm_drip,
          "chunked_limit": test_chunked_limit, "headers": test_headers, "duplicate_length": test_duplicate_length,
          "many_messages": test_many_messages, "cross_site": test_cross_site, "host": test_host,
          "metrics": test_metrics, "small": test_small})
