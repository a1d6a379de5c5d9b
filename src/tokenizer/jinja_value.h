// SPDX-License-Identifier: MIT
// Values of the chat-template interpreter (tokenizer layer): Python-like dynamic values with the
// str()/repr()/==/< semantics Jinja2 inherits from Python. Depends on core/error.h only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slotlm::tok::jinja {

struct Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;  // insertion-ordered, string keys
struct CallArgs;
using Function = std::function<Value(CallArgs&)>;

enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace,
                  kFunction };

// One value. Lists and dicts are immutable once built (HF renders in Jinja2's immutable sandbox)
// and shared by pointer; a `namespace()` is the one mutable object and is shared by reference.
struct Value {
  Kind kind = Kind::kUndefined;
  bool b = false;
  int64_t i = 0;
  double f = 0.0;
  std::string s;                      // kString; for kUndefined the name that was missing
  std::shared_ptr<const List> list;   // kList
  bool is_tuple = false;              // kList written as a tuple: repr uses ( )
  std::shared_ptr<Dict> dict;         // kDict (never mutated after construction), kNamespace
  std::shared_ptr<const Function> fn; // kFunction
  std::string fn_name;                // kFunction, for error messages

  static Value undefined(std::string name = {});
  static Value none();
  static Value boolean(bool v);
  static Value integer(int64_t v);
  static Value number(double v);
  static Value string(std::string v);
  static Value make_list(List v, bool tuple = false);
  static Value make_dict(Dict v);
  static Value make_namespace(Dict v);
  static Value function(std::string name, Function fn);

  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_none() const { return kind == Kind::kNone; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_number() const { return kind == Kind::kInt || kind == Kind::kFloat || kind == Kind::kBool; }
  bool is_mapping() const { return kind == Kind::kDict || kind == Kind::kNamespace; }
  // Dict/namespace member, nullptr when absent.
  const Value* find(std::string_view key) const;
};

// Positional and keyword arguments of a call, filter or test.
struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  // Argument `idx`, or keyword `name`, or `def` when neither was given.
  Value get(size_t idx, std::string_view name, Value def = Value::undefined()) const;
};

// Python type name ("str", "int", "list", "dict", "NoneType", "undefined", ...).
const char* type_name(const Value& v);
// Python str(): what `{{ v }}` prints ("" for undefined, "None", "True", "1.5", "['a', 1]").
std::string to_str(const Value& v);
// Python repr() ('a' quoted; used inside lists and dicts).
std::string repr(const Value& v);
// Python truthiness (undefined, none, 0, "", [] and {} are false).
bool truthy(const Value& v);
// Python ==.
bool equals(const Value& a, const Value& b);
// Python ordering: <0, 0, >0; throws Error for unorderable types.
int compare(const Value& a, const Value& b);
// Arguments of Python's json.dumps as HF's `tojson` filter exposes them.
struct JsonFormat {
  int indent = -1;            // < 0: None (one line)
  bool sort_keys = false;
  bool ensure_ascii = false;  // HF's default: non-ASCII stays UTF-8
  std::string item_sep;       // "" = Python's default: ", " without indent, "," with it
  std::string key_sep = ": ";
};
// Python json.dumps(v, ...) with `fmt`.
std::string to_json(const Value& v, const JsonFormat& fmt = {});
// Builds a Value from JSON text (used for tool definitions and tests).
Value from_json_text(const std::string& json_text);
// Python float repr (shortest round-trip: 1.0, 0.1, 1e+20).
std::string format_float(double x);

// UTF-8 helpers with Python str semantics (indices count code points).
std::vector<char32_t> decode_utf8(std::string_view s);
std::string encode_utf8(const std::vector<char32_t>& cps);
void append_utf8(std::string& out, char32_t cp);
bool is_py_space(char32_t cp);  // Python str.isspace()
// Python str.strip/lstrip/rstrip: `chars` empty strips whitespace, otherwise those code points.
std::string py_strip(std::string_view s, std::string_view chars, bool left, bool right);
// Python str.split(sep, maxsplit): `sep` none splits on whitespace runs.
std::vector<std::string> py_split(std::string_view s, const Value& sep, int64_t maxsplit);

}  // namespace slotlm::tok::jinja
