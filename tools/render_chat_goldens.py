#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Renders chat-template goldens for tests/tokenizer/test_chat_template.cpp with Jinja2.

The environment matches HF transformers' apply_chat_template: ImmutableSandboxedEnvironment with
trim_blocks=True, lstrip_blocks=True and the loopcontrols extension, HF's `tojson` override and the
globals `raise_exception` and `strftime_now`. Templates come from ../shared/tokenizers (read, never
copied); the DeepSeek-R1-Distill template is written below (from memory of the official
tokenizer_config.json text). Output: tests/data/chat/<name>.json; the first line records the
jinja2 and Python versions.

Run with Debian's Python (python3-jinja2):  /usr/bin/python3 tools/render_chat_goldens.py
"""
import datetime
import json
import os
import platform
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
OUT_DIR = os.path.join(ROOT, "tests", "data", "chat")

# DeepSeek-R1-Distill-{Qwen,Llama} chat_template (the version whose generation prompt ends in
# "<think>\n"). Must stay identical to kDeepseekR1 in src/tokenizer/chat_template.cpp.
DEEPSEEK_R1 = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}"
    "{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}"
    "{{bos_token}}{{ns.system_prompt}}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}"
    "{{'<｜User｜>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is none %}"
    "{%- set ns.is_tool = false -%}{%- for tool in message['tool_calls']%}"
    "{%- if not ns.is_first %}"
    "{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>'"
    " + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments']"
    " + '\\n' + '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}"
    "{%- else %}"
    "{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name']"
    " + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```'"
    " + '<｜tool▁call▁end｜>'}}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}"
    "{%- endif %}{%- endfor %}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is not none %}"
    "{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}"
    "{%- set ns.is_tool = false -%}"
    "{%- else %}{% set content = message['content'] %}"
    "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}"
    "{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}"
    "{%- if ns.is_output_first %}"
    "{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}"
    "{%- set ns.is_output_first = false %}"
    "{%- else %}{{'\\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}"
    "{%- endif %}{%- endif %}"
    "{%- endfor -%}"
    "{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}"
    "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"
)

NOW_UNIX = 1764151200  # 2025-11-26 10:00:00 UTC, for strftime_now

TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Météo actuelle pour une ville — 天气",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "default": 1}},
            "required": ["city"],
        },
    },
}]


def sys_msg(text):
    return {"role": "system", "content": text}


def user(text):
    return {"role": "user", "content": text}


def asst(text):
    return {"role": "assistant", "content": text}


# (case name, messages, add_generation_prompt)
CONVERSATIONS = [
    ("user_gen", [user("Hello!")], True),
    ("user_nogen", [user("Hello!")], False),
    ("system_user_gen", [sys_msg("You are a terse assistant."), user("What is 2+2?")], True),
    ("multi_turn_system", [sys_msg("Be kind."), user("Hi"), asst("Hello! How can I help?"),
                           user("Tell me a joke."), asst("Why did the chicken cross the road?"),
                           user("Why?")], True),
    ("multi_turn_no_system_nogen", [user("first"), asst("second"), user("third"),
                                    asst("fourth")], False),
    ("unicode", [sys_msg("Réponds en français. 你好"), user("Привет 👋🏽 — ¿qué tal? 日本語 ✓"),
                 asst("مرحبا 🦙"), user("Cửa Việt, Führer, ½")], True),
    ("spaces", [sys_msg("  padded system \n"), user("   leading and trailing   "),
                asst("\n\nanswer\n\n"), user("\t tab\u3000and ideographic space\u3000 \xa0")], True),
    ("think", [user("Solve 1+1."), asst("<think>\n1+1 is 2.\n</think>\n\nThe answer is 2."),
               user("And 2+2?")], True),
    ("empty_content", [user("")], True),
    ("template_like_text", [user("{{ not a tag }} {% if %} {# no #} '\" \\ \\n")], True),
    ("newlines_only", [sys_msg("\n"), user("line1\nline2\n\nline4")], False),
    ("tool_results", [user("Weather in Paris?"), asst("Let me check."),
                      {"role": "tool", "content": "{\"temp_c\": 21, \"sky\": \"clear\"}"},
                      {"role": "tool", "content": "second result"}], True),
]

BUILTIN_CASES = {"user_gen", "user_nogen", "system_user_gen", "multi_turn_system",
                 "multi_turn_no_system_nogen", "unicode", "spaces", "think", "empty_content",
                 "template_like_text", "newlines_only"}


def make_env(now_unix):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols])

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        if now_unix:
            return datetime.datetime.fromtimestamp(now_unix, tz=datetime.timezone.utc).strftime(fmt)
        return datetime.datetime.now().strftime(fmt)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(source, messages, opts):
    env = make_env(opts.get("now_unix", 0))
    kwargs = dict(messages=messages, add_generation_prompt=opts["add_generation_prompt"],
                  bos_token=opts["bos_token"], eos_token=opts["eos_token"],
                  tools=json.loads(opts["tools_json"]) if opts.get("tools_json") else None)
    if opts.get("date_string"):
        kwargs["date_string"] = opts["date_string"]
    try:
        return {"expected": env.from_string(source).render(**kwargs)}
    except jinja2.exceptions.TemplateError as e:
        return {"expected_error": f"{type(e).__name__}: {e}"}


def build(name, source, shared_rel, bos, eos, extra_opts):
    cases = []
    for case, messages, gen in CONVERSATIONS:
        for suffix, extra in extra_opts:
            opts = {"add_generation_prompt": gen, "bos_token": bos, "eos_token": eos, **extra}
            c = {"name": case + suffix, "messages": messages, "options": opts,
                 "builtin": case in BUILTIN_CASES and not extra.get("tools_json")}
            c.update(render(source, messages, opts))
            cases.append(c)
    # Error cases: no messages at all (templates index messages[0]).
    opts = {"add_generation_prompt": True, "bos_token": bos, "eos_token": eos}
    c = {"name": "no_messages", "messages": [], "options": opts, "builtin": False}
    c.update(render(source, [], opts))
    cases.append(c)
    doc = {"template": name, "template_path": shared_rel, "cases": cases}
    if shared_rel is None:
        doc["template_source"] = source
    return doc


def write(name, doc):
    head = {"jinja2_version": jinja2.__version__, "python": platform.python_version(),
            "generator": "tools/render_chat_goldens.py"}
    body = json.dumps(doc, ensure_ascii=False, indent=1)
    text = json.dumps(head, ensure_ascii=False)[:-1] + ",\n" + body[2:] + "\n"
    path = os.path.join(OUT_DIR, name + ".json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    n_err = sum("expected_error" in c for c in doc["cases"])
    print(f"{path}: {len(doc['cases'])} cases ({n_err} expect an error)")


# Small templates exercising one construct each, rendered with messages = the "multi_turn_system"
# conversation, add_generation_prompt=True, bos_token="<s>".
CONSTRUCTS = [
    ("slice_and_index", "{{ messages[1:] | length }} {{ messages[-1].content }} {{ 'abcdef'[1:4] }}"
     " {{ 'abcdef'[::-2] }} {{ [1,2,3,4][:-1] }} {{ 'héllo'[1] }}"),
    ("loop_vars", "{% for m in messages %}{{ loop.index0 }}{{ loop.index }}{{ loop.revindex }}"
     "{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}"),
    ("loop_else_filter", "{% for m in messages if m.role == 'user' %}{{ m.content }};{% else %}none"
     "{% endfor %}|{% for x in [] %}x{% else %}empty{% endfor %}"),
    ("loop_cycle_prev", "{% for x in 'abc' %}{{ loop.cycle('+', '-') }}{{ loop.previtem }}"
     "{{ loop.nextitem }}{% endfor %}"),
    ("break_continue", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}"
     "{% if i > 4 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
    ("scoping", "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = i * 10 %}{{ x }}{% endfor %}"
     "{{ x }}{% if true %}{% set y = 5 %}{% endif %}{{ y }}"),
    ("namespace", "{% set ns = namespace(n=0, s='') %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
     "{% set ns.s = ns.s ~ m.role[0] %}{% endfor %}{{ ns.n }} {{ ns.s }}"),
    ("string_methods", "{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ ' a '.lstrip() }}|"
     "{{ ' a '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|"
     "{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}|{{ 'Ab'.upper() }}{{ 'Ab'.lower() }}|"
     "{{ 'hello world'.title() }}|{{ 'hELLO'.capitalize() }}|{{ 'aaa'.replace('a', 'b', 2) }}|"
     "{{ 'abcabc'.find('c') }}{{ 'abc'.find('z') }}|{{ '-'.join(['a', 'b']) }}"),
    ("filters", "{{ '  x  ' | trim }}|{{ [3, 1, 2] | sort }}|{{ [1, 2] | first }}{{ [1, 2] | last }}|"
     "{{ 'abc' | length }}|{{ ['a', 'b'] | join(', ') }}|{{ none | default('d') }}{{ undefined_var | default('u') }}|"
     "{{ '' | default('e', true) }}|{{ 'ab' | upper }}|{{ 'Hello World' | lower }}|{{ 'a-b' | replace('-', '+') }}|"
     "{{ [1, 1, 2] | unique | list }}|{{ 'x' | string }}{{ 3 | string }}|{{ '42' | int + 1 }}|{{ -3 | abs }}|"
     "{{ [1, 2, 3] | reverse | list }}|{{ 'abc' | reverse }}|{{ messages | map(attribute='role') | join(',') }}|"
     "{{ messages | selectattr('role', 'equalto', 'user') | list | length }}|"
     "{{ messages | rejectattr('role', 'equalto', 'user') | map(attribute='role') | list }}|"
     "{{ [1, 2, 3, 4] | select('even') | list }}{{ [1, 2, 3] | reject('odd') | list }}|"
     "{{ {'b': 1, 'a': 2} | dictsort }}|{{ {'a': 1} | items | list }}|{{ [1, 2, 3] | sum }}"
     "{{ [4, 2, 9] | max }}{{ [4, 2, 9] | min }}|{{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}"),
    ("tojson", "{{ messages[0] | tojson }}|{{ {'a': [1, 2.5, none, true], 'b': 'é\"\\n'} | tojson }}|"
     "{{ {'a': {'b': []}, 'c': {}} | tojson(indent=2) }}|{{ 'x' | tojson }}|"
     "{{ {'é': 'ü 🦙 \\x7f\\x01'} | tojson(ensure_ascii=true) }}|{{ {'b': 1, 'a': [1, 2]} | tojson(sort_keys=true) }}|"
     "{{ {'a': [1, 2]} | tojson(separators=(',', ':')) }}|{{ [1.5e300, -2, 0.1] | tojson(indent=0) }}"),
    ("tests", "{{ x is defined }}{{ messages is defined }}{{ none is none }}{{ 'a' is string }}"
     "{{ 1 is number }}{{ 1 is integer }}{{ 1.5 is float }}{{ {} is mapping }}{{ [] is iterable }}"
     "{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 'a' is in 'abc' }}{{ x is not defined }}"
     "{{ 1 is sameas 1 }}{{ true is boolean }}{{ 'abc' is lower }}"),
    ("operators", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }}"
     " {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1.5 + 1 }} {{ 'a' ~ 1 ~ none }} {{ 'ab' * 2 }} {{ [1] + [2] }}"
     " {{ 1 < 2 < 3 }} {{ 3 > 2 > 5 }} {{ 'a' in 'cat' }} {{ 'z' not in ['a'] }} {{ not 1 == 2 }}"
     " {{ 0 or 'x' }} {{ 1 and 'y' }} {{ none or [] }} {{ 'yes' if 1 else 'no' }} {{ 'q' if 0 }}|"
     " {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.0 }} {{ 2.5e-7 }} {{ 10 / 4 }} {{ -0.0 }} {{ 1 == 1.0 }}"),
    ("literals", "{{ [1, 'a', none, true, 1.5] }} {{ {'k': 'v', 'n': [1]} }} {{ (1, 2) }} {{ (1,) }}"
     " {{ \"it's\" }} {{ 'say \"hi\"' }} {{ 'tab\\there' }} {{ 'a' 'b' }} {{ '\\u00e9\\x41' }}"),
    ("whitespace_control", "a  \n  {% if true %}\n    b\n  {% endif %}\n  c {{- ' d ' -}} e\n"
     "{%- if true -%}   f   {%- endif -%}\n  g {# comment #}\n  {# own line #}\nh\n"
     "  {%+ if true %}i{% endif +%}\nj {{ 'k' }}  {% if true %}l{% endif %}\n"),
    ("raw_block", "{% raw %}{{ not rendered }} {% if %}{% endraw %}|\n  {% raw -%}  x  {%- endraw %}\ny"),
    ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}"
     "{{ greet('Ann') }} {{ greet('Bo', '?') }} {{ greet(name='Cy', punct='.') }}"),
    ("set_block_and_unpack", "{% set a, b = [1, 2] %}{{ b }}{{ a }}{% set t %}T{{ 1 + 1 }}{% endset %}{{ t }}"
     "{% for k, v in {'x': 1, 'y': 2}.items() %}{{ k }}={{ v }};{% endfor %}"),
    ("dict_access", "{% set d = {'a': 1, 'items': 2} %}{{ d.a }}{{ d['a'] }}{{ d.get('z', 'none') }}"
     "{{ d.missing }}{{ d['items'] }}{{ 'a' in d }}{{ d | length }}{{ d.keys() | list }}"),
    ("none_and_undefined", "[{{ none }}][{{ undefined_thing }}][{{ messages[99] }}][{{ messages[0].nope }}]"
     "{{ undefined_thing | length }}{% for x in undefined_thing %}x{% endfor %}"),
    ("lstrip_at_start", "   {% if true %}A{% endif %}\n\t{# c #}B\n {{ 'C' }} \n  {%- if true %} D{% endif %}"),
    ("crlf_and_trailing_newline", "a\r\n{% if true %}\r\nb\rc{% endif %}\r\n\n"),
    ("comment_controls", "x  {#- strip left #}  y  {# keep -#}  z\n  {#+ plus #}  w"),
    ("tag_at_end", "{% for m in messages %}{{ m.role }}{% endfor %}"),
    ("nested_loops_and_loop_scope", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }}"
     "{% endfor %}{{ loop.index }};{% endfor %}"),
    ("filter_precedence", "{{ 'a' + ' b ' | trim + 'c' }}|{{ -3 | abs }}|{{ not none is none }}|"
     "{{ messages | length > 2 }}|{{ [1, 2] | length == 2 and 'ok' }}|{{ 'ab' ~ 'cd' | upper }}"),
    ("conditional_chain", "{{ 'a' if false else 'b' if false else 'c' }}{{ ('x' if true) ~ '!' }}"),
    ("attribute_vs_item", "{{ messages[0]['role'] }}{{ messages[0].role }}{{ (messages | first).content }}"
     "{{ messages.0.role }}{{ {'a': {'b': 'deep'}}.a.b }}"),
    ("numbers_in_strings", "{{ 3 ~ '' }}{{ 2.0 ~ '' }}{{ 1e3 }}{{ 1_000 }}{{ 0.5 * 2 }}{{ 10 % 4.5 }}"
     "{{ 7.5 // 2 }}{{ (3).__class__ is defined }}"),
    ("unicode_whitespace_control", "a\u3000{%- if true -%}\u3000\xa0b{%- endif -%}\u2003\n{{ 'c' -}}\u3000 d"),
    ("split_last_think", "{% set c = '<think>a</think>b</think>  tail' %}{{ c.split('</think>')[-1] }}|"
     "{{ c.split('</think>')[0] }}|{{ c.split('</think>') | length }}|{{ 'x'.split('</think>') }}"),
]


def build_constructs():
    messages = CONVERSATIONS[3][1]
    opts = {"add_generation_prompt": True, "bos_token": "<s>", "eos_token": "</s>"}
    cases = []
    for name, source in CONSTRUCTS:
        c = {"name": name, "template_source": source, "messages": messages, "options": opts}
        c.update(render(source, messages, opts))
        cases.append(c)
    return {"template": "constructs", "template_path": None, "cases": cases}


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    tools = json.dumps(TOOLS, ensure_ascii=False)

    def shared(rel):
        path = os.path.join(SHARED, rel)
        if not os.path.exists(path):
            sys.exit(f"missing {path}")
        with open(path, encoding="utf-8") as f:
            return f.read()

    qwen_rel = "tokenizers/qwen2.5/chat_template.jinja"
    write("qwen2.5", build("qwen2.5", shared(qwen_rel), qwen_rel, "", "<|im_end|>",
                           [("", {}), ("+tools", {"tools_json": tools})]))
    l31_rel = "tokenizers/llama3/chat_template.llama-3.1-8b-instruct.jinja"
    write("llama-3.1", build("llama-3.1", shared(l31_rel), l31_rel, "<|begin_of_text|>",
                             "<|eot_id|>",
                             [("", {}), ("+date", {"date_string": "05 Mar 2025"}),
                              ("+tools", {"tools_json": tools})]))
    l32_rel = "tokenizers/llama3/chat_template.llama-3.2-3b-instruct.jinja"
    write("llama-3.2", build("llama-3.2", shared(l32_rel), l32_rel, "<|begin_of_text|>",
                             "<|eot_id|>",
                             [("", {"now_unix": NOW_UNIX}), ("+date", {"date_string": "05 Mar 2025"}),
                              ("+tools", {"tools_json": tools, "now_unix": NOW_UNIX})]))
    write("deepseek-r1", build("deepseek-r1", DEEPSEEK_R1, None, "<｜begin▁of▁sentence｜>",
                               "<｜end▁of▁sentence｜>", [("", {})]))
    write("constructs", build_constructs())


if __name__ == "__main__":
    main()
