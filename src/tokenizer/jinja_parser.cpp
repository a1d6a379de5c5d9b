// SPDX-License-Identifier: MIT
// Precedence follows jinja2/parser.py (3.1), loosest first: `x if c else y`, or, and, not,
// comparisons/in, + -, ~, * / // %, **, unary - +, then postfix (. [] ()) and filters/tests.
// So `a + b | trim` is `a + (b | trim)` and `not x is defined` is `not (x is defined)`.
#include "tokenizer/jinja_parser.h"

#include "core/error.h"

namespace slotlm::tok::jinja {
namespace {

// Nesting limit for expressions and blocks, so that hostile input cannot overflow the stack.
constexpr int kMaxDepth = 200;

class Parser {
 public:
  explicit Parser(const std::vector<Token>& toks) : toks_(toks) {}

  Template run() {
    Template t;
    std::string end = parse_body(t.body, {});
    if (!end.empty()) fail("line ", cur().line, ": unexpected '{% ", end, " %}'");
    return t;
  }

 private:
  const Token& cur() const { return toks_[pos_]; }
  const Token& peek(size_t k = 1) const { return toks_[std::min(pos_ + k, toks_.size() - 1)]; }
  bool is_op(const char* op) const { return cur().kind == TokKind::kOp && cur().text == op; }
  bool is_name(const char* n) const { return cur().kind == TokKind::kName && cur().text == n; }
  const Token& next() { return toks_[pos_ < toks_.size() - 1 ? pos_++ : pos_]; }

  [[noreturn]] void unexpected(const char* wanted) const {
    const Token& t = cur();
    std::string got;
    switch (t.kind) {
      case TokKind::kEof: got = "end of template"; break;
      case TokKind::kVarEnd: got = "'}}'"; break;
      case TokKind::kBlockEnd: got = "'%}'"; break;
      case TokKind::kText: got = "template text"; break;
      case TokKind::kString: got = "string literal"; break;
      default: got = "'" + t.text + "'";
    }
    fail("line ", t.line, ": expected ", wanted, ", got ", got);
  }
  void expect_op(const char* op) {
    if (!is_op(op)) unexpected((std::string("'") + op + "'").c_str());
    next();
  }
  std::string expect_name() {
    if (cur().kind != TokKind::kName) unexpected("a name");
    return next().text;
  }
  void expect_block_end() {
    if (cur().kind != TokKind::kBlockEnd) unexpected("'%}'");
    next();
  }

  // Parses statements until one of `ends` (e.g. "elif", "endif") opens a block; consumes only
  // `{%` and that keyword, returns it ("" at end of template).
  std::string parse_body(Body& body, std::initializer_list<const char*> ends) {
    while (true) {
      const Token& t = cur();
      if (t.kind == TokKind::kEof) {
        if (ends.size() != 0)
          fail("line ", t.line, ": unexpected end of template, expected '{% ", *ends.begin(),
               " %}' (unclosed block)");
        return "";
      }
      if (t.kind == TokKind::kText) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::kText;
        s->line = t.line;
        s->text = t.text;
        body.push_back(std::move(s));
        next();
      } else if (t.kind == TokKind::kVarBegin) {
        next();
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::kOutput;
        s->line = t.line;
        s->expr = parse_tuple();
        if (cur().kind != TokKind::kVarEnd) unexpected("'}}'");
        next();
        body.push_back(std::move(s));
      } else if (t.kind == TokKind::kBlockBegin) {
        next();
        if (cur().kind != TokKind::kName) unexpected("a statement name");
        const std::string kw = cur().text;
        for (const char* e : ends)
          if (kw == e) {
            next();
            return kw;
          }
        body.push_back(parse_statement());
      } else {
        unexpected("'{{' or '{%'");
      }
    }
  }

  std::unique_ptr<Stmt> parse_statement() {
    DepthGuard guard(depth_, cur().line);
    auto s = std::make_unique<Stmt>();
    s->line = cur().line;
    const std::string kw = next().text;
    if (kw == "if") {
      s->kind = StmtKind::kIf;
      std::string end = "elif";
      while (end == "elif") {
        s->conds.push_back(parse_tuple());
        expect_block_end();
        s->bodies.emplace_back();
        end = parse_body(s->bodies.back(), {"endif", "elif", "else"});
      }
      if (end == "else") {
        expect_block_end();
        parse_body(s->else_body, {"endif"});
      }
    } else if (kw == "for") {
      s->kind = StmtKind::kFor;
      parse_targets(s->targets);
      if (!is_name("in")) unexpected("'in'");
      next();
      s->expr = parse_tuple(/*with_cond=*/false);
      if (is_name("if")) {
        next();
        s->cond = parse_expression();
      }
      if (is_name("recursive"))
        fail("line ", s->line, ": unsupported construct 'for ... recursive'");
      expect_block_end();
      s->bodies.emplace_back();
      if (parse_body(s->bodies[0], {"endfor", "else"}) == "else") {
        expect_block_end();
        parse_body(s->else_body, {"endfor"});
      }
    } else if (kw == "set") {
      parse_targets(s->targets);
      if (s->targets.size() == 1 && is_op(".")) {
        next();
        s->attr = expect_name();
      }
      if (is_op("=")) {
        next();
        s->kind = StmtKind::kSet;
        s->expr = parse_tuple();
      } else {
        if (s->targets.size() != 1 || !s->attr.empty()) unexpected("'='");
        if (cur().kind != TokKind::kBlockEnd)
          fail("line ", s->line, ": unsupported construct 'set' block with a filter");
        s->kind = StmtKind::kSetBlock;
        expect_block_end();
        s->bodies.emplace_back();
        parse_body(s->bodies[0], {"endset"});
      }
    } else if (kw == "macro") {
      s->kind = StmtKind::kMacro;
      s->text = expect_name();
      expect_op("(");
      while (!is_op(")")) {
        if (!s->targets.empty()) expect_op(",");
        if (is_op(")")) break;
        s->targets.push_back(expect_name());
        ExprPtr def;
        if (is_op("=")) {
          next();
          def = parse_expression();
        }
        s->defaults.push_back(std::move(def));
      }
      next();
      expect_block_end();
      s->bodies.emplace_back();
      parse_body(s->bodies[0], {"endmacro"});
    } else if (kw == "break" || kw == "continue") {
      s->kind = kw == "break" ? StmtKind::kBreak : StmtKind::kContinue;
    } else if (kw == "generation") {
      s->kind = StmtKind::kPlain;
      expect_block_end();
      s->bodies.emplace_back();
      parse_body(s->bodies[0], {"endgeneration"});
    } else if (kw.rfind("end", 0) == 0 || kw == "elif" || kw == "else") {
      fail("line ", s->line, ": unexpected '{% ", kw, " %}' (no open block to close)");
    } else {
      fail("line ", s->line, ": unsupported construct '{% ", kw, " %}'");
    }
    // Every statement's opening tag or end tag finishes with `%}`.
    expect_block_end();
    return s;
  }

  void parse_targets(std::vector<std::string>& targets) {
    const bool paren = is_op("(");
    if (paren) next();
    targets.push_back(expect_name());
    while (is_op(",")) {
      next();
      targets.push_back(expect_name());
    }
    if (paren) expect_op(")");
  }

  ExprPtr make(ExprKind kind, int line, std::string name = {}) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    e->name = std::move(name);
    return e;
  }

  // Comma-separated expressions form a tuple (as in `{{ a, b }}` or `for x in a, b`).
  ExprPtr parse_tuple(bool with_cond = true, bool explicit_parens = false) {
    const int line = cur().line;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end()) break;
      items.push_back(with_cond ? parse_expression() : parse_or());
      if (!is_op(",")) break;
      is_tuple = true;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) unexpected("an expression");
    }
    auto e = make(ExprKind::kList, line);
    e->args = std::move(items);
    e->is_tuple = true;
    return e;
  }

  bool is_tuple_end() const {
    const Token& t = cur();
    return t.kind == TokKind::kVarEnd || t.kind == TokKind::kBlockEnd || t.kind == TokKind::kEof ||
           (t.kind == TokKind::kOp && t.text == ")") || (t.kind == TokKind::kName && t.text == "if");
  }

  ExprPtr parse_expression() {
    const int line = cur().line;
    ExprPtr e = parse_or();
    while (is_name("if")) {
      next();
      auto c = make(ExprKind::kCond, line);
      ExprPtr cond = parse_or();
      ExprPtr other;
      if (is_name("else")) {
        next();
        other = parse_expression();
      }
      c->args.push_back(std::move(e));
      c->args.push_back(std::move(cond));
      c->args.push_back(std::move(other));
      e = std::move(c);
    }
    return e;
  }

  ExprPtr binary(const std::string& op, ExprPtr l, ExprPtr r, int line) {
    auto e = make(ExprKind::kBinary, line, op);
    e->args.push_back(std::move(l));
    e->args.push_back(std::move(r));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr l = parse_and();
    while (is_name("or")) {
      const int line = next().line;
      l = binary("or", std::move(l), parse_and(), line);
    }
    return l;
  }
  ExprPtr parse_and() {
    ExprPtr l = parse_not();
    while (is_name("and")) {
      const int line = next().line;
      l = binary("and", std::move(l), parse_not(), line);
    }
    return l;
  }
  ExprPtr parse_not() {
    DepthGuard guard(depth_, cur().line);
    if (is_name("not")) {
      auto e = make(ExprKind::kUnary, next().line, "not");
      e->args.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    const int line = cur().line;
    ExprPtr first = parse_math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (cur().kind == TokKind::kOp &&
          (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == "<=" ||
           cur().text == ">" || cur().text == ">=")) {
        op = next().text;
      } else if (is_name("in")) {
        next();
        op = "in";
      } else if (is_name("not") && peek().kind == TokKind::kName && peek().text == "in") {
        next();
        next();
        op = "not in";
      } else {
        break;
      }
      if (!cmp) {
        cmp = make(ExprKind::kCompare, line);
        cmp->args.push_back(std::move(first));
      }
      cmp->ops.push_back(op);
      cmp->args.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }
  ExprPtr parse_math1() {
    ExprPtr l = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      l = binary(t.text, std::move(l), parse_concat(), t.line);
    }
    return l;
  }
  ExprPtr parse_concat() {
    ExprPtr l = parse_math2();
    while (is_op("~")) {
      const int line = next().line;
      l = binary("~", std::move(l), parse_math2(), line);
    }
    return l;
  }
  ExprPtr parse_math2() {
    ExprPtr l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      l = binary(t.text, std::move(l), parse_pow(), t.line);
    }
    return l;
  }
  ExprPtr parse_pow() {
    ExprPtr l = parse_unary(true);
    while (is_op("**")) {
      const int line = next().line;
      l = binary("**", std::move(l), parse_unary(true), line);
    }
    return l;
  }
  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(depth_, cur().line);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      e = make(ExprKind::kUnary, t.line, t.text);
      e->args.push_back(parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    return with_filter ? parse_filter_expr(std::move(e)) : std::move(e);
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    auto e = make(ExprKind::kLiteral, t.line);
    switch (t.kind) {
      case TokKind::kName:
        next();
        if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False") {
          e->value = Value::boolean(t.text[0] == 't' || t.text[0] == 'T');
        } else if (t.text == "none" || t.text == "None") {
          e->value = Value::none();
        } else {
          e->kind = ExprKind::kName;
          e->name = t.text;
        }
        return e;
      case TokKind::kString: {
        std::string s;
        while (cur().kind == TokKind::kString) s += next().text;  // adjacent literals join
        e->value = Value::string(std::move(s));
        return e;
      }
      case TokKind::kInt: e->value = Value::integer(next().i); return e;
      case TokKind::kFloat: e->value = Value::number(next().f); return e;
      case TokKind::kOp:
        if (t.text == "(") {
          next();
          ExprPtr inner = parse_tuple(true, true);
          expect_op(")");
          return inner;
        }
        if (t.text == "[" || t.text == "{") {
          const bool is_dict = t.text == "{";
          const char* close = is_dict ? "}" : "]";
          next();
          e->kind = is_dict ? ExprKind::kDict : ExprKind::kList;
          while (!is_op(close)) {
            if (!e->args.empty()) expect_op(",");
            if (is_op(close)) break;
            e->args.push_back(parse_expression());
            if (is_dict) {
              expect_op(":");
              e->args.push_back(parse_expression());
            }
          }
          next();
          return e;
        }
        break;
      default: break;
    }
    unexpected("an expression");
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (is_op(".")) {
        const int line = next().line;
        auto a = make(ExprKind::kAttr, line);
        if (cur().kind == TokKind::kInt) {  // `x.0` is `x[0]`
          a->kind = ExprKind::kIndex;
          a->args.push_back(std::move(e));
          a->args.push_back(make(ExprKind::kLiteral, line));
          a->args.back()->value = Value::integer(next().i);
        } else {
          a->name = expect_name();
          a->args.push_back(std::move(e));
        }
        e = std::move(a);
      } else if (is_op("[")) {
        e = parse_subscript(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e), ExprKind::kCall, "");
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr obj) {
    const int line = next().line;  // '['
    std::vector<ExprPtr> parts(1);
    bool is_slice = false;
    while (!is_op("]")) {
      if (is_op(":")) {
        next();
        is_slice = true;
        if (parts.size() == 3) unexpected("']'");
        parts.emplace_back();
      } else {
        if (parts.back()) unexpected("':' or ']'");
        parts.back() = is_slice ? parse_expression() : parse_tuple();
      }
    }
    next();
    if (!is_slice && !parts[0]) unexpected("an index");
    auto e = make(is_slice ? ExprKind::kSlice : ExprKind::kIndex, line);
    e->args.push_back(std::move(obj));
    parts.resize(is_slice ? 3 : 1);
    for (auto& p : parts) e->args.push_back(std::move(p));
    return e;
  }

  // `(args, kw=value)` after a callee, filter or test; `first` is args[0].
  ExprPtr parse_call(ExprPtr first, ExprKind kind, std::string name) {
    auto e = make(kind, cur().line, std::move(name));
    e->args.push_back(std::move(first));
    if (!is_op("(")) return e;
    next();
    while (!is_op(")")) {
      if (e->args.size() > 1 || !e->kwargs.empty()) expect_op(",");
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) fail("line ", cur().line, ": unsupported construct '*args'");
      if (cur().kind == TokKind::kName && peek().kind == TokKind::kOp && peek().text == "=") {
        std::string key = next().text;
        next();
        e->kwargs.emplace_back(std::move(key), parse_expression());
      } else {
        if (!e->kwargs.empty())
          fail("line ", cur().line, ": positional argument after keyword argument");
        e->args.push_back(parse_expression());
      }
    }
    next();
    return e;
  }

  std::string dotted_name() {
    std::string n = expect_name();
    while (is_op(".")) {
      next();
      n += '.';
      n += expect_name();
    }
    return n;
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        next();
        e = parse_call(std::move(e), ExprKind::kFilter, dotted_name());
      } else if (is_name("is")) {
        next();
        bool negated = false;
        if (is_name("not")) {
          next();
          negated = true;
        }
        const std::string test = dotted_name();
        ExprPtr t;
        const Token& c = cur();
        const bool bare_arg = (c.kind == TokKind::kName || c.kind == TokKind::kString ||
                               c.kind == TokKind::kInt || c.kind == TokKind::kFloat ||
                               (c.kind == TokKind::kOp && (c.text == "[" || c.text == "{"))) &&
                              !is_name("else") && !is_name("or") && !is_name("and") &&
                              !is_name("is");
        if (bare_arg) {  // `x is divisibleby 3`
          t = make(ExprKind::kTest, c.line, test);
          t->args.push_back(std::move(e));
          t->args.push_back(parse_postfix(parse_primary()));
        } else {
          t = parse_call(std::move(e), ExprKind::kTest, test);
        }
        t->negated = negated;
        e = std::move(t);
      } else if (is_op("(")) {
        e = parse_call(std::move(e), ExprKind::kCall, "");
      } else {
        return e;
      }
    }
  }

  struct DepthGuard {
    DepthGuard(int& depth, int line) : depth_(depth) {
      if (++depth_ > kMaxDepth) fail("line ", line, ": template nested more than ", kMaxDepth, " deep");
    }
    ~DepthGuard() { --depth_; }
    int& depth_;
  };

  const std::vector<Token>& toks_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

Template parse_template(const std::vector<Token>& tokens) { return Parser(tokens).run(); }

}  // namespace slotlm::tok::jinja
