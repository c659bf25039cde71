"""Starting a qwen-server on a free 127.0.0.1 port and talking raw HTTP to it (standard library only).

Every time limit of the tests is multiplied by QWENEDGE_TEST_TIME_SCALE (default 1), for slow
runs such as ThreadSanitizer builds: the limits only bound how long a test may wait for what it
checks, never what it checks.
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time


def _time_scale():
    text = os.environ.get("QWENEDGE_TEST_TIME_SCALE", "") or "1"
    try:
        scale = float(text)
    except ValueError:
        scale = 0
    if not scale > 0:
        raise SystemExit("QWENEDGE_TEST_TIME_SCALE=%r: expected a positive number" % text)
    return scale


TIME_SCALE = _time_scale()


def scaled(seconds):
    """A time limit for this machine: `seconds` times QWENEDGE_TEST_TIME_SCALE."""
    return seconds * TIME_SCALE


def server_env():
    """The environment of a server: ours, plus the suppressions of tsan.supp for a TSan build
    (any other TSAN_OPTIONS kept; ignored by other builds)."""
    env = dict(os.environ)
    supp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tsan.supp")
    env["TSAN_OPTIONS"] = ":".join(filter(None, [env.get("TSAN_OPTIONS", ""), "suppressions=" + supp]))
    return env


class Server:
    """A qwen-server child process; stopped (SIGTERM, then SIGKILL) when the `with` block ends."""

    def __init__(self, binary, model, *args):
        # stderr goes to a file, not a pipe nobody reads: a chatty server (a sanitizer's report)
        # must not block on a full pipe; it is shown when the test fails.
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([binary, "-m", model, "--port", "0", "--threads", "1", *args],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, env=server_env())
        line = self.proc.stdout.readline()  # "listening on port N", or EOF when it failed
        if not line.startswith("listening on port "):
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("qwen-server did not start: " + line + self.stderr())
        self.port = int(line.split()[-1])

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        code = self.stop()
        if exc_type is not None:
            self.show_stderr()
        elif code != 0:  # a hang or crash at shutdown, or a sanitizer's report at exit
            self.show_stderr()
            raise AssertionError("qwen-server exited with %s after SIGTERM" % code)

    def stderr(self):
        self.log.seek(0)
        return self.log.read()

    def show_stderr(self):
        sys.stderr.write("--- qwen-server stderr ---\n" + self.stderr() + "--- end ---\n")

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(scaled(timeout))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(scaled(5))
        return self.proc.returncode

    def conn(self, timeout=60):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=scaled(timeout))

    def request(self, method, path, body=None, headers=None, raw=None):
        """Returns (status, headers dict, parsed JSON or text)."""
        c = self.conn()
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        h = {"Content-Type": "application/json", **(headers or {})}
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read().decode("utf-8")
        c.close()
        try:
            payload = json.loads(text)
        except ValueError:
            payload = text
        return r.status, dict(r.getheaders()), payload

    def stream(self, path, body, headers=None):
        """Yields the parsed `data:` events of an SSE response; the last one is the string "[DONE]"."""
        c = self.conn()
        c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", **(headers or {})})
        r = c.getresponse()
        if r.status != 200:
            raise AssertionError("stream status %d: %s" % (r.status, r.read()))
        try:
            for raw in r:  # one line at a time; the body ends at the end of the chunked stream
                line = raw.decode("utf-8").rstrip("\n")
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                yield data if data == "[DONE]" else json.loads(data)
        finally:
            c.close()

    def health(self):
        return self.request("GET", "/health")[2]


def stream_text(events):
    """(text, finish_reason, usage) of a list of chat or completion stream events."""
    text, finish, usage = "", None, None
    assert events and events[-1] == "[DONE]", "the stream did not end with [DONE]"
    for e in events[:-1]:
        assert "error" not in e, e
        if e.get("usage"):
            usage = e["usage"]
        for ch in e["choices"]:
            if "delta" in ch:
                text += ch["delta"].get("content") or ""
            else:
                text += ch.get("text") or ""
            if ch.get("finish_reason"):
                finish = ch["finish_reason"]
    return text, finish, usage


def wait_until(pred, seconds, what):
    """Polls pred until it holds, for up to scaled(seconds)."""
    limit = scaled(seconds)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out after %.1fs waiting for %s" % (limit, what))


def main(tests):
    """Runs the test named by argv[3] (argv: binary model test)."""
    binary, model, name = sys.argv[1], sys.argv[2], sys.argv[3]
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    tests[name](binary, model)
    print("ok:", name)
