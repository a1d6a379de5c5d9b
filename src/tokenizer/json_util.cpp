// SPDX-License-Identifier: MIT
#include "tokenizer/json_util.h"

#include "core/error.h"

namespace slotlm::tok {

const Json& get_field(const Json& j, const char* key, const std::string& where) {
  if (!j.is_object()) fail(where, ": expected an object");
  auto it = j.find(key);
  if (it == j.end()) fail(where, ": missing field '", key, "'");
  return *it;
}

std::string get_string(const Json& j, const char* key, const std::string& where) {
  const Json& v = get_field(j, key, where);
  if (!v.is_string()) fail(where, ".", key, ": expected a string");
  return v.get<std::string>();
}

const Json& get_array(const Json& j, const char* key, const std::string& where) {
  const Json& v = get_field(j, key, where);
  if (!v.is_array()) fail(where, ".", key, ": expected an array");
  return v;
}

const Json& get_object(const Json& j, const char* key, const std::string& where) {
  const Json& v = get_field(j, key, where);
  if (!v.is_object()) fail(where, ".", key, ": expected an object");
  return v;
}

bool get_bool_or(const Json& j, const char* key, bool def, const std::string& where) {
  if (!j.is_object()) fail(where, ": expected an object");
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_boolean()) fail(where, ".", key, ": expected true or false");
  return it->get<bool>();
}

int64_t get_int_or(const Json& j, const char* key, int64_t def, const std::string& where) {
  if (!j.is_object()) fail(where, ": expected an object");
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_number_integer()) fail(where, ".", key, ": expected an integer");
  return it->get<int64_t>();
}

std::string get_string_or(const Json& j, const char* key, const std::string& def,
                          const std::string& where) {
  if (!j.is_object()) fail(where, ": expected an object");
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_string()) fail(where, ".", key, ": expected a string");
  return it->get<std::string>();
}

Pattern make_pattern(const Json& j, const std::string& where) {
  const Json& p = get_object(j, "pattern", where);
  const std::string pw = where + ".pattern";
  if (p.contains("String")) return Pattern::literal(get_string(p, "String", pw));
  if (p.contains("Regex")) return Pattern::regex(get_string(p, "Regex", pw), pw + ".Regex");
  fail(pw, ": expected {\"String\": ...} or {\"Regex\": ...}");
}

}  // namespace slotlm::tok
