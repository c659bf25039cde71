#!/usr/bin/env python3
"""A soak test of qwen-server: many clients, well-behaved and hostile, for minutes (stdlib only).

  soak.py --server build/tools/qwen-server/qwen-server --model MODEL.gguf
          [--clients 20] [--minutes 10] [--seed N] [--server-args "--slots 2 --max-queue 4"]

Starts its own server (`--port 0 --threads 1` plus --server-args), then runs --clients threads
until the time is up. Each thread loops over a seeded random mix of:

  chat          a chat completion, not streamed, max_tokens 8-32: 200 with a whole answer
  stream        a streamed chat read to the end: 200, a finish_reason, then [DONE]
  stream drop   a streamed chat of 200-600 tokens the client closes (or resets) after a few events
  slow reader   a streamed chat read a few bytes at a time with pauses, a 4 KiB receive buffer
  multi-turn    2-5 chat turns on one connection, each sending the previous answer back
  pipelined     2-8 GET /health sent at once on one connection: as many 200s, in order
  idle          a kept-alive (or silent) connection left idle below the idle timeout, then
                used (200), or past it (the server must close it)
  bad json, deep nesting (10k), wrong content-type, huge header, cut body (the body stops
  short and the client half-closes), two content-lengths, random bytes: each its own 4xx with
  an OpenAI error body (a cut body: that 400, or the server closing)

A well-formed request must get its 200 with a complete answer, or 503 with Retry-After when the
server is full. Anything else is *lost*: another status, a 500, no answer by --deadline seconds,
a connection closed or reset under a request the client did not drop itself, a stream with no
finish_reason or [DONE]. Every second a monitor asks /health on a fresh connection (latency);
every 10 s it samples the server's VmRSS and open file descriptors.

Prints a table by kind and outcome, the lost requests (the first --show-lost, with the bytes
sent), RSS and fds over time, /health latency, and the server's exit status after SIGTERM.
Exits 1 when anything was lost, the server died or did not exit 0 on SIGTERM, the RSS grew more
than 10% + 8 MB from the warm-up sample (--warmup-s, 1 minute) to the end, or the server still
held more fds after the clients were done than before they began, or a slot or queue entry was
left once they were. Traffic goes to 127.0.0.1 only.
"""
import argparse
import json
import os
import random
import select
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

CHAT = "/v1/chat/completions"
WORDS = ("river stone garden window silver morning candle harbor forest letter bridge lantern "
         "meadow thunder pebble orchard compass velvet ember glacier").split()

# kind -> relative weight in each client's mix
MIX = [
    ("chat", 18), ("stream", 14), ("stream drop", 8), ("slow reader", 6), ("multi-turn", 8),
    ("pipelined", 6), ("idle", 4),
    ("bad json", 4), ("deep nesting", 3), ("wrong content-type", 3), ("huge header", 3),
    ("cut body", 3), ("two content-lengths", 3), ("random bytes", 4),
]
EXPECTED = {
    "chat": "200 + answer, or 503", "stream": "200 + [DONE], or 503", "stream drop": "200, dropped, or 503",
    "slow reader": "200 + [DONE], or 503", "multi-turn": "200 + answer, or 503", "pipelined": "200 each",
    "idle": "200, or closed", "bad json": "400", "deep nesting": "400", "wrong content-type": "415",
    "huge header": "431", "cut body": "400, or closed", "two content-lengths": "400", "random bytes": "4xx",
    "monitor /health": "200",
}
OUTCOMES = ("ok", "503", "dropped", "lost")


class Lost(Exception):
    """A request that did not get what it should have."""


class Conn:
    """One raw connection to the server; every read is bounded by `deadline` (time.monotonic)."""

    def __init__(self, port, deadline, rcvbuf=None):
        self.deadline = deadline
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            self.sock.connect(("127.0.0.1", port))
        except OSError as e:
            self.sock.close()
            raise Lost("connect failed: %r" % e)
        self.buf = b""
        self.recv_size = 65536
        self.pause = None  # (min, max) seconds slept before each recv: a slow reader
        self.rng = None

    def close(self, reset=False):
        if reset:  # RST instead of FIN
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.sock.close()

    def send(self, data):
        """Sends while reading whatever the server answers meanwhile (a server that answers early
        and closes must not lose its answer to our own blocked send). True when all went out."""
        sock, view = self.sock, memoryview(data)
        sock.setblocking(False)
        try:
            while view:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise Lost("hang: the server stopped reading the request (%d of %d bytes sent)"
                               % (len(data) - len(view), len(data)))
                r, w, _ = select.select([sock], [sock], [], left)
                if r:
                    try:
                        chunk = sock.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        chunk = None
                    except OSError:
                        return False
                    if chunk == b"":
                        return False
                    if chunk:
                        self.buf += chunk
                if w:
                    try:
                        n = sock.send(view[:65536])
                    except (BlockingIOError, InterruptedError):
                        n = 0
                    except OSError:  # EPIPE / ECONNRESET: the server answered and closed
                        return False
                    view = view[n:]
            return True
        finally:
            sock.setblocking(True)

    def _recv(self):
        if self.pause:
            time.sleep(self.rng.uniform(*self.pause))
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Lost("hang: no answer within the deadline; read so far %r" % self.buf[:200])
        self.sock.settimeout(left)
        try:
            return self.sock.recv(self.recv_size)
        except socket.timeout:
            raise Lost("hang: no answer within the deadline; read so far %r" % self.buf[:200])
        except OSError as e:
            raise Lost("connection error %r; read so far %r" % (e, self.buf[:200]))

    def _fill(self):
        chunk = self._recv()
        if not chunk:
            raise Lost("the server closed the connection; read so far %r" % self.buf[:200])
        self.buf += chunk

    def at_eof(self):
        """True when the server closes the connection before the deadline (unread data dropped)."""
        while True:
            try:
                chunk = self._recv()
            except Lost as e:
                if "connection error" in str(e):
                    return True  # a reset is a close too
                raise
            if not chunk:
                return True
            self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def head(self):
        """(status, headers with lower-case names) of the next response, 1xx skipped."""
        while True:
            while b"\r\n\r\n" not in self.buf:
                self._fill()
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                raise Lost("not an HTTP response: %r" % lines[0][:200])
            headers = {}
            for ln in lines[1:]:
                name, _, value = ln.partition(":")
                headers[name.strip().lower()] = value.strip()
            status = int(parts[1])
            if not 100 <= status < 200:
                return status, headers

    def chunks(self, headers):
        """The pieces of the body as they come (chunked, Content-Length, or up to the close)."""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():  # trailers, then the empty line
                        pass
                    return
                piece = self._take(size)
                self._take(2)
                yield piece
        elif "content-length" in headers:
            yield self._take(int(headers["content-length"]))
        else:
            while True:
                try:
                    self._fill()
                except Lost as e:
                    if "closed the connection" in str(e):
                        break
                    raise
            body, self.buf = self.buf, b""
            yield body

    def response(self):
        status, headers = self.head()
        if status in (204, 304):
            return status, headers, b""
        return status, headers, b"".join(self.chunks(headers))


def request_bytes(port, method, path, body=b"", headers=None):
    if isinstance(body, str):
        body = body.encode()
    h = {"Host": "127.0.0.1:%d" % port, **(headers or {})}
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k in h):
        h["Content-Length"] = str(len(body))
    head = "%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
    return head.encode("latin-1") + body


def json_body(body, what):
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise Lost("%s: the body is not JSON: %r" % (what, body[:200]))


def busy_or_lost(status, headers, body):
    """A non-200 answer to a well-formed request: '503' when the server was full, else lost."""
    if status == 503:
        if not headers.get("retry-after"):
            raise Lost("503 without Retry-After: %r" % body[:200])
        return "503"
    raise Lost("status %d: %r" % (status, body[:300]))


def check_error(status, headers, body, expected):
    if status not in expected:
        raise Lost("expected %s, got %d: %r" % ("/".join(map(str, expected)), status, body[:300]))
    err = json_body(body, "error").get("error")
    if not isinstance(err, dict) or not err.get("message"):
        raise Lost("status %d without an OpenAI error body: %r" % (status, body[:300]))
    return "ok"


def check_answer(payload, max_tokens):
    try:
        choice = payload["choices"][0]
        content = choice["message"]["content"]
        finish = choice["finish_reason"]
        used = payload["usage"]["completion_tokens"]
    except (KeyError, IndexError, TypeError):
        raise Lost("an incomplete answer: %r" % (json.dumps(payload)[:300],))
    if not isinstance(content, str) or finish not in ("stop", "length") or not 0 <= used <= max_tokens:
        raise Lost("a wrong answer (finish %r, %r tokens of %d): %r" % (finish, used, max_tokens, json.dumps(payload)[:300]))
    return content


def sse_events(conn, headers):
    """Yields the `data:` payloads of an event stream, parsed (the last one is "[DONE]")."""
    pending = b""
    for piece in conn.chunks(headers):
        pending += piece
        while b"\n\n" in pending:
            event, pending = pending.split(b"\n\n", 1)
            for line in event.split(b"\n"):
                if line.startswith(b"data: "):
                    data = line[6:]
                    if data == b"[DONE]":
                        yield "[DONE]"
                    else:
                        yield json_body(data, "stream event")
    if pending.strip():
        raise Lost("the stream ended inside an event: %r" % pending[:200])


def check_stream(conn, headers):
    """Reads a 200 event stream to the end: a finish_reason, then [DONE] last, no error."""
    if not headers.get("content-type", "").startswith("text/event-stream"):
        raise Lost("a stream answered with Content-Type %r" % headers.get("content-type"))
    finish, done, text, n = None, False, "", 0
    for e in sse_events(conn, headers):
        if done:
            raise Lost("an event after [DONE]: %r" % (e,))
        if e == "[DONE]":
            done = True
            continue
        n += 1
        if "error" in e:
            raise Lost("an error event: %r" % (json.dumps(e)[:300],))
        for ch in e.get("choices", []):
            text += (ch.get("delta") or {}).get("content") or ""
            if ch.get("finish_reason"):
                finish = ch["finish_reason"]
    if not done:
        raise Lost("the stream ended without [DONE] (%d events, finish %r)" % (n, finish))
    if finish not in ("stop", "length"):
        raise Lost("[DONE] without a finish_reason before it (%d events)" % n)
    return text


class Client:
    """One client thread's requests; each action returns [(kind, outcome, seconds, request)]."""

    def __init__(self, port, rng, deadline_s, idle_timeout_s, max_head):
        self.port, self.rng, self.deadline_s = port, rng, deadline_s
        self.idle_timeout_s, self.max_head = idle_timeout_s, max_head

    def deadline(self, extra=0.0):
        return time.monotonic() + self.deadline_s + extra

    def words(self, lo=1, hi=30):
        return " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(lo, hi)))

    def chat_body(self, messages, max_tokens, stream=False, **extra):
        body = {"messages": messages, "max_tokens": max_tokens, "stream": stream, **extra}
        if self.rng.random() < 0.5:
            body["temperature"] = 0
        else:
            body.update(temperature=0.8, seed=self.rng.randrange(1 << 30))
        return json.dumps(body)

    def post(self, body, headers=None):
        return self.sending(request_bytes(self.port, "POST", CHAT, body, {"Content-Type": "application/json", **(headers or {})}))

    def sending(self, data):
        """`data`, noted as the request a lost outcome shows."""
        self.last = data
        return data

    def exchange(self, data, rcvbuf=None):
        """A new connection, `data` sent; returns the connection (the caller reads and closes)."""
        c = Conn(self.port, self.deadline(), rcvbuf)
        c.send(data)  # a close while sending shows as the answer missing when it is read
        return c

    # -- well-formed --------------------------------------------------------------------------

    def chat(self):
        n = self.rng.randint(8, 32)
        data = self.post(self.chat_body([{"role": "user", "content": self.words()}], n))
        c = self.exchange(data)
        try:
            status, headers, body = c.response()
        finally:
            c.close()
        if status != 200:
            return busy_or_lost(status, headers, body), data
        check_answer(json_body(body, "answer"), n)
        return "ok", data

    def stream(self, mode="full"):
        if mode == "drop":  # long enough to be cut mid-way: the server must stop decoding it
            n, extra = self.rng.randint(200, 600), {"ignore_eos": True}
        else:
            n, extra = self.rng.randint(8, 32), {}
        data = self.post(self.chat_body([{"role": "user", "content": self.words()}], n, stream=True, **extra))
        c = self.exchange(data, rcvbuf=4096 if mode == "slow" else None)
        try:
            status, headers = c.head()
            if status != 200:
                return busy_or_lost(status, headers, b"".join(c.chunks(headers))), data
            if mode == "drop":
                want = self.rng.randint(1, 3)
                for i, e in enumerate(sse_events(c, headers)):
                    if e == "[DONE]" or "error" in e:
                        if e != "[DONE]":
                            raise Lost("an error event: %r" % (json.dumps(e)[:300],))
                        break
                    if i + 1 >= want:
                        break
                c.close(reset=self.rng.random() < 0.5)
                return "dropped", data
            if mode == "slow":
                c.recv_size = self.rng.choice((16, 32, 64, 128, 256))
                c.pause = (0.002, 0.02)
                c.rng = self.rng
            check_stream(c, headers)
            return "ok", data
        finally:
            c.close()

    def multi_turn(self):
        """[(outcome, request)] for 2-5 turns on one kept-alive connection."""
        out, messages, c = [], [], None
        try:
            for _ in range(self.rng.randint(2, 5)):
                messages.append({"role": "user", "content": self.words(1, 12)})
                n = self.rng.randint(8, 32)
                data = self.post(self.chat_body(messages, n))
                if c is None:
                    c = self.exchange(data)
                else:
                    c.deadline = self.deadline()
                    if not c.send(data):
                        raise Lost("the server closed a kept-alive connection under a request")
                start = time.monotonic()
                try:
                    status, headers, body = c.response()
                except Lost as e:
                    raise Lost("%s [turn %d]" % (e, len(out) + 1))
                if status != 200:
                    out.append((busy_or_lost(status, headers, body), data, time.monotonic() - start))
                    break
                messages.append({"role": "assistant", "content": check_answer(json_body(body, "answer"), n)})
                out.append(("ok", data, time.monotonic() - start))
                if headers.get("connection", "").lower() == "close":
                    c.close()
                    c = None
                time.sleep(self.rng.uniform(0.05, 0.5))  # well below the idle timeout
        except Lost as e:
            e.request = data
            e.done = out
            raise
        finally:
            if c is not None:
                c.close()
        return out

    def pipelined(self):
        k = self.rng.randint(2, 8)
        data = self.sending(request_bytes(self.port, "GET", "/health") * k)
        c = self.exchange(data)
        out = []
        try:
            for i in range(k):
                start = time.monotonic()
                try:
                    status, headers, body = c.response()
                except Lost as e:
                    raise Lost("%s [pipelined response %d of %d]" % (e, i + 1, k))
                if status != 200 or json_body(body, "/health").get("status") != "ok":
                    raise Lost("pipelined /health %d of %d: %d %r" % (i + 1, k, status, body[:200]))
                out.append(("ok", data, time.monotonic() - start))
        except Lost as e:
            e.request, e.done = data, out
            raise
        finally:
            c.close()
        return out

    def idle(self):
        health = request_bytes(self.port, "GET", "/health")
        silent = self.rng.random() < 0.3  # a connection that sends nothing at first
        past = not silent and self.rng.random() < 0.4
        wait = self.idle_timeout_s + self.rng.uniform(1.0, 2.0) if past else self.rng.uniform(0.3, 0.6 * self.idle_timeout_s)
        what = ("(silent %.1f s, then GET /health)" if silent else "(GET /health, idle %.1f s, GET /health)"
                if not past else "(GET /health, then idle %.1f s: the server must close)") % wait
        self.sending(what.encode())
        c = Conn(self.port, self.deadline(wait + 5))
        try:
            if not silent:
                c.send(health)
                status, _, body = c.response()
                if status != 200:
                    raise Lost("/health before idling: %d %r" % (status, body[:200]))
            time.sleep(wait)
            if past:
                c.deadline = time.monotonic() + 5 + self.idle_timeout_s
                try:
                    c.at_eof()
                except Lost:
                    raise Lost("an idle connection was still open %.1f s past the %.1f s idle timeout"
                               % (wait + 5 + self.idle_timeout_s, self.idle_timeout_s))
                return "ok", self.last
            c.deadline = self.deadline()
            if not c.send(health):
                raise Lost("the server closed a connection idle %.1f s (< the idle timeout)" % wait)
            status, _, body = c.response()
            if status != 200 or json_body(body, "/health").get("status") != "ok":
                raise Lost("/health after idling: %d %r" % (status, body[:200]))
            return "ok", self.last
        finally:
            c.close()

    # -- malformed ----------------------------------------------------------------------------

    def malformed(self, kind):
        good = self.chat_body([{"role": "user", "content": self.words()}], 8)
        ct = {"Content-Type": "application/json"}
        if kind == "bad json":
            # a proper prefix of the object, then nothing or something that cannot complete it
            cut = self.rng.randint(1, len(good) - 1)
            data, expected = self.post(good[:cut] + self.rng.choice(["", ",}", ",]", "\x01", "'x'"])), (400,)
        elif kind == "deep nesting":
            depth = 10000
            deep = "[" * depth + "]" * depth if self.rng.random() < 0.5 else '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)
            body = deep if self.rng.random() < 0.3 else '{"messages": [{"role": "user", "content": %s}], "max_tokens": 8}' % deep
            data, expected = self.post(body), (400,)
        elif kind == "wrong content-type":
            mime = self.rng.choice(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
            data, expected = request_bytes(self.port, "POST", CHAT, good, {"Content-Type": mime}), (415,)
        elif kind == "huge header":
            if self.rng.random() < 0.5:
                extra = {"X-Big": "a" * (self.max_head + self.rng.randint(1000, 20000))}
            else:
                extra = {"X-H%d" % i: "v" * 400 for i in range(self.max_head // 400 + 10)}
            data, expected = request_bytes(self.port, "GET", "/health", b"", extra), (431,)
        elif kind == "two content-lengths":
            n = len(good)
            second = self.rng.choice([n, n + 1])
            data = request_bytes(self.port, "POST", CHAT, good, {**ct, "Content-Length": str(n), "content-length": str(second)})
            expected = (400,)
        elif kind == "random bytes":
            n = self.rng.randint(1, 2000)
            junk = self.rng.getrandbits(8 * n).to_bytes(n, "little")
            data, expected = junk + b"\r\n\r\n", tuple(range(400, 500))
        elif kind == "cut body":
            full = self.post(good)
            data = full[:len(full) - self.rng.randint(1, len(good) - 1)]
            c = Conn(self.port, self.deadline())
            try:
                c.send(self.sending(data))
                c.sock.shutdown(socket.SHUT_WR)
                if c.at_eof() and not c.buf:
                    return "ok", data
                status, headers, body = Conn.response(c)  # what came before the close
                return check_error(status, headers, body, (400,)), data
            except Lost as e:
                e.request = data
                raise
            finally:
                c.close()
        else:
            raise ValueError(kind)
        c = Conn(self.port, self.deadline())
        try:
            c.send(self.sending(data))
            try:
                status, headers, body = c.response()
            except Lost as e:
                raise Lost("no answer to a malformed request: %s" % e)
            return check_error(status, headers, body, expected), data
        except Lost as e:
            e.request = data
            raise
        finally:
            c.close()

    def run(self, kind):
        """[(outcome, request bytes, seconds)] for one action of `kind`."""
        start = time.monotonic()
        data = self.last = b""
        try:
            if kind == "multi-turn":
                return self.multi_turn()
            if kind == "pipelined":
                return self.pipelined()
            if kind == "chat":
                outcome, data = self.chat()
            elif kind == "stream":
                outcome, data = self.stream()
            elif kind == "stream drop":
                outcome, data = self.stream("drop")
            elif kind == "slow reader":
                outcome, data = self.stream("slow")
            elif kind == "idle":
                outcome, data = self.idle()
            else:
                outcome, data = self.malformed(kind)
            return [(outcome, data, time.monotonic() - start)]
        except Lost as e:
            done = getattr(e, "done", [])
            return done + [("lost", getattr(e, "request", self.last), time.monotonic() - start, str(e))]
        except Exception as e:  # a reply this client could not even parse
            return [("lost", self.last, time.monotonic() - start, "unparseable reply: %r" % e)]


class Soak:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.counts = {}     # (kind, outcome) -> n
        self.times = {}      # kind -> [seconds of ok answers]
        self.lost = []       # (t, kind, request, what)
        self.samples = []    # (t, rss_kib, fds)
        self.health = []     # seconds
        self.stop = threading.Event()
        self.crashed = None

    def note(self, kind, outcome, seconds, request=b"", what=""):
        with self.lock:
            self.counts[(kind, outcome)] = self.counts.get((kind, outcome), 0) + 1
            if outcome == "ok":
                self.times.setdefault(kind, []).append(seconds)
            if outcome == "lost":
                self.lost.append((time.monotonic() - self.t0, kind, request, what))

    # -- the server ---------------------------------------------------------------------------

    def start_server(self):
        extra = shlex.split(self.args.server_args)
        cmd = [self.args.server, "-m", self.args.model, "--port", "0", "--threads", "1"] + extra
        self.log = tempfile.TemporaryFile(mode="w+")
        env = dict(os.environ)
        env.setdefault("OMP_WAIT_POLICY", "passive")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        line = self.proc.stdout.readline()  # "listening on port N", or EOF when it failed
        if not line.startswith("listening on port "):
            self.proc.kill()
            self.proc.wait()
            sys.exit("soak: qwen-server did not start: %r\n%s" % (line, self.stderr()))
        self.port = int(line.split()[-1])
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        self.cmd = cmd

        def option(name, default):
            if name in extra and extra.index(name) + 1 < len(extra):
                return int(extra[extra.index(name) + 1])
            return default
        self.idle_timeout_s = option("--idle-timeout-ms", 5000) / 1000.0
        self.max_head = option("--max-header-bytes", 32768)

    def stderr(self):
        self.log.seek(0)
        return self.log.read()

    def rss_fds(self):
        """(VmRSS in KiB, open fds) of the server, or (None, None) once it is gone."""
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
            fds = len(os.listdir("/proc/%d/fd" % self.proc.pid))
        except (OSError, StopIteration, ValueError):
            return None, None
        return rss, fds

    def threads_cpu(self):
        """(threads, CPU seconds user + system) of the server."""
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                threads = next(int(l.split()[1]) for l in f if l.startswith("Threads:"))
            with open("/proc/%d/stat" % self.proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return threads, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, StopIteration, ValueError, IndexError):
            return None, None

    # -- the threads --------------------------------------------------------------------------

    def client(self, i):
        rng = random.Random(self.args.seed * 1000003 + i)
        kinds, weights = [k for k, _ in MIX], [w for _, w in MIX]
        c = Client(self.port, rng, self.args.deadline, self.idle_timeout_s, self.max_head)
        time.sleep(rng.uniform(0, 1.0))  # the clients do not all start at once
        while not self.stop.is_set() and time.monotonic() < self.end:
            kind = rng.choices(kinds, weights)[0]
            for r in c.run(kind):  # (outcome, request, seconds[, what was wrong])
                self.note(kind, r[0], r[2], r[1], r[3] if len(r) > 3 else "")
            self.stop.wait(rng.uniform(self.args.pause / 4, self.args.pause))

    def monitor(self):
        next_sample = 0.0
        next_report = 60.0
        while not self.stop.is_set():
            t = time.monotonic() - self.t0
            if self.proc.poll() is not None:
                self.crashed = self.proc.returncode
                self.stop.set()
                return
            if t >= next_sample:
                rss, fds = self.rss_fds()
                if rss is not None:
                    self.samples.append((t, rss, fds))
                next_sample += 10.0
            if t >= next_report:
                with self.lock:
                    done = sum(self.counts.values())
                    lost = len(self.lost)
                rss = self.samples[-1][1] / 1024.0 if self.samples else float("nan")
                print("  %4.0f s: %d requests, %d lost, RSS %.1f MiB, %s fds"
                      % (t, done, lost, rss, self.samples[-1][2] if self.samples else "?"), flush=True)
                next_report += 60.0
            start = time.monotonic()
            try:
                c = Conn(self.port, start + self.args.deadline)
                try:
                    c.send(request_bytes(self.port, "GET", "/health", b"", {"Connection": "close"}))
                    status, _, body = c.response()
                finally:
                    c.close()
                if status != 200 or json_body(body, "/health").get("status") != "ok":
                    raise Lost("%d %r" % (status, body[:200]))
                self.health.append(time.monotonic() - start)
                self.note("monitor /health", "ok", time.monotonic() - start)
            except Lost as e:
                self.note("monitor /health", "lost", time.monotonic() - start, b"GET /health", str(e))
            self.stop.wait(max(0.0, 1.0 - (time.monotonic() - start)))

    def run(self):
        a = self.args
        self.start_server()
        time.sleep(0.5)
        rss0, self.fds_start = self.rss_fds()
        self.threads_start, self.cpu_start = self.threads_cpu()
        print("soak: %s" % " ".join(shlex.quote(x) for x in self.cmd))
        print("soak: port %d, %d clients for %.1f min, seed %d, deadline %.0f s, pause up to %.2f s; "
              "RSS at start %.1f MiB, %d fds" % (self.port, a.clients, a.minutes, a.seed, a.deadline, a.pause,
                                                  rss0 / 1024.0, self.fds_start), flush=True)
        self.t0 = time.monotonic()
        self.end = self.t0 + 60.0 * a.minutes
        mon = threading.Thread(target=self.monitor, daemon=True)
        mon.start()
        threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(a.clients)]
        for t in threads:
            t.start()
        for t in threads:
            # each action ends within its deadline (an idle one: the idle timeout + 9 s more)
            t.join(max(0.0, self.end - time.monotonic()) + a.deadline + self.idle_timeout_s + 30)
        hung_clients = sum(t.is_alive() for t in threads)
        self.elapsed = time.monotonic() - self.t0
        rss, fds = self.rss_fds()
        if rss is not None:
            self.samples.append((self.elapsed, rss, fds))
        self.stop.set()
        mon.join(a.deadline + 5)
        # The fds once the connections the clients left have gone (closed ones at once; none idle).
        settle = time.monotonic() + self.idle_timeout_s + 3
        fds_end = fds
        while time.monotonic() < settle and self.proc.poll() is None:
            fds_end = self.rss_fds()[1]
            if fds_end is not None and fds_end <= self.fds_start:
                break
            time.sleep(0.2)
        self.after = self.server_after()
        self.threads_end, cpu = self.threads_cpu()
        self.cpu = None if cpu is None else cpu - self.cpu_start
        if self.proc.poll() is not None and self.crashed is None:
            self.crashed = self.proc.returncode
        code = self.stop_server()
        return self.report(hung_clients, fds_end, code)

    def server_after(self):
        """/health once the clients are done (no slot may stay busy, no request queued), and the
        server's own count of the statuses it answered (from /metrics)."""
        health, statuses = None, {}
        until = time.monotonic() + 10
        while time.monotonic() < until and self.proc.poll() is None:
            try:
                c = Conn(self.port, time.monotonic() + 10)
                c.send(request_bytes(self.port, "GET", "/health", b"", {"Connection": "close"}))
                health = json_body(c.response()[2], "/health")
                c.close()
            except Lost:
                health = None
            if health and health.get("slots_busy") == 0 and health.get("queue") == 0:
                break
            time.sleep(0.5)
        try:
            c = Conn(self.port, time.monotonic() + 10)
            c.send(request_bytes(self.port, "GET", "/metrics", b"", {"Connection": "close"}))
            text = c.response()[2].decode("utf-8", "replace")
            c.close()
            for line in text.splitlines():
                if line.startswith("qwen_requests_total{") and 'status="' in line:
                    st = line.split('status="', 1)[1].split('"', 1)[0]
                    statuses[st] = statuses.get(st, 0) + int(float(line.split()[-1]))
        except (Lost, ValueError, IndexError):
            pass
        return health, statuses

    def stop_server(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                return "killed after 60 s"
        return self.proc.returncode

    # -- the report ---------------------------------------------------------------------------

    def report(self, hung_clients, fds_end, code):
        a = self.args
        kinds = [k for k, _ in MIX] + ["monitor /health"]
        rows = []
        total = dict.fromkeys(OUTCOMES, 0)
        for k in kinds:
            n = {o: self.counts.get((k, o), 0) for o in OUTCOMES}
            for o in OUTCOMES:
                total[o] += n[o]
            ts = sorted(self.times.get(k, []))
            p50 = "%.3f" % ts[len(ts) // 2] if ts else "-"
            mx = "%.3f" % ts[-1] if ts else "-"
            rows.append([k, EXPECTED[k], str(sum(n.values()))] + [str(n[o]) for o in OUTCOMES] + [p50, mx])
        rows.append(["all", "", str(sum(total.values()))] + [str(total[o]) for o in OUTCOMES] + ["", ""])
        head = ["kind", "expected", "requests", "ok", "503", "dropped by client", "lost", "ok p50 s", "ok max s"]
        print()
        print("soak: %.1f s, %d clients, seed %d" % (self.elapsed, a.clients, a.seed))
        print()
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" if i < 2 else "---:" for i in range(len(head))) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")

        failures = []
        if self.lost:
            failures.append("%d lost" % len(self.lost))
            print("\nlost (first %d of %d):" % (min(a.show_lost, len(self.lost)), len(self.lost)))
            for t, kind, req, what in self.lost[:a.show_lost]:
                shown = req if len(req) <= 600 else req[:600] + b"...(%d bytes)" % len(req)
                print("  at %.1f s, %s: %s\n    request: %r" % (t, kind, what, shown))
        if hung_clients:
            failures.append("%d client threads still running" % hung_clients)

        def mib(kib):
            return "%.1f MiB" % (kib / 1024.0)
        warm = next((s for s in self.samples if s[0] >= min(a.warmup_s, self.elapsed / 2)), None)
        last = self.samples[-1] if self.samples else None
        print()
        print("| figure | value |")
        print("|---|---:|")
        if warm and last:
            peak = max(s[1] for s in self.samples)
            print("| RSS at %.0f s (after warm-up) | %s |" % (warm[0], mib(warm[1])))
            print("| RSS at the end (%.0f s) | %s |" % (last[0], mib(last[1])))
            print("| RSS max (%d samples) | %s |" % (len(self.samples), mib(peak)))
            limit = warm[1] * 1.10 + 8 * 1024
            if last[1] > limit:
                failures.append("RSS grew from %s to %s (limit %s)" % (mib(warm[1]), mib(last[1]), mib(limit)))
        print("| fds at start / end / max | %s / %s / %s |" % (self.fds_start, fds_end,
                                                              max((s[2] for s in self.samples), default="?")))
        if fds_end is None or fds_end > self.fds_start:
            failures.append("the server holds %s fds after the clients, %d before" % (fds_end, self.fds_start))
        health, statuses = self.after
        print("| /health after the clients | %s |" % (json.dumps(health, sort_keys=True) if health else "no answer"))
        if not health or health.get("slots_busy") != 0 or health.get("queue") != 0:
            failures.append("slots or queue not empty after the clients: %s" % health)
        if statuses:
            print("| statuses the server counted (/metrics) | %s |"
                  % ", ".join("%s: %d" % kv for kv in sorted(statuses.items())))
            if any(k.startswith("5") and k != "503" for k in statuses):
                failures.append("the server counted 5xx answers: %s" % statuses)
        print("| server threads at start / end | %s / %s |" % (self.threads_start, self.threads_end))
        if self.cpu is not None:
            print("| server CPU time during the run | %.1f s (%.0f%% of one core) |" % (self.cpu, 100 * self.cpu / self.elapsed))
        if self.health:
            h = sorted(self.health)
            p99 = h[min(len(h) - 1, int(0.99 * len(h)))]
            print("| /health latency p50 / p99 / max (%d probes) | %.1f / %.1f / %.1f ms |"
                  % (len(h), 1e3 * h[len(h) // 2], 1e3 * p99, 1e3 * h[-1]))
        print("| server exit status after SIGTERM | %s |" % code)
        if self.crashed is not None:
            failures.append("the server died during the run (status %s)" % self.crashed)
        if code != 0:
            failures.append("exit status %s after SIGTERM" % code)
        print()
        print("RSS and fds every 10 s: " + ", ".join("%.0fs %.1f/%d" % (t, r / 1024.0, f) for t, r, f in self.samples))
        if failures:
            tail = self.stderr()[-3000:]
            if tail:
                print("\n--- qwen-server stderr (tail) ---\n" + tail + "--- end ---")
            print("\nsoak: FAIL: " + "; ".join(failures))
            return 1
        print("\nsoak: PASS")
        return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", required=True, help="the qwen-server binary")
    p.add_argument("--model", required=True)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--server-args", default="", help="more arguments for the server, one string")
    p.add_argument("--deadline", type=float, default=60, help="seconds a request may take before it counts as lost")
    p.add_argument("--pause", type=float, default=0.8, help="a client sleeps pause/4..pause seconds between requests")
    p.add_argument("--warmup-s", type=float, default=60, help="the RSS baseline is the first sample after this")
    p.add_argument("--show-lost", type=int, default=20, help="lost requests printed in full")
    sys.exit(Soak(p.parse_args()).run())


if __name__ == "__main__":
    main()
