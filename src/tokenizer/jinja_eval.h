// SPDX-License-Identifier: MIT
// Evaluator of the chat-template interpreter (tokenizer layer): renders a parsed Template with
// Jinja2's scoping (a `for` body gets a fresh scope per iteration; `if` does not open one).
#pragma once

#include <string>

#include "core/error.h"
#include "tokenizer/jinja_parser.h"
#include "tokenizer/jinja_value.h"

namespace slotlm::tok::jinja {

// Thrown by the template's own `raise_exception(msg)`; what() is the template's message.
class TemplateRaised : public Error {
 public:
  explicit TemplateRaised(const std::string& msg) : Error(msg) {}
};

// Renders `t` with `globals` (name -> value, functions included). Runtime errors are Error
// "line N: ..."; `raise_exception` throws TemplateRaised. Loops are capped at `max_steps`
// iterations in total so that no template can hang the caller.
std::string render_template(const Template& t, const Dict& globals, int64_t max_steps = 1'000'000);

}  // namespace slotlm::tok::jinja
