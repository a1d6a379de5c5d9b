// SPDX-License-Identifier: MIT
// Filters follow jinja2/filters.py (3.1) and tests jinja2/tests.py, except `tojson`, which is HF
// transformers' override: json.dumps(x, ensure_ascii=False, indent=indent, sort_keys=...) with no
// HTML escaping. Case mapping (upper/lower/title/capitalize) covers ASCII letters only.
#include "tokenizer/jinja_builtins.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>

#include "core/error.h"

namespace slotlm::tok::jinja {
namespace {

std::string ascii_map(std::string s, int (*f)(int)) {
  for (char& c : s) c = static_cast<char>(f(static_cast<unsigned char>(c)));
  return s;
}

std::string capitalize(const std::string& s) {
  std::string out = ascii_map(s, [](int c) { return std::tolower(c); });
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

// Jinja2 `title`: capitalise each word; words start after whitespace, '-', '[', '(' or '{'.
std::string title(const std::string& s) {
  std::string out;
  bool start = true;
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    const bool sep = std::isspace(c) || c == '-' || c == '[' || c == '(' || c == '{';
    out += static_cast<char>(sep ? c : start ? std::toupper(c) : std::tolower(c));
    start = sep;
  }
  return out;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to,
                        int64_t count) {
  if (from.empty()) {  // Python inserts `to` between characters
    std::string out;
    int64_t n = 0;
    for (char32_t cp : decode_utf8(s)) {
      if (count < 0 || n++ < count) out += to;
      append_utf8(out, cp);
    }
    if (count < 0 || n < count) out += to;
    return out;
  }
  std::string out;
  size_t k = 0;
  for (int64_t n = 0; count < 0 || n < count; ++n) {
    const size_t p = s.find(from, k);
    if (p == std::string::npos) break;
    out.append(s, k, p - k);
    out += to;
    k = p + from.size();
  }
  return out + s.substr(k);
}

std::string need_str(const Value& v, const char* what) {
  if (v.is_string()) return v.s;
  if (v.is_undefined()) return "";
  fail(what, " expects a string, got '", type_name(v), "'");
}

int64_t need_int(const Value& v, const char* what) {
  if (v.kind == Kind::kInt) return v.i;
  if (v.kind == Kind::kBool) return v.b;
  fail(what, " expects an integer, got '", type_name(v), "'");
}

Value str_method(const Value& obj, const std::string& name, CallArgs& a) {
  const std::string& s = obj.s;
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const Value chars = a.get(0, "chars", Value::none());
    const std::string set = chars.is_none() ? "" : need_str(chars, name.c_str());
    if (!chars.is_none() && set.empty()) return obj;
    return Value::string(py_strip(s, set, name != "rstrip", name != "lstrip"));
  }
  if (name == "split") {
    const Value max = a.get(1, "maxsplit", Value::integer(-1));
    List parts;
    for (auto& p : py_split(s, a.get(0, "sep", Value::none()), need_int(max, "split")))
      parts.push_back(Value::string(std::move(p)));
    return Value::make_list(std::move(parts));
  }
  if (name == "splitlines") {
    List parts;
    size_t k = 0;
    while (k < s.size()) {
      size_t e = s.find_first_of("\r\n", k);
      if (e == std::string::npos) e = s.size();
      parts.push_back(Value::string(s.substr(k, e - k)));
      k = e + (s.compare(e, 2, "\r\n") == 0 ? 2 : 1);
    }
    return Value::make_list(std::move(parts));
  }
  if (name == "startswith" || name == "endswith") {
    const Value arg = a.get(0, "prefix");
    List options = arg.kind == Kind::kList ? *arg.list : List{arg};
    for (const Value& o : options) {
      const std::string p = need_str(o, name.c_str());
      if (p.size() > s.size()) continue;
      if (name == "startswith" ? s.compare(0, p.size(), p) == 0
                               : s.compare(s.size() - p.size(), p.size(), p) == 0)
        return Value::boolean(true);
    }
    return Value::boolean(false);
  }
  if (name == "upper") return Value::string(ascii_map(s, [](int c) { return std::toupper(c); }));
  if (name == "lower") return Value::string(ascii_map(s, [](int c) { return std::tolower(c); }));
  if (name == "title") return Value::string(title(s));
  if (name == "capitalize") return Value::string(capitalize(s));
  if (name == "replace")
    return Value::string(replace_all(s, need_str(a.get(0, "old"), "replace"),
                                     need_str(a.get(1, "new"), "replace"),
                                     need_int(a.get(2, "count", Value::integer(-1)), "replace")));
  if (name == "find" || name == "rfind" || name == "count" || name == "index") {
    const std::string sub = need_str(a.get(0, "sub"), name.c_str());
    if (name == "count") {
      if (sub.empty()) return Value::integer(static_cast<int64_t>(decode_utf8(s).size()) + 1);
      int64_t n = 0;
      for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
      return Value::integer(n);
    }
    const size_t p = name == "rfind" ? s.rfind(sub) : s.find(sub);
    if (p == std::string::npos) {
      if (name == "index") fail("substring not found");
      return Value::integer(-1);
    }
    return Value::integer(static_cast<int64_t>(decode_utf8(s.substr(0, p)).size()));
  }
  if (name == "join") {
    std::string out;
    const List items = iterate(a.get(0, "iterable"));
    for (size_t k = 0; k < items.size(); ++k) out += (k ? s : "") + need_str(items[k], "join");
    return Value::string(out);
  }
  if (name == "isspace" || name == "isdigit" || name == "isalpha" || name == "isalnum") {
    if (s.empty()) return Value::boolean(false);
    for (char32_t c : decode_utf8(s)) {
      const bool ok = name == "isspace" ? is_py_space(c)
                      : c >= 0x80 ? false
                      : name == "isdigit" ? std::isdigit(static_cast<int>(c)) != 0
                      : name == "isalpha" ? std::isalpha(static_cast<int>(c)) != 0
                                          : std::isalnum(static_cast<int>(c)) != 0;
      if (!ok) return Value::boolean(false);
    }
    return Value::boolean(true);
  }
  fail("unsupported construct: string method '", name, "'");
}

Value dict_method(const Value& obj, const std::string& name, CallArgs& a) {
  if (name == "items" || name == "keys" || name == "values") {
    List out;
    for (const auto& [k, v] : *obj.dict) {
      if (name == "items") {
        out.push_back(Value::make_list({Value::string(k), v}, true));
      } else {
        out.push_back(name == "keys" ? Value::string(k) : v);
      }
    }
    return Value::make_list(std::move(out));
  }
  if (name == "get") {
    const Value key = a.get(0, "key");
    const Value* v = key.is_string() ? obj.find(key.s) : nullptr;
    return v ? *v : a.get(1, "default", Value::none());
  }
  fail("unsupported construct: dict method '", name, "'");
}

bool is_str_method(const std::string& n) {
  static const char* const kNames[] = {
      "strip",   "lstrip", "rstrip", "split", "splitlines", "startswith", "endswith",
      "upper",   "lower",  "title",  "capitalize", "replace", "find", "rfind", "count",
      "index",   "join",   "isspace", "isdigit", "isalpha", "isalnum"};
  return std::find(std::begin(kNames), std::end(kNames), n) != std::end(kNames);
}

Value make_method(const Value& obj, const std::string& name) {
  if (obj.is_string())
    return Value::function(name, [obj, name](CallArgs& a) { return str_method(obj, name, a); });
  return Value::function(name, [obj, name](CallArgs& a) { return dict_method(obj, name, a); });
}

Value sort_list(List items, bool reverse, const Value& attribute) {
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    const Value kx = attribute.is_string() ? get_item(x, attribute) : x;
    const Value ky = attribute.is_string() ? get_item(y, attribute) : y;
    return reverse ? compare(ky, kx) < 0 : compare(kx, ky) < 0;
  });
  return Value::make_list(std::move(items));
}

// `select`/`reject` (attr empty) and `selectattr`/`rejectattr`.
Value select_items(CallArgs& a, bool keep, bool by_attr) {
  List out;
  const size_t first_arg = by_attr ? 2 : 1;
  const std::string attr = by_attr ? need_str(a.get(1, ""), "selectattr") : "";
  const Value test_name = a.get(first_arg, "");
  for (const Value& item : iterate(a.pos.at(0))) {
    const Value v = by_attr ? get_attr(item, attr) : item;
    bool ok;
    if (test_name.is_undefined()) {
      ok = truthy(v);
    } else {
      CallArgs t;
      t.pos.push_back(v);
      for (size_t k = first_arg + 1; k < a.pos.size(); ++k) t.pos.push_back(a.pos[k]);
      ok = call_test(need_str(test_name, "select"), t);
    }
    if (ok == keep) out.push_back(item);
  }
  return Value::make_list(std::move(out));
}

}  // namespace

List iterate(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined: return {};
    case Kind::kList: return *v.list;
    case Kind::kDict: {
      List keys;
      for (const auto& kv : *v.dict) keys.push_back(Value::string(kv.first));
      return keys;
    }
    case Kind::kString: {
      List chars;
      for (char32_t c : decode_utf8(v.s)) {
        std::string one;
        append_utf8(one, c);
        chars.push_back(Value::string(std::move(one)));
      }
      return chars;
    }
    default: fail("'", type_name(v), "' object is not iterable");
  }
}

int64_t length_of(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined: return 0;
    case Kind::kString: return static_cast<int64_t>(decode_utf8(v.s).size());
    case Kind::kList: return static_cast<int64_t>(v.list->size());
    case Kind::kDict: return static_cast<int64_t>(v.dict->size());
    default: fail("object of type '", type_name(v), "' has no len()");
  }
}

bool contains(const Value& haystack, const Value& needle) {
  switch (haystack.kind) {
    case Kind::kUndefined: return false;
    case Kind::kString:
      if (!needle.is_string())
        fail("'in <string>' requires string as left operand, not '", type_name(needle), "'");
      return haystack.s.find(needle.s) != std::string::npos;
    case Kind::kList:
      for (const Value& x : *haystack.list)
        if (equals(x, needle)) return true;
      return false;
    case Kind::kDict:
    case Kind::kNamespace: return needle.is_string() && haystack.find(needle.s) != nullptr;
    default: fail("argument of type '", type_name(haystack), "' is not iterable");
  }
}

Value get_attr(const Value& obj, const std::string& name) {
  switch (obj.kind) {
    case Kind::kUndefined:
      fail("'", obj.s.empty() ? "value" : obj.s, "' is undefined (reading '.", name, "')");
    case Kind::kString:
      if (is_str_method(name)) return make_method(obj, name);
      break;
    case Kind::kDict:
      if (name == "items" || name == "keys" || name == "values" || name == "get")
        return make_method(obj, name);
      [[fallthrough]];
    case Kind::kNamespace:
      if (const Value* v = obj.find(name)) return *v;
      break;
    default: break;
  }
  return Value::undefined(name);
}

Value get_item(const Value& obj, const Value& key) {
  switch (obj.kind) {
    case Kind::kUndefined:
      fail("'", obj.s.empty() ? "value" : obj.s, "' is undefined (reading [", repr(key), "])");
    case Kind::kDict:
    case Kind::kNamespace:
      if (key.is_string()) {
        if (const Value* v = obj.find(key.s)) return *v;
        return get_attr(obj, key.s);
      }
      break;
    case Kind::kList:
    case Kind::kString:
      if (key.kind == Kind::kInt || key.kind == Kind::kBool) {
        const int64_t n = length_of(obj);
        int64_t k = key.kind == Kind::kInt ? key.i : key.b;
        if (k < 0) k += n;
        if (k < 0 || k >= n) return Value::undefined();
        if (obj.kind == Kind::kList) return (*obj.list)[static_cast<size_t>(k)];
        std::string one;
        append_utf8(one, decode_utf8(obj.s)[static_cast<size_t>(k)]);
        return Value::string(one);
      }
      if (key.is_string()) return get_attr(obj, key.s);
      break;
    default: break;
  }
  return Value::undefined();
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  const auto opt_int = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    return need_int(v, what);
  };
  const int64_t st = opt_int(step, "slice step").value_or(1);
  if (st == 0) fail("slice step cannot be zero");
  if (obj.kind != Kind::kList && obj.kind != Kind::kString)
    fail("'", type_name(obj), "' object is not subscriptable");
  const int64_t n = length_of(obj);
  const auto clamp = [&](std::optional<int64_t> v, int64_t def) {
    if (!v) return def;
    int64_t x = *v < 0 ? *v + n : *v;
    return st > 0 ? std::clamp<int64_t>(x, 0, n) : std::clamp<int64_t>(x, -1, n - 1);
  };
  const int64_t b = clamp(opt_int(start, "slice start"), st > 0 ? 0 : n - 1);
  const int64_t e = clamp(opt_int(stop, "slice stop"), st > 0 ? n : -1);
  std::vector<size_t> idx;
  for (int64_t k = b; st > 0 ? k < e : k > e; k += st) idx.push_back(static_cast<size_t>(k));
  if (obj.kind == Kind::kList) {
    List out;
    for (size_t k : idx) out.push_back((*obj.list)[k]);
    return Value::make_list(std::move(out), obj.is_tuple);
  }
  const std::vector<char32_t> cps = decode_utf8(obj.s);
  std::string out;
  for (size_t k : idx) append_utf8(out, cps[k]);
  return Value::string(out);
}

Value call_filter(const std::string& name, CallArgs& a) {
  const Value x = a.pos.at(0);
  if (name == "trim") {
    const Value chars = a.get(1, "chars", Value::none());
    return Value::string(py_strip(to_str(x), chars.is_none() ? "" : need_str(chars, "trim"), true, true));
  }
  if (name == "length" || name == "count") return Value::integer(length_of(x));
  if (name == "tojson") {  // HF: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
    JsonFormat fmt;
    fmt.ensure_ascii = truthy(a.get(1, "ensure_ascii", Value::boolean(false)));
    const Value indent = a.get(2, "indent", Value::none());
    if (!indent.is_none()) fmt.indent = static_cast<int>(std::max<int64_t>(0, need_int(indent, "tojson")));
    const Value seps = a.get(3, "separators", Value::none());
    if (!seps.is_none()) {
      if (seps.kind != Kind::kList || seps.list->size() != 2)
        fail("tojson: separators must be a pair of strings");
      fmt.item_sep = need_str((*seps.list)[0], "tojson");
      fmt.key_sep = need_str((*seps.list)[1], "tojson");
    }
    fmt.sort_keys = truthy(a.get(4, "sort_keys", Value::boolean(false)));
    return Value::string(to_json(x, fmt));
  }
  if (name == "string") return Value::string(to_str(x));
  if (name == "safe" || name == "e" || name == "escape" || name == "forceescape") {
    if (name == "safe") return x;
    fail("unsupported construct: filter '", name, "' (HTML escaping)");
  }
  if (name == "upper" || name == "lower" || name == "capitalize" || name == "title") {
    CallArgs none;
    return str_method(Value::string(to_str(x)), name, none);
  }
  if (name == "replace") {
    CallArgs r;
    r.pos = {a.get(1, "old"), a.get(2, "new"), a.get(3, "count", Value::integer(-1))};
    return str_method(Value::string(to_str(x)), "replace", r);
  }
  if (name == "default" || name == "d") {
    const bool boolean = truthy(a.get(2, "boolean", Value::boolean(false)));
    if (x.is_undefined() || (boolean && !truthy(x))) return a.get(1, "default_value", Value::string(""));
    return x;
  }
  if (name == "join") {
    const Value attr = a.get(2, "attribute", Value::none());
    const std::string sep = to_str(a.get(1, "d", Value::string("")));
    std::string out;
    const List items = iterate(x);
    for (size_t k = 0; k < items.size(); ++k)
      out += (k ? sep : "") + to_str(attr.is_none() ? items[k] : get_item(items[k], attr));
    return Value::string(out);
  }
  if (name == "first" || name == "last") {
    const List items = iterate(x);
    if (items.empty()) return Value::undefined();
    return name == "first" ? items.front() : items.back();
  }
  if (name == "list") return Value::make_list(iterate(x));
  if (name == "items") {
    if (x.is_undefined()) return Value::make_list({});
    if (x.kind != Kind::kDict) fail("items filter expects a mapping, got '", type_name(x), "'");
    CallArgs none;
    return dict_method(x, "items", none);
  }
  if (name == "reverse") {
    if (x.is_string()) return get_slice(x, Value::none(), Value::none(), Value::integer(-1));
    List items = iterate(x);
    std::reverse(items.begin(), items.end());
    return Value::make_list(std::move(items));
  }
  if (name == "sort")
    return sort_list(iterate(x), truthy(a.get(1, "reverse", Value::boolean(false))),
                     a.get(3, "attribute", Value::none()));
  if (name == "unique") {
    List out;
    for (const Value& v : iterate(x))
      if (std::none_of(out.begin(), out.end(), [&](const Value& o) { return equals(o, v); }))
        out.push_back(v);
    return Value::make_list(std::move(out));
  }
  if (name == "min" || name == "max" || name == "sum") {
    const List items = iterate(x);
    if (name == "sum") {
      Value acc = a.get(2, "start", Value::integer(0));
      for (const Value& v : items) {
        if (acc.kind == Kind::kInt && v.kind == Kind::kInt) {
          acc.i += v.i;
        } else if (acc.is_number() && v.is_number()) {
          acc = Value::number((acc.kind == Kind::kFloat ? acc.f : static_cast<double>(acc.i)) +
                              (v.kind == Kind::kFloat ? v.f : static_cast<double>(v.i)));
        } else {
          fail("sum filter: cannot add '", type_name(v), "'");
        }
      }
      return acc;
    }
    if (items.empty()) return Value::undefined();
    Value best = items[0];
    for (const Value& v : items)
      if ((name == "min") ? compare(v, best) < 0 : compare(v, best) > 0) best = v;
    return best;
  }
  if (name == "map") {
    List out;
    const Value attr = a.get(99, "attribute", Value::none());
    for (const Value& v : iterate(x)) {
      if (!attr.is_none()) {
        Value r = get_item(v, attr);
        if (r.is_undefined()) r = a.get(99, "default", r);
        out.push_back(r);
        continue;
      }
      CallArgs f;
      f.pos.push_back(v);
      for (size_t k = 2; k < a.pos.size(); ++k) f.pos.push_back(a.pos[k]);
      f.kw = a.kw;
      out.push_back(call_filter(need_str(a.get(1, ""), "map"), f));
    }
    return Value::make_list(std::move(out));
  }
  if (name == "select" || name == "reject") return select_items(a, name == "select", false);
  if (name == "selectattr" || name == "rejectattr")
    return select_items(a, name == "selectattr", true);
  if (name == "dictsort") {
    if (x.kind != Kind::kDict) fail("dictsort expects a mapping, got '", type_name(x), "'");
    CallArgs none;
    return sort_list(*dict_method(x, "items", none).list, truthy(a.get(3, "reverse", Value::boolean(false))),
                     Value::none());
  }
  if (name == "indent") {
    const Value w = a.get(1, "width", Value::integer(4));
    const std::string ind = w.is_string() ? w.s : std::string(static_cast<size_t>(need_int(w, "indent")), ' ');
    const bool first = truthy(a.get(2, "first", Value::boolean(false)));
    const bool blank = truthy(a.get(3, "blank", Value::boolean(false)));
    CallArgs none;
    const List lines = *str_method(Value::string(to_str(x) + "\n"), "splitlines", none).list;
    std::string out = lines.at(0).s;
    for (size_t k = 1; k < lines.size(); ++k)
      out += "\n" + ((blank || !lines[k].s.empty()) ? ind : "") + lines[k].s;
    if (first) out = ind + out;
    return Value::string(out);
  }
  if (name == "int") {
    if (x.kind == Kind::kInt) return x;
    if (x.kind == Kind::kBool) return Value::integer(x.b);
    if (x.kind == Kind::kFloat) return Value::integer(static_cast<int64_t>(x.f));
    if (x.is_string()) {
      const std::string t = py_strip(x.s, "", true, true);
      char* end = nullptr;
      const long long v = std::strtoll(t.c_str(), &end, 10);
      if (!t.empty() && end && *end == '\0') return Value::integer(v);
      const double d = std::strtod(t.c_str(), &end);
      if (!t.empty() && end && *end == '\0') return Value::integer(static_cast<int64_t>(d));
    }
    return a.get(1, "default", Value::integer(0));
  }
  if (name == "float") {
    if (x.kind == Kind::kFloat) return x;
    if (x.kind == Kind::kInt || x.kind == Kind::kBool)
      return Value::number(x.kind == Kind::kInt ? static_cast<double>(x.i) : x.b);
    if (x.is_string()) {
      char* end = nullptr;
      const std::string t = py_strip(x.s, "", true, true);
      const double d = std::strtod(t.c_str(), &end);
      if (!t.empty() && end && *end == '\0') return Value::number(d);
    }
    return a.get(1, "default", Value::number(0.0));
  }
  if (name == "abs") {
    if (x.kind == Kind::kInt) return Value::integer(x.i < 0 ? -x.i : x.i);
    if (x.kind == Kind::kFloat) return Value::number(std::fabs(x.f));
    fail("bad operand type for abs(): '", type_name(x), "'");
  }
  if (name == "round") {
    const int64_t prec = need_int(a.get(1, "precision", Value::integer(0)), "round");
    const std::string method = to_str(a.get(2, "method", Value::string("common")));
    const double scale = std::pow(10.0, static_cast<double>(prec));
    const double v = x.kind == Kind::kFloat ? x.f : x.kind == Kind::kInt ? static_cast<double>(x.i) : 0.0;
    const double r = method == "floor" ? std::floor(v * scale) / scale
                     : method == "ceil" ? std::ceil(v * scale) / scale
                                        : std::round(v * scale) / scale;
    return Value::number(r);
  }
  fail("unknown filter '", name, "'");
}

bool call_test(const std::string& name, CallArgs& a) {
  const Value x = a.pos.at(0);
  const Value y = a.get(1, "");
  if (name == "defined") return !x.is_undefined();
  if (name == "undefined") return x.is_undefined();
  if (name == "none") return x.is_none();
  if (name == "string") return x.is_string();
  if (name == "number") return x.is_number();
  if (name == "integer") return x.kind == Kind::kInt;
  if (name == "float") return x.kind == Kind::kFloat;
  if (name == "boolean") return x.kind == Kind::kBool;
  if (name == "true") return x.kind == Kind::kBool && x.b;
  if (name == "false") return x.kind == Kind::kBool && !x.b;
  if (name == "mapping") return x.kind == Kind::kDict;
  if (name == "iterable")
    return x.kind == Kind::kList || x.kind == Kind::kDict || x.kind == Kind::kString ||
           x.is_undefined();
  if (name == "sequence") return x.kind == Kind::kList || x.kind == Kind::kDict || x.is_string();
  if (name == "callable") return x.kind == Kind::kFunction;
  if (name == "sameas") {
    if (x.kind != y.kind) return false;
    if (x.kind == Kind::kNone || x.kind == Kind::kUndefined) return true;
    if (x.kind == Kind::kBool) return x.b == y.b;
    return equals(x, y) && x.list == y.list && x.dict == y.dict;
  }
  if (name == "equalto" || name == "eq" || name == "==") return equals(x, y);
  if (name == "ne" || name == "!=") return !equals(x, y);
  if (name == "lt" || name == "lessthan" || name == "<") return compare(x, y) < 0;
  if (name == "le" || name == "<=") return compare(x, y) <= 0;
  if (name == "gt" || name == "greaterthan" || name == ">") return compare(x, y) > 0;
  if (name == "ge" || name == ">=") return compare(x, y) >= 0;
  if (name == "in") return contains(y, x);
  if (name == "odd" || name == "even") {
    const int64_t v = need_int(x, name.c_str());
    return (v % 2 != 0) == (name == "odd");
  }
  if (name == "divisibleby") {
    const int64_t d = need_int(y, "divisibleby");
    if (d == 0) fail("integer division or modulo by zero");
    return need_int(x, "divisibleby") % d == 0;
  }
  if (name == "lower" || name == "upper") {
    const std::string s = to_str(x);
    return s == ascii_map(s, name == "lower" ? [](int c) { return std::tolower(c); }
                                              : [](int c) { return std::toupper(c); });
  }
  fail("unknown test '", name, "'");
}

}  // namespace slotlm::tok::jinja
