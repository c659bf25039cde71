#!/usr/bin/env python3
"""Makes tests/tokenizer/goldens/chat.json: conversations rendered with the model's own Jinja
chat template the way Hugging Face's apply_chat_template renders it.

    python3 tests/tokenizer/make_chat_goldens.py [../shared/qwen2.5-0.5b-instruct] [OUT.json]

Needs jinja2 (Debian: python3-jinja2). Hugging Face uses
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True), a `tojson` filter that is
json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False), a
`raise_exception` global, and the variables messages, tools, add_generation_prompt,
bos_token and eos_token. The token ids of each text are added by make_goldens.js.
"""
import json
import os
import sys

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../shared/qwen2.5-0.5b-instruct")
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "goldens/chat.json")


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


with open(os.path.join(MODEL_DIR, "tokenizer_config.json"), encoding="utf-8") as f:
    config = json.load(f)
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
template = env.from_string(config["chat_template"])

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "搜索网页。Returns \"results\" with\ttabs,\nnewlines, a backslash \\ and a control \u0001 char; emoji 🔍",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "max_results": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                "threshold": {"type": "number", "default": 0.5, "minimum": 1e-7, "maximum": 1e16},
                "scale": {"type": "number", "default": 1000000000000000.0, "step": 2.5e-05, "neg": -0.0},
                "safe": {"type": "boolean", "default": True},
                "filters": {"type": "array", "items": {"type": "string"}, "default": []},
                "extra": {"type": "object", "default": {}, "nothing": None},
            },
            "required": ["query"],
        },
    },
}
PLAIN_TOOL = {"name": "calculator", "description": "Evaluate an arithmetic expression.",
              "parameters": {"type": "object", "properties": {"expr": {"type": "string"}}}}

SYS = {"role": "system", "content": "You are a concise assistant."}
U1 = {"role": "user", "content": "Hello!"}
A1 = {"role": "assistant", "content": "Hi! How can I help you today?"}
U2 = {"role": "user", "content": "What's the weather like in Paris?"}


def call(name, args, wrap=True):
    f = {"name": name, "arguments": args}
    return {"type": "function", "function": f} if wrap else f


CONVERSATIONS = [
    ("single_user", [U1], None),
    ("single_user_no_gen", [U1], None, False),
    ("custom_system", [SYS, U1], None),
    ("empty_system", [{"role": "system", "content": ""}, U1], None),
    ("multi_turn", [U1, A1, U2], None),
    ("multi_turn_system", [SYS, U1, A1, U2, {"role": "assistant", "content": "It is sunny."}], None, False),
    ("second_system_midway", [SYS, U1, {"role": "system", "content": "Now answer in French."}, U2], None),
    ("unicode_content", [{"role": "user", "content": "你好！こんにちは 안녕 😀👨‍👩‍👧 e\u0301"}], None),
    ("whitespace_content", [{"role": "user", "content": "  leading\n\n\ttabs\r\nand trailing  \n"}], None),
    ("empty_user", [{"role": "user", "content": ""}], None),
    ("special_text_in_content", [{"role": "user", "content": "I typed <|im_end|> and <|im_start|>system here."}], None),
    ("tools_default_system", [U2], [WEATHER]),
    ("tools_custom_system", [SYS, U2], [WEATHER, SEARCH]),
    ("tools_empty_system", [{"role": "system", "content": ""}, U2], [WEATHER]),
    ("tools_plain_definition", [{"role": "user", "content": "What is 2+2?"}], [PLAIN_TOOL]),
    ("tools_empty_list", [U1], []),
    ("tool_call_and_result", [U2, {"role": "assistant", "content": "", "tool_calls": [
        call("get_current_weather", {"location": "Paris, France", "unit": "celsius"})]},
        {"role": "tool", "content": "{\"temperature\": 22, \"condition\": \"sunny\"}"}], [WEATHER]),
    ("tool_call_with_content", [U2, {"role": "assistant", "content": "Let me check.", "tool_calls": [
        call("get_current_weather", {"location": "Paris"})]}], [WEATHER], False),
    ("tool_call_unwrapped", [U2, {"role": "assistant", "content": "", "tool_calls": [
        call("get_current_weather", {"location": "Paris"}, wrap=False)]}], [WEATHER], False),
    ("parallel_tool_calls", [{"role": "user", "content": "Weather in Paris and 东京?"}, {"role": "assistant", "content": "",
        "tool_calls": [call("get_current_weather", {"location": "Paris"}),
                       call("get_current_weather", {"location": "東京", "unit": "celsius"})]},
        {"role": "tool", "content": "18°C"}, {"role": "tool", "content": "25°C"},
        {"role": "assistant", "content": "Paris: 18°C, 東京: 25°C."}, {"role": "user", "content": "Thanks"}], [WEATHER]),
    ("tool_call_complex_args", [U1, {"role": "assistant", "content": "", "tool_calls": [call("search", {
        "query": "a \"quoted\" term\nwith newline", "max_results": 3, "threshold": 0.75, "safe": False,
        "filters": ["news", "blogs"], "extra": {"lang": "zh", "range": [1, 2.5, None]}})]}], [SEARCH], False),
    ("tool_call_string_args", [U1, {"role": "assistant", "content": "", "tool_calls": [
        call("search", "{\"query\": \"raw string\"}")]}], [SEARCH], False),
    ("tool_call_empty_args", [U1, {"role": "assistant", "content": "", "tool_calls": [call("calculator", {})]}],
     [PLAIN_TOOL]),
    ("tool_result_first", [{"role": "tool", "content": "orphan result"}, U1], None),
    ("tool_results_without_tools", [U2, {"role": "assistant", "content": "", "tool_calls": [
        call("get_current_weather", {"location": "Paris"})]}, {"role": "tool", "content": "rainy"}], None),
    ("system_only", [SYS], None),
    ("unknown_role_skipped", [U1, {"role": "developer", "content": "ignored by the template"}, A1], None),
    ("long_conversation", [SYS] + [m for i in range(6) for m in (
        {"role": "user", "content": f"Question {i}: what is {i} + {i}?"},
        {"role": "assistant", "content": f"{i} + {i} = {2 * i}."})] + [U1], None),
]

out = []
for conv in CONVERSATIONS:
    name, messages, tools = conv[0], conv[1], conv[2]
    add_generation_prompt = conv[3] if len(conv) > 3 else True
    text = template.render(messages=messages, tools=tools, add_generation_prompt=add_generation_prompt,
                           bos_token=None, eos_token="<|im_end|>")
    out.append({"name": name, "messages": messages, "tools": tools,
                "add_generation_prompt": add_generation_prompt, "text": text})
with open(OUT, "w", encoding="utf-8") as f:
    f.write("[\n" + ",\n".join("  " + json.dumps(e, ensure_ascii=False) for e in out) + "\n]\n")
print(f"{len(out)} conversations -> {OUT}")
