"""qwen-server over raw HTTP: the OpenAI endpoints, every error case, load, disconnects, SIGTERM.

usage: test_server.py QWEN_SERVER MODEL.gguf {api|errors|load|disconnect|disconnect_nonstream|queue|sigterm}
The tiny fixture model answers gibberish, but deterministically with temperature 0. Time limits
scale with QWENEDGE_TEST_TIME_SCALE (see server_util.py).
"""
import concurrent.futures
import http.client
import json
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_util import Server, main, scaled, stream_text, wait_until  # noqa: E402

KEY = {"Authorization": "Bearer test-key"}


def chat(content, n=16, **extra):
    return {"messages": [{"role": "user", "content": content}], "max_tokens": n, "temperature": 0,
            "ignore_eos": True, **extra}


def test_api(binary, model):
    with Server(binary, model, "--api-key", "test-key", "--slots", "2") as s:
        assert s.health()["status"] == "ok"
        st, _, models = s.request("GET", "/v1/models", headers=KEY)
        assert st == 200 and models["object"] == "list"
        model_id = models["data"][0]["id"]

        # Non-stream chat completion.
        st, _, r = s.request("POST", "/v1/chat/completions", {**chat("Tell me about the sea.", 12), "model": model_id}, KEY)
        assert st == 200, r
        assert r["object"] == "chat.completion" and r["model"] == model_id and r["id"].startswith("chatcmpl-")
        msg = r["choices"][0]["message"]
        assert msg["role"] == "assistant" and isinstance(msg["content"], str)
        assert r["choices"][0]["finish_reason"] == "length"
        assert r["usage"]["completion_tokens"] == 12
        assert r["usage"]["total_tokens"] == r["usage"]["prompt_tokens"] + 12

        # The same request streamed: the same text, role first, usage, [DONE] last.
        events = list(s.stream("/v1/chat/completions",
                               {**chat("Tell me about the sea.", 12), "stream": True,
                                "stream_options": {"include_usage": True}}, KEY))
        assert events[0]["object"] == "chat.completion.chunk"
        assert events[0]["choices"][0]["delta"]["role"] == "assistant"
        text, finish, usage = stream_text(events)
        assert text == msg["content"], (text, msg["content"])
        assert finish == "length" and usage["completion_tokens"] == 12
        assert len(events) >= 4
        # Without include_usage there is no usage chunk.
        events = list(s.stream("/v1/chat/completions", {**chat("Tell me about the sea.", 3), "stream": True}, KEY))
        assert all(e == "[DONE]" or not e.get("usage") for e in events)

        # A follow-up turn reuses the conversation's KV prefix.
        conv = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name three rivers."}]
        st, _, first = s.request("POST", "/v1/chat/completions", {"messages": conv, "max_tokens": 10, "temperature": 0}, KEY)
        conv += [{"role": "assistant", "content": first["choices"][0]["message"]["content"]},
                 {"role": "user", "content": "And three mountains?"}]
        st, _, second = s.request("POST", "/v1/chat/completions", {"messages": conv, "max_tokens": 10, "temperature": 0}, KEY)
        assert st == 200
        cached = second["usage"]["prompt_tokens_details"]["cached_tokens"]
        assert cached >= first["usage"]["prompt_tokens"] - 1, (cached, first["usage"])

        # Sampling fields, stop strings (their text is never shown), tools and tool messages.
        st, _, long = s.request("POST", "/v1/chat/completions", chat("Write a story about a fox.", 24), KEY)
        full = long["choices"][0]["message"]["content"]
        stop = next((full[i:i + 2] for i in range(1, len(full) - 2) if full[i:i + 2].strip()), None)
        if stop:
            st, _, r = s.request("POST", "/v1/chat/completions", chat("Write a story about a fox.", 24, stop=[stop, "zzzz"]), KEY)
            assert st == 200 and r["choices"][0]["message"]["content"] == full[:full.find(stop)]
            assert r["choices"][0]["finish_reason"] == "stop"
            events = list(s.stream("/v1/chat/completions", {**chat("Write a story about a fox.", 24, stop=stop), "stream": True}, KEY))
            assert stream_text(events)[0] == full[:full.find(stop)]
        body = {"messages": [{"role": "user", "content": "Weather in Paris?"},
                             {"role": "assistant", "content": None, "tool_calls": [
                                 {"id": "c1", "type": "function",
                                  "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
                             {"role": "tool", "tool_call_id": "c1", "content": "18 C"}],
                "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
                "max_completion_tokens": 5, "temperature": 0.7, "top_p": 0.9, "top_k": 20, "min_p": 0.05,
                "presence_penalty": 0.5, "frequency_penalty": 0.5, "seed": 7, "n": 1}
        st, _, r1 = s.request("POST", "/v1/chat/completions", body, KEY)
        st2, _, r2 = s.request("POST", "/v1/chat/completions", body, KEY)
        assert st == 200 and st2 == 200, r1
        assert r1["choices"][0]["message"]["content"] == r2["choices"][0]["message"]["content"]  # same seed
        assert r1["usage"]["completion_tokens"] <= 5

        # With tools the answer goes through the tool-call parser (tests/server/test_tool_calls.cpp;
        # the random model writes no calls): streamed, it is the same text as at once.
        tools = {"tools": body["tools"], "tool_choice": "auto"}
        st, _, r = s.request("POST", "/v1/chat/completions", {**chat("Weather in Paris?", 20), **tools}, KEY)
        assert st == 200 and isinstance(r["choices"][0]["message"]["content"], str), r
        assert r["choices"][0]["finish_reason"] == "length" and "tool_calls" not in r["choices"][0]["message"]
        events = list(s.stream("/v1/chat/completions", {**chat("Weather in Paris?", 20), **tools, "stream": True}, KEY))
        assert stream_text(events)[:2] == (r["choices"][0]["message"]["content"], "length")
        # tool_choice "none": the tools are not rendered, so the prompt is that of no tools.
        st, _, plain = s.request("POST", "/v1/chat/completions", chat("Weather in Paris?", 2), KEY)
        st2, _, none = s.request("POST", "/v1/chat/completions", {**chat("Weather in Paris?", 2), **tools,
                                                                   "tool_choice": "none"}, KEY)
        assert st == 200 and st2 == 200, none
        assert none["usage"]["prompt_tokens"] == plain["usage"]["prompt_tokens"] < r["usage"]["prompt_tokens"]

        # Plain completions, non-stream and stream.
        st, _, c = s.request("POST", "/v1/completions", {"prompt": "Once upon a time", "max_tokens": 8,
                                                         "temperature": 0, "ignore_eos": True}, KEY)
        assert st == 200 and c["object"] == "text_completion" and c["usage"]["completion_tokens"] == 8
        events = list(s.stream("/v1/completions", {"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0,
                                                   "ignore_eos": True, "stream": True}, KEY))
        assert stream_text(events)[0] == c["choices"][0]["text"]

        metrics = s.request("GET", "/metrics")[2]
        for name in ("qwen_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"}", "qwen_generated_tokens_total",
                     "qwen_time_to_first_token_seconds_bucket", "qwen_request_duration_seconds_count",
                     "qwen_slots_busy 0", "qwen_slots_total 2", "qwen_queue_length 0", "qwen_prompt_tokens_cached_total"):
            assert name in metrics, name


def check_error(s, expect_status, method, path, body=None, headers=KEY, raw=None, param=None, code=None):
    st, hdrs, r = s.request(method, path, body, headers, raw)
    assert st == expect_status, (st, expect_status, body if raw is None else raw[:80], r)
    assert isinstance(r, dict) and set(r["error"]) == {"message", "type", "param", "code"}, r
    assert r["error"]["message"], r
    if param is not None:
        assert r["error"]["param"] == param, r
    if code is not None:
        assert r["error"]["code"] == code, r
    return r


def test_errors(binary, model):
    args = ("--api-key", "test-key", "--max-body", "4096", "--max-prompt-tokens", "200", "--max-tokens-limit", "64")
    with Server(binary, model, *args) as s:
        P = "/v1/chat/completions"
        ok = chat("hi", 4)
        check_error(s, 401, "POST", P, ok, headers={}, code="invalid_api_key")
        check_error(s, 401, "POST", P, ok, headers={"Authorization": "Bearer wrong"}, code="invalid_api_key")
        check_error(s, 401, "GET", "/v1/models", headers={}, code="invalid_api_key")
        check_error(s, 400, "POST", P, raw="{not json", code="invalid_json")
        check_error(s, 400, "POST", P, raw="")
        check_error(s, 400, "POST", P, raw="[1, 2]")
        check_error(s, 400, "POST", P, {"max_tokens": 4}, param="messages")
        check_error(s, 400, "POST", P, {"messages": "hi"}, param="messages")
        check_error(s, 400, "POST", P, {"messages": []}, param="messages")
        check_error(s, 400, "POST", P, {"messages": [{"content": "hi"}]}, param="messages[0].role")
        check_error(s, 400, "POST", P, {"messages": [{"role": "wizard", "content": "hi"}]}, param="messages[0].role")
        check_error(s, 400, "POST", P, {"messages": [{"role": "user", "content": 5}]}, param="messages[0].content")
        check_error(s, 400, "POST", P, {"messages": [{"role": "user"}]}, param="messages[0].content")
        check_error(s, 400, "POST", P, {**ok, "temperature": "hot"}, param="temperature")
        check_error(s, 400, "POST", P, {**ok, "temperature": 5}, param="temperature")
        check_error(s, 400, "POST", P, {**ok, "top_p": 0}, param="top_p")
        check_error(s, 400, "POST", P, {**ok, "top_k": 1.5}, param="top_k")
        check_error(s, 400, "POST", P, {**ok, "presence_penalty": 9}, param="presence_penalty")
        check_error(s, 400, "POST", P, {**ok, "max_tokens": 0}, param="max_tokens")
        check_error(s, 400, "POST", P, {**ok, "max_tokens": "10"}, param="max_tokens")
        check_error(s, 400, "POST", P, {**ok, "max_tokens": 65}, param="max_tokens")
        check_error(s, 400, "POST", P, {**ok, "max_completion_tokens": 1000}, param="max_completion_tokens")
        check_error(s, 400, "POST", P, {**ok, "n": 2}, param="n")
        check_error(s, 400, "POST", P, {**ok, "stop": 3}, param="stop")
        check_error(s, 400, "POST", P, {**ok, "stop": [""]}, param="stop")
        check_error(s, 400, "POST", P, {**ok, "seed": "x"}, param="seed")
        check_error(s, 400, "POST", P, {**ok, "stream": "yes"}, param="stream")
        check_error(s, 400, "POST", P, {**ok, "tools": {}}, param="tools")
        check_error(s, 400, "POST", P, {**ok, "tools": [{"type": "function"}]}, param="tools[0].function")
        check_error(s, 400, "POST", P, {**ok, "tools": [{"type": "function", "function": {"name": 3}}]},
                    param="tools[0].function.name")
        fn = {"type": "function", "function": {"name": "f"}}
        check_error(s, 400, "POST", P, {**ok, "tools": [fn], "tool_choice": "sometimes"}, param="tool_choice")
        check_error(s, 400, "POST", P, {**ok, "tools": [fn], "tool_choice": {"type": "function", "function": {"name": "g"}}},
                    param="tool_choice")
        check_error(s, 404, "POST", P, {**ok, "model": "gpt-4"}, param="model", code="model_not_found")
        check_error(s, 413, "POST", P, raw=json.dumps(chat("x" * 5000)), code="request_too_large")
        check_error(s, 400, "POST", P, chat("word " * 300), code="context_length_exceeded")
        check_error(s, 400, "POST", "/v1/completions", {"max_tokens": 3}, param="prompt")
        check_error(s, 400, "POST", "/v1/completions", {"prompt": ""}, param="prompt")
        check_error(s, 400, "POST", "/v1/completions", {"prompt": 7}, param="prompt")
        check_error(s, 404, "GET", "/v2/nothing", code="not_found")
        # The server is still fine after all that.
        st, _, r = s.request("POST", P, ok, KEY)
        assert st == 200 and r["usage"]["completion_tokens"] == 4
        metrics = s.request("GET", "/metrics")[2]
        assert 'qwen_requests_total{endpoint="/v1/chat/completions",status="400"}' in metrics
        assert 'qwen_requests_total{endpoint="/v1/chat/completions",status="401"}' in metrics
    # Bodies of 80 KB and more are over the --max-body above: the nesting limit gets a server of its own.
    with Server(binary, model, "--api-key", "test-key") as s:
        check_deep_bodies(s)


def check_deep_bodies(s):
    """Arrays nested 40,000 and 100,000 deep (80 and 200 KB bodies) in each JSON-valued field: a 400
    naming the field and the nesting limit, and the server answers as before. The bodies are
    written as text: Python's own json module would recurse on them."""
    P = "/v1/chat/completions"

    def body(args, params="{}"):
        return ('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": '
                '[{"type": "function", "function": {"name": "f", "arguments": %s}}]}], "max_tokens": 2, '
                '"tools": [{"type": "function", "function": {"name": "f", "parameters": %s}}]}' % (args, params))

    args = "messages[1].tool_calls[0].function.arguments"
    for depth in (40000, 100000):
        deep = "[" * depth + "]" * depth
        for raw, param in ((body(deep), args), (body(json.dumps(deep)), args),
                           (body("{}", '{"type": "object", "properties": %s}' % deep), "tools[0].function.parameters")):
            r = check_error(s, 400, "POST", P, raw=raw, param=param)
            assert "128 levels" in r["error"]["message"], r
            assert s.health()["status"] == "ok"
    st, _, r = s.request("POST", P, raw=body('{"a": [[1]]}'), headers=KEY)
    assert st == 200 and r["usage"]["completion_tokens"] == 2, (st, r)


def test_load(binary, model):
    """10 concurrent streaming clients x 3 requests: every answer complete and equal to the same
    request run alone (greedy), none lost or mixed up."""
    clients, per_client = 10, 3
    prompts = {(c, k): "Client %d asks question %d: what is %d plus %d?" % (c, k, c, k)
               for c in range(clients) for k in range(per_client)}
    lengths = {key: 8 + (key[0] * 3 + key[1]) % 13 for key in prompts}  # different lengths: slots finish at different steps
    with Server(binary, model, "--slots", "4", "--max-queue", "32") as s:
        alone = {}
        for key, p in prompts.items():
            st, _, r = s.request("POST", "/v1/chat/completions", chat(p, lengths[key]))
            assert st == 200
            alone[key] = r["choices"][0]["message"]["content"]
        got = {}
        errors = []

        def client(c):
            try:
                for k in range(per_client):
                    events = list(s.stream("/v1/chat/completions",
                                           {**chat(prompts[(c, k)], lengths[(c, k)]), "stream": True,
                                            "stream_options": {"include_usage": True}}))
                    text, finish, usage = stream_text(events)
                    assert finish == "length" and usage["completion_tokens"] == lengths[(c, k)]
                    got[(c, k)] = text
            except Exception as e:  # reported below, with the client's number
                errors.append("client %d: %r" % (c, e))

        start = time.monotonic()
        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(scaled(240))
        assert not any(t.is_alive() for t in threads), "clients still running after %.0f s" % scaled(240)
        assert not errors, errors
        assert len(got) == clients * per_client
        mismatched = [key for key in prompts if got[key] != alone[key]]
        assert not mismatched, [(k, got[k], alone[k]) for k in mismatched[:3]]
        print("load: %d streams in %.1f s" % (len(got), time.monotonic() - start))
        wait_until(lambda: "qwen_slots_busy 0" in s.request("GET", "/metrics")[2], 5, "idle slots")
        assert "qwen_queue_length 0" in s.request("GET", "/metrics")[2]


def open_stream(s, body):
    """A raw socket that has sent a (streaming or not) chat request."""
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=scaled(30))
    data = json.dumps(body).encode()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    return sock


def read_events(sock, n, seconds=30):
    """Reads until n `data:` events arrived (or the connection closed, or scaled(seconds) passed);
    returns the bytes read."""
    buf = b""
    deadline = time.monotonic() + scaled(seconds)
    while buf.count(b"data: ") < n and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


def test_disconnect(binary, model):
    """A client that disconnects mid-stream frees its slot at once."""
    with Server(binary, model, "--slots", "1", "--ctx", "256", "--max-tokens-limit", "1000000") as s:
        endless = {**chat("Go on forever.", 1000000), "stream": True}
        for _ in range(3):
            sock = open_stream(s, endless)
            assert read_events(sock, 5).count(b"data: ") >= 5
            assert s.health()["slots_busy"] == 1
            sock.close()
            wait_until(lambda: s.health()["slots_busy"] == 0, 5, "the slot to be freed")
        # The freed slot serves the next request.
        st, _, r = s.request("POST", "/v1/chat/completions", chat("hi", 4))
        assert st == 200 and r["usage"]["completion_tokens"] == 4


def test_disconnect_nonstream(binary, model):
    """A non-streaming request whose client leaves is cancelled: its slot, or its queue place,
    is free at once (nothing is ever written to it, so only its socket tells)."""
    with Server(binary, model, "--slots", "1", "--ctx", "256", "--max-tokens-limit", "1000000") as s:
        endless = chat("Go on forever.", 1000000)  # never ends by itself: ignore_eos, past the context
        for _ in range(3):
            sock = open_stream(s, endless)
            wait_until(lambda: s.health()["slots_busy"] == 1, 5, "the request to run")
            time.sleep(0.3)
            assert s.health()["slots_busy"] == 1  # still generating
            sock.close()
            wait_until(lambda: s.health()["slots_busy"] == 0, 5, "the slot to be freed")
        metrics = s.request("GET", "/metrics")[2]
        assert 'qwen_requests_total{endpoint="/v1/chat/completions",status="499"} 3' in metrics, metrics

        # Queued behind a running stream, a leaving client gives its place back before any slot frees.
        running = open_stream(s, {**endless, "stream": True})
        assert read_events(running, 3).count(b"data: ") >= 3
        queued = open_stream(s, endless)
        wait_until(lambda: s.health()["queue"] == 1, 5, "the request to queue")
        queued.close()
        wait_until(lambda: s.health()["queue"] == 0, 5, "the queue place to be given back")
        assert s.health()["slots_busy"] == 1
        running.close()
        wait_until(lambda: s.health()["slots_busy"] == 0, 5, "the slot to be freed")

        # A client that keeps its connection gets its whole answer.
        st, _, r = s.request("POST", "/v1/chat/completions", chat("hi", 40))
        assert st == 200 and r["usage"]["completion_tokens"] == 40 and r["choices"][0]["finish_reason"] == "length"


def test_queue(binary, model):
    """Beyond the slots and the queue: 503 with Retry-After; the queued request runs later."""
    with Server(binary, model, "--slots", "1", "--max-queue", "1", "--ctx", "256", "--max-tokens-limit", "1000000") as s:
        endless = {**chat("Go on forever.", 1000000), "stream": True}
        a = open_stream(s, endless)
        assert read_events(a, 3).count(b"data: ") >= 3
        b = open_stream(s, {**chat("Queued one.", 3), "stream": True})
        wait_until(lambda: s.health()["queue"] == 1, 5, "the second request to queue")
        st, hdrs, r = s.request("POST", "/v1/chat/completions", chat("Too many.", 3))
        assert st == 503 and hdrs.get("Retry-After") and r["error"]["code"] == "server_overloaded", (st, r)
        assert 'qwen_rejected_total 1' in s.request("GET", "/metrics")[2]
        a.close()  # frees the slot: the queued request runs to the end
        out = read_events(b, 100)
        assert b"[DONE]" in out and b'"finish_reason":"length"' in out, out[-300:]
        b.close()
        wait_until(lambda: s.health()["slots_busy"] == 0, 5, "an idle server")


def test_sigterm(binary, model):
    """SIGTERM: running streams finish completely, new requests are refused, exit code 0."""
    # The grace outlasts the streams however slow the machine, so that they end by themselves.
    grace_ms = int(scaled(120) * 1000)
    s = Server(binary, model, "--slots", "2", "--max-tokens-limit", "100000", "--shutdown-grace-ms", str(grace_ms))
    failed = True
    try:
        socks = [open_stream(s, {**chat("Stream %d" % i, 400), "stream": True}) for i in range(2)]
        for sock in socks:
            assert read_events(sock, 3).count(b"data: ") >= 3
        s.proc.send_signal(signal.SIGTERM)

        def refusing():
            try:
                return s.request("GET", "/health")[0] == 503
            except (ConnectionError, http.client.HTTPException, OSError):
                return True  # already closed: refused is fine too
        wait_until(refusing, 10, "the server to start draining")
        try:
            st, _, r = s.request("POST", "/v1/chat/completions", chat("late", 3))
            assert st == 503 and r["error"]["code"] == "server_shutting_down", (st, r)
        except (ConnectionError, http.client.HTTPException, OSError):
            pass
        for sock in socks:
            out = read_events(sock, 100000, 120)
            assert b"data: [DONE]" in out and out.endswith(b"0\r\n\r\n"), out[-200:]  # chunked end
            assert b'"finish_reason":"length"' in out
            sock.close()
        s.proc.wait(scaled(30))
        assert s.proc.returncode == 0, s.proc.returncode
        failed = False
    finally:
        s.stop()
        if failed:
            s.show_stderr()


if __name__ == "__main__":
    main({"api": test_api, "errors": test_errors, "load": test_load, "disconnect": test_disconnect,
          "disconnect_nonstream": test_disconnect_nonstream, "queue": test_queue, "sigterm": test_sigterm})
