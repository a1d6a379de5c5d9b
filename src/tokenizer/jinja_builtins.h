// SPDX-License-Identifier: MIT
// Built-in filters, tests and methods of the chat-template interpreter (tokenizer layer), with the
// behaviour of Jinja2 3.1 and Python str/dict methods. Unknown names are an Error naming them.
#pragma once

#include <string>

#include "tokenizer/jinja_value.h"

namespace slotlm::tok::jinja {

// Applies filter `name`; `args.pos[0]` is the filtered value. Throws Error "unknown filter 'x'".
Value call_filter(const std::string& name, CallArgs& args);
// Applies test `name` (`x is name(args)`); `args.pos[0]` is x. Throws Error "unknown test 'x'".
bool call_test(const std::string& name, CallArgs& args);
// `obj.name` as Jinja2's getattr does: a method of str/dict/list bound to `obj`, else the
// dict/namespace member, else undefined. Throws for an attribute of an undefined value.
Value get_attr(const Value& obj, const std::string& name);
// `obj[key]` as Jinja2's getitem does (negative indices, missing key -> undefined).
Value get_item(const Value& obj, const Value& key);
// `obj[start:stop:step]` with Python slice semantics (undefined parts omitted).
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
// Elements of `v` as a `for` loop sees them (dict -> keys, str -> characters, undefined -> none).
List iterate(const Value& v);
// Python `len()`.
int64_t length_of(const Value& v);
// Python `needle in haystack`.
bool contains(const Value& haystack, const Value& needle);

}  // namespace slotlm::tok::jinja
