// SPDX-License-Identifier: MIT
// Parser of the chat-template interpreter (tokenizer layer): Jinja2 tokens -> statement/expression
// tree, with Jinja2's operator precedence. Anything outside the supported subset is an Error.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_lexer.h"
#include "tokenizer/jinja_value.h"

namespace slotlm::tok::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  kLiteral,  // `value`
  kName,     // `name`
  kList,     // [args...]; `is_tuple` for (a, b)
  kDict,     // {args[0]: args[1], ...}
  kAttr,     // args[0].name
  kIndex,    // args[0][args[1]]
  kSlice,    // args[0][args[1]:args[2]:args[3]] (null parts omitted)
  kCall,     // args[0](args[1..], kwargs)
  kFilter,   // args[0] | name(args[1..], kwargs)
  kTest,     // args[0] is [not] name(args[1..])
  kUnary,    // name in {"-", "+", "not"} applied to args[0]
  kBinary,   // args[0] name args[1]; name in + - * / // % ** ~ and or
  kCompare,  // args[0] ops[0] args[1] ops[1] args[2] ... (chained, Python style)
  kCond,     // args[0] if args[1] else args[2] (args[2] null: undefined)
};

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  int line = 0;
  Value value;                     // kLiteral
  std::string name;                // name / attribute / filter / test / operator
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;    // kCompare: "==", "!=", "<", "<=", ">", ">=", "in", "not in"
  bool negated = false;            // kTest with `is not`
  bool is_tuple = false;           // kList
};

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

enum class StmtKind {
  kText,      // text
  kOutput,    // {{ expr }}
  kIf,        // if conds[0] body[0] elif conds[1] body[1] ... else else_body
  kFor,       // for targets in expr [if cond] body [else else_body]
  kSet,       // set targets = expr   or   set target.attr = expr (attr non-empty)
  kSetBlock,  // set targets[0] %} body {% endset
  kMacro,     // macro name(params, defaults) body
  kBreak,
  kContinue,
  kPlain,     // a block that just renders its body (HF's {% generation %})
};

struct Stmt {
  StmtKind kind = StmtKind::kText;
  int line = 0;
  std::string text;                 // kText; kMacro name
  ExprPtr expr;                     // kOutput, kFor iterable, kSet value, kFor filter in cond
  ExprPtr cond;                     // kFor `if` filter
  std::vector<ExprPtr> conds;       // kIf
  std::vector<Body> bodies;         // kIf branches; kFor/kSetBlock/kMacro/kPlain use bodies[0]
  Body else_body;                   // kIf, kFor
  std::vector<std::string> targets; // kFor/kSet names (several = tuple unpacking); kMacro params
  std::string attr;                 // kSet `ns.attr`
  std::vector<ExprPtr> defaults;    // kMacro parameter defaults (null = none), parallel to targets
};

struct Template {
  Body body;
};

// Parses tokens from `lex_template`. Throws Error "line N: ..." for a syntax error, a missing
// end tag or an unsupported statement (naming it).
Template parse_template(const std::vector<Token>& tokens);

}  // namespace slotlm::tok::jinja
