// SPDX-License-Identifier: MIT
// Chat templates (tokenizer layer): renders the model's own Jinja `chat_template` byte-exact with
// Jinja2 (trim_blocks, lstrip_blocks, as HF does), with built-in formats as a fallback.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace slotlm::tok {

struct ChatMessage {
  std::string role;     // "system" | "user" | "assistant" (| "tool")
  std::string content;
};

struct ChatTemplateOptions {
  bool add_generation_prompt = true;  // append the assistant header
  std::string bos_token;              // template variable `bos_token`
  std::string eos_token;              // template variable `eos_token`
  std::string date_string;            // `date_string` (Llama-3.1); "" = template's own default
  // Time that `strftime_now(fmt)` (Llama-3.2's date header) formats, in seconds since the Unix
  // epoch, rendered as UTC; 0 = the current local time, as HF's `datetime.now()`.
  int64_t now_unix = 0;
  // Template variable `tools` as a JSON array of tool definitions; "" = none (HF `tools=None`).
  std::string tools_json;
};

// Renders `template_src` (Jinja subset used by Qwen2.5, Llama-3.x, DeepSeek-R1-Distill templates).
// Throws Error for a template it cannot render, naming the construct and suggesting --chat-template.
std::string render_chat_template(const std::string& template_src,
                                 std::span<const ChatMessage> messages,
                                 const ChatTemplateOptions& opt);

// Built-in template source by name ("chatml", "llama3", "qwen2.5", "deepseek-r1"); throws Error for an
// unknown name, listing the known ones.
const std::string& builtin_chat_template(const std::string& name);
// Names accepted by `builtin_chat_template`, in a fixed order.
const std::vector<std::string>& builtin_chat_template_names();

}  // namespace slotlm::tok
