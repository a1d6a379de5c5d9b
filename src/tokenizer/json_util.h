// SPDX-License-Identifier: MIT
// Typed field access for tokenizer.json / tokenizer_config.json (tokenizer layer): every failure is
// an Error naming the file and field, e.g. "dir/tokenizer.json: model.vocab: expected an object".
#pragma once

#include <string>

#include "core/json_file.h"
#include "tokenizer/regex.h"

namespace slotlm::tok {

// `j[key]` or fail "`where`: missing field 'key'".
const Json& get_field(const Json& j, const char* key, const std::string& where);
std::string get_string(const Json& j, const char* key, const std::string& where);
const Json& get_array(const Json& j, const char* key, const std::string& where);
const Json& get_object(const Json& j, const char* key, const std::string& where);
// Optional fields: the default when absent or null; fail when present with the wrong type.
bool get_bool_or(const Json& j, const char* key, bool def, const std::string& where);
int64_t get_int_or(const Json& j, const char* key, int64_t def, const std::string& where);
std::string get_string_or(const Json& j, const char* key, const std::string& def,
                          const std::string& where);
// The `pattern` field of Split / Replace: {"String": s} or {"Regex": r}.
Pattern make_pattern(const Json& j, const std::string& where);

}  // namespace slotlm::tok
