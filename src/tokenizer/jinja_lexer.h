// SPDX-License-Identifier: MIT
// Lexer of the chat-template interpreter (tokenizer layer): splits Jinja2 source into text and tag
// tokens, applying Jinja2's whitespace control with trim_blocks and lstrip_blocks on, as HF does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace slotlm::tok::jinja {

enum class TokKind {
  kText,        // template data, already whitespace-controlled
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,        // identifier or keyword
  kString,      // string literal, escapes decoded
  kInt,
  kFloat,
  kOp,          // operator or punctuation: + - * / // % ** ~ == != < <= > >= = . , : | ( ) [ ] { }
  kEof,
};

struct Token {
  TokKind kind = TokKind::kEof;
  std::string text;  // kText/kName/kString/kOp contents
  int line = 1;
  int64_t i = 0;     // kInt
  double f = 0.0;    // kFloat
};

// Tokenizes `src` with Jinja2 3.x rules: newlines normalised to "\n", one trailing newline
// dropped (keep_trailing_newline=False), `{#...#}` comments removed, `-`/`+` modifiers honoured,
// trim_blocks and lstrip_blocks applied to block and comment tags. `{% raw %}` is kept as text.
// Throws Error "line N: ..." on an unclosed tag or a bad character. Ends with a kEof token.
std::vector<Token> lex_template(const std::string& src);

}  // namespace slotlm::tok::jinja
