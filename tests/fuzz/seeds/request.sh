#!/usr/bin/env bash
# Writes fuzz_request seeds: one byte choosing the endpoint (0: chat, 1: completion), then a
# request body. Valid bodies cover every field the server reads; hostile ones nest deeply, hold
# numbers past a double's range, NUL bytes, bad UTF-8 and more entries than the limits allow.
set -euo pipefail
out=$1
/usr/bin/python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
CHAT, COMPLETION = 0, 1

def write(name, endpoint, body):
    data = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([endpoint]) + data)

user = {"role": "user", "content": "What is the weather in Paris?"}
tool = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer",
        "minimum": 1, "maximum": 7}}, "required": ["city"]}}}
call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}
answer = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"

write("chat-min", CHAT, {"messages": [user]})
write("chat-full", CHAT, {"model": "qwen2.5", "messages": [{"role": "system", "content": "Be brief."}, user],
      "max_tokens": 64, "temperature": 0.7, "top_p": 0.9, "top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1,
      "presence_penalty": 0.5, "frequency_penalty": -0.5, "seed": -1, "stop": ["\n\n", "END"], "n": 1,
      "stream": True, "stream_options": {"include_usage": True}, "ignore_eos": False})
write("chat-parts", CHAT, {"messages": [{"role": "developer", "content": [{"type": "text", "text": "Hi "},
      {"type": "text", "text": "there"}]}, {"role": "user", "content": "日本語 ✓ <|im_end|>"}],
      "max_completion_tokens": 8, "stop": "x", "seed": 18446744073709551615})
write("chat-tools", CHAT, {"messages": [user], "tools": [tool], "tool_choice": "auto", "parallel_tool_calls": True})
write("chat-tool-named", CHAT, {"messages": [user], "tools": [tool],
      "tool_choice": {"type": "function", "function": {"name": "get_weather"}}})
write("chat-tool-none", CHAT, {"messages": [user], "tools": [tool], "tool_choice": "none"})
write("chat-tool-turns", CHAT, {"messages": [user, {"role": "assistant", "content": None, "tool_calls": [call,
      {"type": "function", "function": {"name": "get_time", "arguments": {"tz": "CET", "n": [1, 2.5, None, True]}}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 18}"}, {"role": "tool", "content": "12:00"},
      {"role": "user", "content": answer}], "tools": [tool], "tool_choice": "required"})
write("chat-answer", CHAT, {"messages": [{"role": "user", "content": "Text " + answer + " more\n" + answer}],
      "tools": [tool]})
write("completion-min", COMPLETION, {"prompt": "The capital of France is"})
write("completion-full", COMPLETION, {"model": "m", "prompt": ["<|im_start|>user\nHi<|im_end|>\n"], "max_tokens": 16,
      "temperature": 0, "stream": True, "stop": ["."], "seed": 7})

deep = "[" * 10000 + "]" * 10000
write("deep-arguments", CHAT, '{"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", '
      '"arguments": ' + deep + '}}]}]}')
write("deep-arguments-string", CHAT, {"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f",
      "arguments": "{\"a\": " + "[" * 200 + "]" * 200 + "}"}}]}]})
write("deep-parameters", CHAT, '{"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", '
      '"function": {"name": "f", "parameters": {"a": ' + deep + '}}}]}')
write("deep-unclosed", CHAT, "{" + '"a":[' * 5000)
write("deep-ok", CHAT, {"messages": [user], "tools": [{"type": "function", "function": {"name": "f",
      "parameters": json.loads('{"a": ' + "[" * 100 + "]" * 100 + "}")}}]})
write("number-overflow", CHAT, '{"messages": [{"role": "user", "content": "x"}], "max_tokens": 1e309}')
write("number-digits", CHAT, '{"messages": [{"role": "user", "content": "x"}], "seed": ' + "9" * 400 + '}')
write("number-in-arguments", CHAT, '{"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", '
      '"arguments": {"x": -1e400}}}]}]}')
write("number-in-arguments-string", CHAT, {"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f",
      "arguments": "{\"x\": 1e309, \"y\": NaN, \"z\": -Infinity}"}}]}]})
write("number-huge-integers", CHAT, '{"messages": [{"role": "user", "content": "x"}], "max_tokens": 1e30, '
      '"seed": 1180591620717411303424, "top_k": -1e20}')
write("nul-role", CHAT, '{"messages": [{"role": "us\\u0000er", "content": "a\\u0000b"}]}')
write("nul-tool-name", CHAT, '{"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", '
      '"function": {"name": "f\\u0000g"}}], "tool_choice": {"type": "function", "function": {"name": "f\\u0000"}}}')
write("bad-utf8", CHAT, b'{"messages": [{"role": "user", "content": "\xff\xfe\xc3"}]}')
write("lone-surrogate", CHAT, '{"messages": [{"role": "user", "content": "\\ud800 \\udfff"}]}')
write("too-many-messages", CHAT, {"messages": [{"role": "user", "content": ""}] * 1100})
write("too-many-tools", CHAT, {"messages": [user], "tools": [tool] * 200})
write("huge-key", CHAT, '{"messages": [{"role": "user", "content": "x"}], "' + "k" * 20000 + '": 1e999}')
PY
