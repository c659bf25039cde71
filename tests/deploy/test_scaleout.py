"""Scale-out behind nginx (docs/DEPLOY.md): three qwen-server replicas behind the shipped
deploy/nginx/qwenedge.conf, rendered with this test's ports.

argv: qwen-server model [nginx]. Exits 77 (skipped) when no nginx binary is found.

Shows (a) 30 concurrent streaming chats through nginx complete with [DONE] and the same text a
replica gives directly; (b) their second turns land on the replica holding their prefix (the
whole first-turn prompt comes back as cached tokens); (c) after one replica is SIGKILLed, the
streams it was running end with an error the client sees (never a hang) and every new request is
answered by the others; (d) the replica restarted on its port gets traffic again; (e) SIGTERM
drains it: nginx passes its 503s on to the others. Prints the
aggregate decode throughput, which is not asserted. Standard library only; every wait is bounded
by server_util.scaled().
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "server"))
from server_util import Server, scaled, wait_until  # noqa: E402

TEMPLATE = os.path.join(SOURCE, "deploy", "nginx", "qwenedge.conf")
REPLICAS = 3
# Sized so a replica can keep every conversation it gets in a slot of its own, however unevenly
# the 30 hash (up to 23 on one replica seen): a replica keeps as many prefixes as it has slots,
# and with 4 slots and ~10 conversations at once the follow-ups evict each other's (0 of 30 hits,
# measured; docs/DEPLOY.md, "Sizing").
REPLICA_ARGS = ["--slots", "30", "--ctx", "2048"]
CHATS = 30
MAX_TOKENS = 64


def find_nginx(argv):
    for candidate in argv[3:4] + [shutil.which("nginx") or "", "/usr/sbin/nginx"]:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def render(template, replica_ports, listen_port, access_log):
    """The shipped config with this test's replicas, listen address and access log: the replica
    lines keep the template's parameters (max_fails, fail_timeout)."""
    text = open(template).read()
    block = re.search(r"(    # --- replicas: begin.*?\n)(.*?)(    # --- replicas: end)", text, re.S)
    assert block, "no replicas markers in " + template
    first = re.search(r"^\s*server\s+\S+\s*(.*?);", block.group(2), re.M)
    assert first, "no server line between the replicas markers"
    params = first.group(1)
    lines = "".join("    server 127.0.0.1:%d %s;\n" % (p, params) for p in replica_ports)
    text = text[:block.start(2)] + lines + text[block.end(2):]
    for pattern, repl in [(r"^(\s*)listen 80;", r"\g<1>listen 127.0.0.1:%d;" % listen_port),
                          (r"^(\s*)access_log \S+ qwenedge;", r"\g<1>access_log %s qwenedge;" % access_log)]:
        text, n = re.subn(pattern, repl, text, flags=re.M)
        assert n == 1, "expected one line matching %r in the template" % pattern
    return text


class Nginx:
    def __init__(self, binary, replica_ports):
        self.dir = tempfile.mkdtemp(prefix="qwenedge-nginx-")
        if os.geteuid() == 0:  # the master stays root; its workers run as nobody and need in
            os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.access_log = os.path.join(self.dir, "access.log")
        with open(os.path.join(self.dir, "qwenedge.conf"), "w") as f:
            f.write(render(TEMPLATE, replica_ports, self.port, self.access_log))
        temp = "".join("    %s_temp_path %s;\n" % (k, os.path.join(self.dir, k))
                       for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write("worker_processes 1;\nevents { worker_connections 1024; }\n"
                    "http {\n%s    include %s;\n}\n" % (temp, os.path.join(self.dir, "qwenedge.conf")))
        self.log = open(os.path.join(self.dir, "nginx.stderr"), "w+")
        self.proc = subprocess.Popen(
            [binary, "-e", "stderr", "-p", self.dir, "-c", os.path.join(self.dir, "nginx.conf"),
             "-g", "daemon off; pid %s; error_log stderr;" % os.path.join(self.dir, "nginx.pid")],
            stdout=self.log, stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited %s:\n%s" % (self.proc.returncode, self.stderr()))
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return True
            except OSError:
                return False
        wait_until(up, 10, "nginx to listen")

    def stderr(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def routes(self):
        """{conversation id: [(upstream addresses tried, upstream statuses, status)]} from the
        access log, in order."""
        out = {}
        if not os.path.exists(self.access_log):
            return out
        for line in open(self.access_log):
            m = re.search(r'" (\d+) \d+ conv="([^"]*)" upstream="([^"]*)" upstream_status="([^"]*)"', line)
            if m:
                out.setdefault(m.group(2), []).append(
                    (m.group(3).replace(" : ", ", ").split(", "), m.group(4), int(m.group(1))))
        return out

    def routes_of(self, convs, n=1):
        """routes(), once each of convs has n entries: nginx logs a request after its client
        may already have read the whole answer."""
        found = {}

        def logged():
            found.update(self.routes())
            return all(len(found.get(c, [])) >= (n[c] if isinstance(n, dict) else n) for c in convs)
        wait_until(logged, 10, "nginx to log the requests")
        return found

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(scaled(5))
        shutil.rmtree(self.dir, ignore_errors=True)


def chat_body(messages, stream, max_tokens=MAX_TOKENS, **extra):
    body = {"messages": messages, "max_tokens": max_tokens, "temperature": 0, "stream": stream, **extra}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def post(port, body, conv=None, timeout=60):
    """(status, parsed JSON or text) of a whole (non-stream) answer."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=scaled(timeout))
    h = {"Content-Type": "application/json"}
    if conv:
        h["X-Conversation-Id"] = conv
    c.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=h)
    r = c.getresponse()
    text = r.read().decode("utf-8")
    c.close()
    try:
        return r.status, json.loads(text)
    except ValueError:
        return r.status, text


def stream(port, body, conv=None, timeout=60, on_event=None):
    """(text, usage, saw [DONE]) of a streaming answer; raises what the connection raises."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=scaled(timeout))
    h = {"Content-Type": "application/json"}
    if conv:
        h["X-Conversation-Id"] = conv
    try:
        c.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=h)
        r = c.getresponse()
        if r.status != 200:
            raise AssertionError("stream status %d: %s" % (r.status, r.read()[:300]))
        text, usage, done = "", None, False
        for raw in r:
            line = raw.decode("utf-8").rstrip("\n")
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                done = True
                continue
            e = json.loads(line[6:])
            assert "error" not in e, e
            if e.get("usage"):
                usage = e["usage"]
            for ch in e["choices"]:
                text += ch["delta"].get("content") or ""
            if on_event:
                on_event(e)
        return text, usage, done
    finally:
        c.close()


def in_threads(fn, args_list):
    """Runs fn(*args) for each args concurrently; returns the results (or the exceptions)."""
    results = [None] * len(args_list)

    def run(i, args):
        try:
            results[i] = fn(*args)
        except BaseException as e:  # noqa: B902 - reported by the caller
            results[i] = e
    threads = [threading.Thread(target=run, args=(i, a), daemon=True) for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(scaled(120))
        assert not t.is_alive(), "a client thread hung"
    return results


def first_messages(i):
    return [{"role": "user", "content": "Conversation %d: tell me about the number %d." % (i, i * 7)}]


def chat_requests(server):
    """qwen_requests_total for /v1/chat/completions status 200, from a replica's /metrics."""
    _, _, text = server.request("GET", "/metrics")
    m = re.search(r'qwen_requests_total\{endpoint="/v1/chat/completions",status="200"\} (\d+)', text)
    return int(m.group(1)) if m else 0


def main():
    binary, model = sys.argv[1], sys.argv[2]
    nginx_binary = find_nginx(sys.argv)
    if not nginx_binary:
        print("skipped: no nginx binary (apt-get install nginx-light)")
        sys.exit(77)
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    started = time.monotonic()
    replicas, nginx = [], None
    try:
        replicas = [Server(binary, model, *REPLICA_ARGS) for _ in range(REPLICAS)]
        ports = [s.port for s in replicas]
        addr = {"127.0.0.1:%d" % p: i for i, p in enumerate(ports)}
        nginx = Nginx(nginx_binary, ports)
        print("replicas on %s, nginx on %d" % (ports, nginx.port))

        # (a) 30 concurrent streams through nginx, each its own conversation.
        convs = ["conv-%02d" % i for i in range(CHATS)]
        t0 = time.monotonic()
        got = in_threads(lambda i: stream(nginx.port, chat_body(first_messages(i), True), convs[i]),
                         [(i,) for i in range(CHATS)])
        wall = time.monotonic() - t0
        for i, g in enumerate(got):
            assert not isinstance(g, BaseException), "stream %d through nginx failed: %r" % (i, g)
            assert g[2], "stream %d did not end with [DONE]" % i
            assert g[1], "stream %d sent no usage" % i
        tokens = sum(g[1]["completion_tokens"] for g in got)
        print("(a) %d streams x %d tokens through nginx: %d tokens in %.2f s = %.0f tokens/s aggregate"
              % (CHATS, MAX_TOKENS, tokens, wall, tokens / wall))
        routes = nginx.routes_of(convs)
        home = {}
        for c in convs:
            tried, _, status = routes[c][0]
            assert status == 200 and len(tried) == 1, (c, routes[c])
            home[c] = addr[tried[0]]
        spread = [sum(1 for c in convs if home[c] == r) for r in range(REPLICAS)]
        print("    conversations per replica: %s" % spread)
        assert all(n > 0 for n in spread), "a replica got no conversation: %s" % spread

        # (b) Second turns land on the replica holding their prefix.
        def follow_up(i):
            messages = first_messages(i) + [{"role": "assistant", "content": got[i][0]},
                                            {"role": "user", "content": "And what about %d?" % (i + 100)}]
            status, answer = post(nginx.port, chat_body(messages, False), convs[i])
            assert status == 200, (status, answer)
            return answer["usage"]
        second = in_threads(follow_up, [(i,) for i in range(CHATS)])
        hits = 0
        for i, u in enumerate(second):
            assert not isinstance(u, BaseException), "follow-up %d failed: %r" % (i, u)
            # The first turn's prompt reused (all but its last token or two, where the answer's
            # text is tokenized anew), not just the start every chat template shares.
            if u["prompt_tokens_details"]["cached_tokens"] >= got[i][1]["prompt_tokens"] - 2:
                hits += 1
        routes = nginx.routes_of(convs, 2)
        same = sum(1 for c in convs if [addr[a] for a in routes[c][1][0]] == [home[c]])
        cached = sum(u["prompt_tokens_details"]["cached_tokens"] for u in second)
        prompt = sum(u["prompt_tokens"] for u in second)
        print("(b) follow-ups on their first replica: %d/%d; first-turn prompt cached: %d/%d; "
              "cached tokens %d of %d prompt tokens (%.0f%%)"
              % (same, CHATS, hits, CHATS, cached, prompt, 100.0 * cached / prompt))
        assert same == CHATS, "follow-ups moved replica"
        assert hits >= 0.9 * CHATS, "only %d of %d follow-ups reused their prefix" % (hits, CHATS)
        # (a, continued) The same first turns straight to one replica give the same greedy text
        # (sent after the follow-ups: these would take that replica's slots from its conversations).
        direct = in_threads(lambda i: stream(ports[0], chat_body(first_messages(i), True)),
                            [(i,) for i in range(CHATS)])
        for i in range(CHATS):
            assert not isinstance(direct[i], BaseException), direct[i]
            assert got[i][0] == direct[i][0], "conversation %d: %r through nginx, %r direct" % (
                i, got[i][0], direct[i][0])
        print("    all %d first-turn texts through nginx equal to replica %d's direct answers" % (CHATS, 0))

        # (c) SIGKILL a replica while it runs streams.
        victim = max(range(REPLICAS), key=lambda r: spread[r])
        on_victim = [c for c in convs if home[c] == victim][:3]
        started_events = [threading.Event() for _ in on_victim]
        outcome = [None] * len(on_victim)

        def long_stream(k):
            conv = on_victim[k]
            i = convs.index(conv)
            seen = [0]

            def on_event(e):
                assert not any(ch.get("finish_reason") for ch in e["choices"]), "finished: " + json.dumps(e)
                seen[0] += 1
                if seen[0] >= 3:
                    started_events[k].set()
            try:
                text, usage, done = stream(nginx.port, chat_body(first_messages(i), True, max_tokens=1900,
                                                                 ignore_eos=True),
                                           conv, timeout=20, on_event=on_event)
                outcome[k] = ("completed" if done else
                              "ended without finish_reason or [DONE] after %d events" % seen[0])
            except socket.timeout:
                outcome[k] = "HUNG"
            except AssertionError as e:  # a finish_reason, or not a 200
                outcome[k] = "NOT CUT OFF: %s" % e
            except (http.client.HTTPException, OSError, ValueError) as e:
                outcome[k] = "error: %s" % type(e).__name__
            finally:
                started_events[k].set()
        threads = [threading.Thread(target=long_stream, args=(k,), daemon=True) for k in range(len(on_victim))]
        for t in threads:
            t.start()
        for ev in started_events:
            assert ev.wait(scaled(30)), "the long streams did not start"
        assert all(o is None for o in outcome), "a long stream ended before the kill: %s" % outcome
        replicas[victim].proc.kill()
        replicas[victim].proc.wait(scaled(10))
        t_kill = time.monotonic()
        for t in threads:
            t.join(scaled(30))
            assert not t.is_alive(), "a stream on the killed replica hung"
        print("(c) replica %d SIGKILLed under %d streams: %s (%.2f s after the kill)"
              % (victim, len(on_victim), outcome, time.monotonic() - t_kill))
        for o in outcome:
            assert o.startswith("error") or o.startswith("ended without"), "stream on the killed replica: " + o
        # Every new request is answered, by the others (several of them hash to the dead one).
        fresh = ["after-kill-%02d" % i for i in range(20)]
        answers = in_threads(lambda i: post(nginx.port, chat_body(first_messages(100 + i), False), fresh[i]),
                             [(i,) for i in range(len(fresh))])
        for i, (status, answer) in enumerate(answers):
            assert status == 200, "new request %d after the kill: %s %s" % (i, status, answer)
        routes = nginx.routes_of(fresh)
        dead = "127.0.0.1:%d" % ports[victim]
        failed_over = sum(1 for c in fresh if dead in routes[c][0][0])
        assert all(routes[c][0][0][-1] != dead for c in fresh)
        print("    %d/%d new requests answered by the others; %d of them tried the killed replica first"
              % (len(fresh), len(fresh), failed_over))

        # (d) Restarted on its port, it gets traffic again (after nginx's fail_timeout).
        t_restart = time.monotonic()
        replicas[victim] = Server(binary, model, *REPLICA_ARGS, "--port", str(ports[victim]))
        assert replicas[victim].port == ports[victim]
        n = [0]

        def back():
            n[0] += 1
            status, _ = post(nginx.port, chat_body(first_messages(200 + n[0]), False), "back-%d" % n[0])
            assert status == 200
            return chat_requests(replicas[victim]) > 0
        wait_until(back, 40, "the restarted replica to get traffic")
        print("(d) restarted replica %d answered again %.1f s after the restart (%d requests sent)"
              % (victim, time.monotonic() - t_restart, n[0]))

        # (e) SIGTERM drains it: its running stream finishes, the new requests it answers with
        # 503 are passed on to the others by nginx, and it exits 0.
        drained = [None]
        running = threading.Event()

        def draining_stream():
            conv = on_victim[0]

            def on_event(e):
                running.set()
            try:
                drained[0] = stream(nginx.port, chat_body(first_messages(convs.index(conv)), True,
                                                          max_tokens=1900, ignore_eos=True),
                                    conv, timeout=30, on_event=on_event)
            except BaseException as e:  # noqa: B902 - reported below
                drained[0] = e
            finally:
                running.set()
        t = threading.Thread(target=draining_stream, daemon=True)
        t.start()
        assert running.wait(scaled(30)), "the stream before the drain did not start"
        before = nginx.routes()
        replicas[victim].proc.send_signal(signal.SIGTERM)
        during = []
        deadline = time.monotonic() + scaled(30)
        k = 0
        while replicas[victim].proc.poll() is None and time.monotonic() < deadline:
            conv = on_victim[1 + k % (len(on_victim) - 1)] if len(on_victim) > 1 else on_victim[0]
            status, answer = post(nginx.port, chat_body(first_messages(300 + k), False), conv)
            assert status == 200, "a request while replica %d drained: %s %s" % (victim, status, answer)
            during.append(conv)
            k += 1
        t.join(scaled(30))
        assert not t.is_alive(), "the stream on the draining replica hung"
        assert not isinstance(drained[0], BaseException), "the stream on the draining replica: %r" % drained[0]
        assert drained[0][2], "the stream on the draining replica did not end with [DONE]"
        assert replicas[victim].proc.wait(scaled(30)) == 0, "the drained replica did not exit 0"
        routes = nginx.routes_of(set(during), {c: len(before.get(c, [])) + during.count(c) for c in during})
        passed_on = sum(1 for c in set(during) for tried, ups, st in routes[c][len(before.get(c, [])):]
                        if ups.startswith("503"))
        print("(e) replica %d drained by SIGTERM: its stream finished with [DONE]; %d requests meanwhile "
              "all answered, %d of them passed on by nginx after a 503" % (victim, len(during), passed_on))
        assert passed_on > 0, "no request met the draining replica's 503"
    except BaseException:
        if nginx:
            sys.stderr.write("--- nginx stderr ---\n" + nginx.stderr() + "--- end ---\n")
        for s in replicas:
            s.show_stderr()
        raise
    finally:
        if nginx:
            nginx.stop()
        codes = [s.stop() for s in replicas]
    assert codes == [0] * REPLICAS, "replicas exited %s after SIGTERM" % codes
    print("ok: deploy/scaleout in %.1f s" % (time.monotonic() - started))


if __name__ == "__main__":
    main()
