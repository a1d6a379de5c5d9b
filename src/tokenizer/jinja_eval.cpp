// SPDX-License-Identifier: MIT
// Semantics follow Jinja2 3.1 with the default `Undefined` (prints as "", is false, iterates as
// empty, fails on attribute access and arithmetic) and Python operators on the values.
#include "tokenizer/jinja_eval.h"

#include <cmath>

#include "tokenizer/jinja_builtins.h"

namespace slotlm::tok::jinja {
namespace {

enum class Flow { kNormal, kBreak, kContinue };

struct Scope {
  Dict vars;
  bool barrier = false;  // a macro frame: lookups skip to the template's top level from here
};

[[noreturn]] void fail_undefined(const Value& v) {
  fail("'", v.s.empty() ? "value" : v.s, "' is undefined");
}

double to_double(const Value& v) {
  return v.kind == Kind::kFloat ? v.f : v.kind == Kind::kInt ? static_cast<double>(v.i) : v.b;
}
int64_t to_int(const Value& v) { return v.kind == Kind::kInt ? v.i : v.b; }

[[noreturn]] void bad_operands(const std::string& op, const Value& l, const Value& r) {
  fail("unsupported operand type(s) for ", op, ": '", type_name(l), "' and '", type_name(r), "'");
}

Value repeat(const Value& seq, int64_t n) {
  if (seq.is_string()) {
    std::string out;
    for (int64_t k = 0; k < n; ++k) out += seq.s;
    return Value::string(out);
  }
  List out;
  for (int64_t k = 0; k < n; ++k) out.insert(out.end(), seq.list->begin(), seq.list->end());
  return Value::make_list(std::move(out));
}

// Python arithmetic for + - * / // % ** (and Jinja's ~).
Value arith(const std::string& op, const Value& l, const Value& r) {
  if (op == "~") return Value::string(to_str(l) + to_str(r));
  if (l.is_undefined()) fail_undefined(l);
  if (r.is_undefined()) fail_undefined(r);
  if (op == "+") {
    if (l.is_string() && r.is_string()) return Value::string(l.s + r.s);
    if (l.kind == Kind::kList && r.kind == Kind::kList) {
      List out = *l.list;
      out.insert(out.end(), r.list->begin(), r.list->end());
      return Value::make_list(std::move(out), l.is_tuple);
    }
  }
  if (op == "*") {
    if ((l.is_string() || l.kind == Kind::kList) && (r.kind == Kind::kInt || r.kind == Kind::kBool))
      return repeat(l, to_int(r));
    if ((r.is_string() || r.kind == Kind::kList) && (l.kind == Kind::kInt || l.kind == Kind::kBool))
      return repeat(r, to_int(l));
  }
  if (!l.is_number() || !r.is_number()) bad_operands(op, l, r);
  const bool ints = l.kind != Kind::kFloat && r.kind != Kind::kFloat;
  if (op == "/") {
    if (to_double(r) == 0.0) fail("division by zero");
    return Value::number(to_double(l) / to_double(r));
  }
  if (ints) {
    const int64_t a = to_int(l), b = to_int(r);
    if (op == "+") return Value::integer(a + b);
    if (op == "-") return Value::integer(a - b);
    if (op == "*") return Value::integer(a * b);
    if (op == "//" || op == "%") {
      if (b == 0) fail("integer division or modulo by zero");
      int64_t q = a / b, m = a % b;
      if (m != 0 && ((m < 0) != (b < 0))) {
        --q;
        m += b;
      }
      return Value::integer(op == "//" ? q : m);
    }
    if (op == "**") {
      if (b < 0) return Value::number(std::pow(static_cast<double>(a), static_cast<double>(b)));
      int64_t p = 1;
      for (int64_t k = 0; k < b; ++k) p *= a;
      return Value::integer(p);
    }
  }
  const double a = to_double(l), b = to_double(r);
  if (op == "+") return Value::number(a + b);
  if (op == "-") return Value::number(a - b);
  if (op == "*") return Value::number(a * b);
  if (op == "**") return Value::number(std::pow(a, b));
  if (b == 0.0) fail("float division by zero");
  const double m = std::fmod(a, b);
  const double fixed = (m != 0.0 && ((m < 0) != (b < 0))) ? m + b : m;
  if (op == "%") return Value::number(fixed);
  return Value::number(std::floor(a / b));  // "//"
}

class Interpreter {
 public:
  Interpreter(const Dict& globals, int64_t max_steps) : steps_left_(max_steps) {
    Scope g;
    g.vars = builtin_globals();
    for (const auto& kv : globals) assign(g.vars, kv.first, kv.second);
    scopes_.push_back(std::move(g));
    scopes_.emplace_back();  // the template's top level
  }

  std::string render(const Template& t) {
    std::string out;
    if (exec_body(t.body, out) != Flow::kNormal) fail("'break' or 'continue' outside a loop");
    return out;
  }

 private:
  static void assign(Dict& vars, const std::string& name, Value v) {
    for (auto& kv : vars)
      if (kv.first == name) {
        kv.second = std::move(v);
        return;
      }
    vars.emplace_back(name, std::move(v));
  }

  Dict builtin_globals() {
    Dict g;
    g.emplace_back("namespace", Value::function("namespace", [](CallArgs& a) {
      Dict d;
      for (const Value& p : a.pos) {
        if (p.kind != Kind::kDict) fail("namespace() takes keyword arguments or a dict");
        for (const auto& kv : *p.dict) assign(d, kv.first, kv.second);
      }
      for (const auto& kv : a.kw) assign(d, kv.first, kv.second);
      return Value::make_namespace(std::move(d));
    }));
    g.emplace_back("dict", Value::function("dict", [](CallArgs& a) {
      Dict d;
      for (const Value& p : a.pos) {
        if (p.kind != Kind::kDict) fail("dict() takes keyword arguments or a dict");
        for (const auto& kv : *p.dict) assign(d, kv.first, kv.second);
      }
      for (const auto& kv : a.kw) assign(d, kv.first, kv.second);
      return Value::make_dict(std::move(d));
    }));
    g.emplace_back("range", Value::function("range", [](CallArgs& a) {
      if (a.pos.empty() || a.pos.size() > 3) fail("range() takes 1 to 3 arguments");
      for (const Value& p : a.pos)
        if (p.kind != Kind::kInt) fail("range() arguments must be integers");
      const int64_t start = a.pos.size() > 1 ? a.pos[0].i : 0;
      const int64_t stop = a.pos.size() > 1 ? a.pos[1].i : a.pos[0].i;
      const int64_t step = a.pos.size() > 2 ? a.pos[2].i : 1;
      if (step == 0) fail("range() step must not be zero");
      List out;
      for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
        if (out.size() >= 1'000'000) fail("range() too long");
        out.push_back(Value::integer(k));
      }
      return Value::make_list(std::move(out));
    }));
    return g;
  }

  Value lookup(const std::string& name) const {
    for (size_t k = scopes_.size(); k-- > 0;) {
      for (const auto& kv : scopes_[k].vars)
        if (kv.first == name) return kv.second;
      if (scopes_[k].barrier && k > 2) k = 2;
    }
    return Value::undefined(name);
  }

  void tick() {
    if (--steps_left_ < 0) fail("template exceeded its loop budget (runaway loop?)");
  }

  Flow exec_body(const Body& body, std::string& out) {
    for (const auto& s : body) {
      const Flow f = exec(*s, out);
      if (f != Flow::kNormal) return f;
    }
    return Flow::kNormal;
  }

  Flow exec(const Stmt& s, std::string& out) {
    try {
      return exec_inner(s, out);
    } catch (const TemplateRaised&) {
      throw;
    } catch (const Error& e) {
      const std::string msg = e.what();
      if (msg.rfind("line ", 0) == 0) throw;
      fail("line ", s.line, ": ", msg);
    }
  }

  void bind_targets(Dict& vars, const std::vector<std::string>& targets, const Value& v) {
    if (targets.size() == 1) return assign(vars, targets[0], v);
    const List items = iterate(v);
    if (items.size() != targets.size())
      fail("cannot unpack ", items.size(), " values into ", targets.size(), " names");
    for (size_t k = 0; k < targets.size(); ++k) assign(vars, targets[k], items[k]);
  }

  Flow exec_inner(const Stmt& s, std::string& out) {
    switch (s.kind) {
      case StmtKind::kText: out += s.text; return Flow::kNormal;
      case StmtKind::kOutput: out += to_str(eval(*s.expr)); return Flow::kNormal;
      case StmtKind::kIf:
        for (size_t k = 0; k < s.conds.size(); ++k)
          if (truthy(eval(*s.conds[k]))) return exec_body(s.bodies[k], out);
        return exec_body(s.else_body, out);
      case StmtKind::kFor: return exec_for(s, out);
      case StmtKind::kSet: {
        Value v = eval(*s.expr);
        if (s.attr.empty()) {
          bind_targets(scopes_.back().vars, s.targets, v);
          return Flow::kNormal;
        }
        const Value ns = lookup(s.targets[0]);
        if (ns.kind != Kind::kNamespace)
          fail("cannot assign attribute '", s.attr, "' on '", s.targets[0],
               "', which is not a namespace()");
        assign(*ns.dict, s.attr, std::move(v));
        return Flow::kNormal;
      }
      case StmtKind::kSetBlock: {
        std::string text;
        scopes_.emplace_back();
        exec_body(s.bodies[0], text);
        scopes_.pop_back();
        assign(scopes_.back().vars, s.targets[0], Value::string(text));
        return Flow::kNormal;
      }
      case StmtKind::kMacro: {
        const Stmt* m = &s;
        assign(scopes_.back().vars, s.text,
               Value::function(s.text, [this, m](CallArgs& a) { return call_macro(*m, a); }));
        return Flow::kNormal;
      }
      case StmtKind::kBreak: return Flow::kBreak;
      case StmtKind::kContinue: return Flow::kContinue;
      case StmtKind::kPlain: return exec_body(s.bodies[0], out);
    }
    return Flow::kNormal;
  }

  Flow exec_for(const Stmt& s, std::string& out) {
    const Value seq = eval(*s.expr);
    if (seq.is_none()) fail("'NoneType' object is not iterable");
    List items = iterate(seq);
    if (s.cond) {  // `for x in xs if cond`: filter first, so `loop` counts kept items only
      List kept;
      for (const Value& item : items) {
        scopes_.emplace_back();
        bind_targets(scopes_.back().vars, s.targets, item);
        const bool keep = truthy(eval(*s.cond));
        scopes_.pop_back();
        if (keep) kept.push_back(item);
      }
      items = std::move(kept);
    }
    const int64_t n = static_cast<int64_t>(items.size());
    // One `loop` object per loop, updated in place each iteration like Jinja2's LoopContext.
    auto index = std::make_shared<int64_t>(0);
    Value loop = Value::make_dict({});
    Dict& lv = *loop.dict;
    for (const char* key : {"index0", "index", "revindex0", "revindex", "first", "last", "length",
                            "depth", "depth0", "previtem", "nextitem"})
      lv.emplace_back(key, Value());
    lv.emplace_back("cycle", Value::function("loop.cycle", [index](CallArgs& a) {
      if (a.pos.empty()) fail("loop.cycle() needs at least one argument");
      return a.pos[static_cast<size_t>(*index) % a.pos.size()];
    }));
    for (int64_t k = 0; k < n; ++k) {
      tick();
      *index = k;
      lv[0].second = Value::integer(k);
      lv[1].second = Value::integer(k + 1);
      lv[2].second = Value::integer(n - k - 1);
      lv[3].second = Value::integer(n - k);
      lv[4].second = Value::boolean(k == 0);
      lv[5].second = Value::boolean(k == n - 1);
      lv[6].second = Value::integer(n);
      lv[7].second = Value::integer(1);
      lv[8].second = Value::integer(0);
      lv[9].second = k > 0 ? items[k - 1] : Value::undefined("loop.previtem");
      lv[10].second = k + 1 < n ? items[k + 1] : Value::undefined("loop.nextitem");
      Scope it;
      it.vars.emplace_back("loop", loop);
      scopes_.push_back(std::move(it));
      bind_targets(scopes_.back().vars, s.targets, items[k]);
      Flow f;
      try {
        f = exec_body(s.bodies[0], out);
      } catch (...) {
        scopes_.pop_back();
        throw;
      }
      scopes_.pop_back();
      if (f == Flow::kBreak) break;
    }
    if (n == 0) return exec_body(s.else_body, out);
    return Flow::kNormal;
  }

  Value call_macro(const Stmt& m, CallArgs& a) {
    if (++macro_depth_ > 64) fail("macro '", m.text, "' recursed too deeply");
    if (a.pos.size() > m.targets.size())
      fail("macro '", m.text, "' takes ", m.targets.size(), " arguments, got ", a.pos.size());
    Scope frame;
    frame.barrier = true;
    scopes_.push_back(std::move(frame));
    std::string out;
    try {
      for (size_t k = 0; k < m.targets.size(); ++k) {
        Value v = a.get(k, m.targets[k]);
        if (v.is_undefined() && m.defaults[k]) v = eval(*m.defaults[k]);
        if (v.is_undefined()) v = Value::undefined(m.targets[k]);
        assign(scopes_.back().vars, m.targets[k], std::move(v));
      }
      exec_body(m.bodies[0], out);
    } catch (...) {
      scopes_.pop_back();
      --macro_depth_;
      throw;
    }
    scopes_.pop_back();
    --macro_depth_;
    return Value::string(out);
  }

  Value eval(const Expr& e) {
    try {
      return eval_inner(e);
    } catch (const TemplateRaised&) {
      throw;
    } catch (const Error& err) {
      const std::string msg = err.what();
      if (msg.rfind("line ", 0) == 0 || e.line <= 0) throw;
      fail("line ", e.line, ": ", msg);
    }
  }

  CallArgs eval_args(const Expr& e, size_t first) {
    CallArgs a;
    for (size_t k = first; k < e.args.size(); ++k) a.pos.push_back(eval(*e.args[k]));
    for (const auto& [key, val] : e.kwargs) a.kw.emplace_back(key, eval(*val));
    return a;
  }

  Value eval_inner(const Expr& e) {
    switch (e.kind) {
      case ExprKind::kLiteral: return e.value;
      case ExprKind::kName: return lookup(e.name);
      case ExprKind::kList: {
        List items;
        for (const auto& a : e.args) items.push_back(eval(*a));
        return Value::make_list(std::move(items), e.is_tuple);
      }
      case ExprKind::kDict: {
        Dict d;
        for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
          const Value key = eval(*e.args[k]);
          if (!key.is_string()) fail("unsupported construct: dict key of type '", type_name(key), "'");
          assign(d, key.s, eval(*e.args[k + 1]));
        }
        return Value::make_dict(std::move(d));
      }
      case ExprKind::kAttr: return get_attr(eval(*e.args[0]), e.name);
      case ExprKind::kIndex: return get_item(eval(*e.args[0]), eval(*e.args[1]));
      case ExprKind::kSlice: {
        const auto part = [&](size_t k) { return e.args[k] ? eval(*e.args[k]) : Value::none(); };
        return get_slice(eval(*e.args[0]), part(1), part(2), part(3));
      }
      case ExprKind::kCall: {
        Value f;
        if (e.args[0]->kind == ExprKind::kAttr) {  // a method: name it if the type lacks it
          const Value obj = eval(*e.args[0]->args[0]);
          f = get_attr(obj, e.args[0]->name);
          if (f.is_undefined())
            fail("unsupported construct: method '", e.args[0]->name, "' of '", type_name(obj), "'");
        } else {
          f = eval(*e.args[0]);
        }
        if (f.kind != Kind::kFunction) {
          if (f.is_undefined()) fail("unknown function '", f.s.empty() ? "?" : f.s, "'");
          fail("'", type_name(f), "' object is not callable");
        }
        CallArgs a = eval_args(e, 1);
        return (*f.fn)(a);
      }
      case ExprKind::kFilter: {
        CallArgs a = eval_args(e, 0);
        return call_filter(e.name, a);
      }
      case ExprKind::kTest: {
        CallArgs a = eval_args(e, 0);
        return Value::boolean(call_test(e.name, a) != e.negated);
      }
      case ExprKind::kUnary: {
        const Value v = eval(*e.args[0]);
        if (e.name == "not") return Value::boolean(!truthy(v));
        if (v.is_undefined()) fail_undefined(v);
        if (!v.is_number()) fail("bad operand type for unary ", e.name, ": '", type_name(v), "'");
        if (e.name == "+") return v.kind == Kind::kBool ? Value::integer(v.b) : v;
        return v.kind == Kind::kFloat ? Value::number(-v.f) : Value::integer(-to_int(v));
      }
      case ExprKind::kBinary: {
        Value l = eval(*e.args[0]);
        if (e.name == "and") return truthy(l) ? eval(*e.args[1]) : l;
        if (e.name == "or") return truthy(l) ? l : eval(*e.args[1]);
        return arith(e.name, l, eval(*e.args[1]));
      }
      case ExprKind::kCompare: {
        Value l = eval(*e.args[0]);
        for (size_t k = 0; k < e.ops.size(); ++k) {
          Value r = eval(*e.args[k + 1]);
          const std::string& op = e.ops[k];
          bool ok;
          if (op == "==") ok = equals(l, r);
          else if (op == "!=") ok = !equals(l, r);
          else if (op == "in") ok = contains(r, l);
          else if (op == "not in") ok = !contains(r, l);
          else {
            if (l.is_undefined()) fail_undefined(l);
            if (r.is_undefined()) fail_undefined(r);
            const int c = compare(l, r);
            ok = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
          }
          if (!ok) return Value::boolean(false);
          l = std::move(r);
        }
        return Value::boolean(true);
      }
      case ExprKind::kCond:
        if (truthy(eval(*e.args[1]))) return eval(*e.args[0]);
        return e.args[2] ? eval(*e.args[2]) : Value::undefined();
    }
    return Value::undefined();
  }

  std::vector<Scope> scopes_;
  int64_t steps_left_;
  int macro_depth_ = 0;
};

}  // namespace

std::string render_template(const Template& t, const Dict& globals, int64_t max_steps) {
  return Interpreter(globals, max_steps).render(t);
}

}  // namespace slotlm::tok::jinja
