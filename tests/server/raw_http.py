"""Raw HTTP/1.1 for the server's hardening tests: requests as bytes, responses read off the
socket one at a time (pipelining and interim responses too), and crowds of slow, dripping and
silent connections. Standard library only."""
import json
import resource
import socket
import threading
import time

from server_util import scaled


def raise_nofile():
    """The client's own file-descriptor limit up to the hard limit (the tests hold many sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Raw:
    def __init__(self, port, timeout=30):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=scaled(timeout))
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the connection; read so far: %r" % self.buf[:300])
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

    def response(self, head_only=False, interim=False):
        """(status, headers with lower-case names, body bytes) of the next response; interim 1xx
        responses, which HTTP/1.1 lets come before any answer, are skipped unless `interim`."""
        while True:
            status, headers, body = self._response(head_only)
            if interim or not 100 <= status < 200:
                return status, headers, body

    def _response(self, head_only):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        assert parts[0].startswith("HTTP/1."), lines[0]
        status = int(parts[1])
        headers = {}
        for ln in lines[1:]:
            name, _, value = ln.partition(":")
            headers[name.strip().lower()] = value.strip()
        if head_only or status in (204, 304) or 100 <= status < 200:
            return status, headers, b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():  # trailers, then the empty line
                        pass
                    return status, headers, body
                body += self._take(size)
                self._take(2)
        if "content-length" in headers:
            return status, headers, self._take(int(headers["content-length"]))
        while True:  # no length: the body ends with the connection
            try:
                self._fill()
            except EOFError:
                body, self.buf = self.buf, b""
                return status, headers, body

    def closed_within(self, seconds):
        """True when the server closes (EOF or reset) within `seconds`; unread data is dropped."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True


def req(method, path, body=b"", headers=None, port=None, host=None, version="HTTP/1.1"):
    """The bytes of a request; Host is 127.0.0.1:PORT unless `host` is given ('' = none)."""
    if isinstance(body, str):
        body = body.encode()
    h = []
    if host is None:
        host = "127.0.0.1:%d" % port
    if host:
        h.append("Host: " + host)
    for k, v in (headers or {}).items():
        h.append("%s: %s" % (k, v))
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k in (headers or {})):
        h.append("Content-Length: %d" % len(body))
    return ("%s %s %s\r\n" % (method, path, version) + "".join(x + "\r\n" for x in h) + "\r\n").encode("latin-1") + body


def json_of(body):
    try:
        return json.loads(body.decode("utf-8"))
    except ValueError:
        return body


def raw_exchange(port, data, timeout=30):
    """Sends `data` on a new connection, returns (status, headers, parsed body) of the response."""
    c = Raw(port, timeout)
    try:
        c.send(data)
        st, h, b = c.response()
        return st, h, json_of(b)
    finally:
        c.close()


def send_and_read(port, pieces, timeout=30):
    """Sends the byte strings of `pieces` while a second thread reads the response (a server that
    answers early and stops reading must not deadlock the test); returns (status, headers, body,
    seconds from the first byte sent to the response's head, whether every piece went out)."""
    c = Raw(port, timeout)
    got = {}
    start = time.monotonic()

    def reader():
        try:
            got["r"] = c.response()
            got["t"] = time.monotonic() - start
        except Exception as e:  # shown below
            got["e"] = e
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    sent_all = True
    try:
        for p in pieces:
            if "r" in got or "e" in got:
                sent_all = False
                break
            c.sock.sendall(p)
    except OSError:  # the server closed after answering: fine, the answer is read above
        sent_all = False
    t.join(scaled(timeout))
    c.close()
    assert "r" in got, ("no response", got.get("e"))
    st, h, b = got["r"]
    return st, h, json_of(b), got["t"], sent_all


# ---------------------------------------------------------------------------------------------
# Slow and silent clients.

class Drippers:
    """n connections that each sent a request line and then send one header line a second,
    while a thread notes what the server answers and when."""

    def __init__(self, port, n, path="/health"):
        self.socks = []
        self.start = time.monotonic()
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=scaled(10))
            s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (path, port)).encode())
            s.setblocking(False)
            self.socks.append(s)
        self.received = {}   # socket index -> bytes the server sent
        self.first_reply = {}  # socket index -> seconds from start to the first byte received
        self.closed = {}     # socket index -> seconds from start to EOF/reset
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _poll(self, i, s):
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    self.closed.setdefault(i, time.monotonic() - self.start)
                    return
                if i not in self.first_reply:
                    self.first_reply[i] = time.monotonic() - self.start
                self.received[i] = self.received.get(i, b"") + data
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.closed.setdefault(i, time.monotonic() - self.start)

    def _run(self):
        next_drip = time.monotonic() + 1
        while not self.stop_event.is_set():
            for i, s in enumerate(self.socks):
                if i not in self.closed:
                    self._poll(i, s)
            if time.monotonic() >= next_drip:
                next_drip += 1
                for i, s in enumerate(self.socks):
                    if i in self.closed:
                        continue
                    try:
                        s.send(b"X-a: b\r\n")
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        self.closed.setdefault(i, time.monotonic() - self.start)
            self.stop_event.wait(0.05)

    def statuses(self):
        out = {}
        for i, data in self.received.items():
            out[i] = data.split(b"\r\n", 1)[0].decode("latin-1", "replace")
        return out

    def stop(self):
        self.stop_event.set()
        self.thread.join(scaled(10))
        for s in self.socks:
            s.close()


def open_silent(port, n):
    """n connections that never send a byte (non-blocking connects: a full backlog costs no wait)."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    return socks


def read_to_end(c, seconds):
    """Appends what the server still sends to c.buf until it closes (or `seconds` pass)."""
    deadline = time.monotonic() + scaled(seconds)
    try:
        while len(c.buf) < (1 << 24) and time.monotonic() < deadline:
            c.sock.settimeout(max(0.01, deadline - time.monotonic()))
            c._fill()
    except (EOFError, OSError):
        pass


def silent_state(socks):
    """How many silent connections are open, closed, reset, or were answered (by status line)."""
    out = {}
    for x in socks:
        try:
            data = x.recv(4096)
            key = data.split(b"\r\n", 1)[0].decode("latin-1", "replace") if data else "closed"
        except (BlockingIOError, InterruptedError):
            key = "open"
        except OSError as e:
            key = type(e).__name__
        out[key] = out.get(key, 0) + 1
    return out


def timed(f):
    start = time.monotonic()
    value = f()
    return time.monotonic() - start, value


# ---------------------------------------------------------------------------------------------
# 1. nested
