// SPDX-License-Identifier: MIT
// Chat templates: runs the Jinja interpreter (jinja_*.h) with the variables HF transformers'
// `apply_chat_template` passes (messages, tools, add_generation_prompt, bos/eos_token) plus HF's
// template globals `raise_exception` and `strftime_now`.
#include "tokenizer/chat_template.h"

#include <ctime>

#include "core/error.h"
#include "tokenizer/jinja_eval.h"
#include "tokenizer/jinja_lexer.h"
#include "tokenizer/jinja_parser.h"

namespace slotlm::tok {
namespace {

using jinja::CallArgs;
using jinja::Value;

// Plain ChatML: no default system prompt.
const char* const kChatml = R"JINJA({%- for message in messages %}
    {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)JINJA";

// Qwen2.5-Instruct's format for system/user/assistant turns (no tool calls): ChatML with Qwen's
// default system prompt when the conversation has none.
const char* const kQwen25 = R"JINJA({%- if messages[0].role == 'system' %}
    {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
{%- else %}
    {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if not (loop.first and message.role == 'system') %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)JINJA";

// Llama-3.1-Instruct's format without tools: system header with the knowledge cutoff and
// `date_string` (default "26 Jul 2024"), contents trimmed.
const char* const kLlama3 = R"JINJA({{- bos_token }}
{%- if date_string is not defined %}
    {%- set date_string = '26 Jul 2024' %}
{%- endif %}
{%- if messages[0].role == 'system' %}
    {%- set system_message = messages[0].content | trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = '' %}
{%- endif %}
{{- '<|start_header_id|>system<|end_header_id|>\n\n' }}
{{- 'Cutting Knowledge Date: December 2023\nToday Date: ' + date_string + '\n\n' }}
{{- system_message + '<|eot_id|>' }}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message.role + '<|end_header_id|>\n\n' + message.content | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
)JINJA";

// DeepSeek-R1-Distill (Qwen/Llama) tokenizer_config.json `chat_template`, as published by
// deepseek-ai (written here from memory of the official text; see tests/data/chat/deepseek-r1.json).
const char* const kDeepseekR1 =
    R"JINJA({% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' + '\n' + tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}{%- else %}{{'\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' + '\n' + tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}{%- else %}{{'\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\n'}}{% endif %})JINJA";

const std::vector<std::pair<std::string, std::string>>& builtins() {
  static const std::vector<std::pair<std::string, std::string>> kAll = {
      {"chatml", kChatml}, {"llama3", kLlama3}, {"qwen2.5", kQwen25}, {"deepseek-r1", kDeepseekR1}};
  return kAll;
}

std::string known_names() {
  std::string s;
  for (const auto& [name, src] : builtins()) s += (s.empty() ? "" : ", ") + name;
  return s;
}

// Error messages are one line: newlines from template text become "\n".
std::string one_line(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c != '\r') {
      out += c;
    }
  }
  return out;
}

// HF's `strftime_now(fmt)`: datetime.now().strftime(fmt); `now_unix` != 0 pins the time (UTC).
std::string strftime_now(const std::string& fmt, int64_t now_unix) {
  const std::time_t t = now_unix != 0 ? static_cast<std::time_t>(now_unix) : std::time(nullptr);
  std::tm tm{};
  if (now_unix != 0) {
    gmtime_r(&t, &tm);
  } else {
    localtime_r(&t, &tm);
  }
  char buf[256];
  const size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
  if (n == 0 && !fmt.empty()) fail("strftime_now: cannot format '", fmt, "'");
  return std::string(buf, n);
}

jinja::Dict make_globals(std::span<const ChatMessage> messages, const ChatTemplateOptions& opt) {
  jinja::List msgs;
  for (const ChatMessage& m : messages)
    msgs.push_back(Value::make_dict({{"role", Value::string(m.role)},
                                     {"content", Value::string(m.content)}}));
  jinja::Dict g;
  g.emplace_back("messages", Value::make_list(std::move(msgs)));
  g.emplace_back("tools", opt.tools_json.empty() ? Value::none()
                                                 : jinja::from_json_text(opt.tools_json));
  g.emplace_back("add_generation_prompt", Value::boolean(opt.add_generation_prompt));
  g.emplace_back("bos_token", Value::string(opt.bos_token));
  g.emplace_back("eos_token", Value::string(opt.eos_token));
  if (!opt.date_string.empty()) g.emplace_back("date_string", Value::string(opt.date_string));
  g.emplace_back("raise_exception", Value::function("raise_exception", [](CallArgs& a) -> Value {
    throw jinja::TemplateRaised(jinja::to_str(a.get(0, "message")));
  }));
  const int64_t now = opt.now_unix;
  g.emplace_back("strftime_now", Value::function("strftime_now", [now](CallArgs& a) {
    const Value fmt = a.get(0, "format");
    if (!fmt.is_string()) fail("strftime_now() expects a format string");
    return Value::string(strftime_now(fmt.s, now));
  }));
  return g;
}

}  // namespace

std::string render_chat_template(const std::string& template_src,
                                 std::span<const ChatMessage> messages,
                                 const ChatTemplateOptions& opt) {
  try {
    const jinja::Template t = jinja::parse_template(jinja::lex_template(template_src));
    return jinja::render_template(t, make_globals(messages, opt));
  } catch (const jinja::TemplateRaised& e) {
    fail("chat template raised an error: ", one_line(e.what()));
  } catch (const Error& e) {
    fail("chat template: ", one_line(e.what()),
         " (use --chat-template NAME to override the model's template; built-in: ",
         known_names(), ")");
  }
}

const std::string& builtin_chat_template(const std::string& name) {
  for (const auto& [n, src] : builtins())
    if (n == name) return src;
  fail("unknown chat template '", name, "' (built-in: ", known_names(), ")");
}

const std::vector<std::string>& builtin_chat_template_names() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> v;
    for (const auto& [n, src] : builtins()) v.push_back(n);
    return v;
  }();
  return kNames;
}

}  // namespace slotlm::tok
