// SPDX-License-Identifier: MIT
// Whitespace rules follow jinja2/lexer.py (3.1): `-` strips all whitespace on that side, `+`
// disables lstrip/trim, lstrip_blocks removes spaces/tabs before `{%`/`{#` when only they sit
// between the line start and the tag, trim_blocks removes one "\n" after `%}`/`#}`.
#include "tokenizer/jinja_lexer.h"

#include <cctype>
#include <cstdlib>

#include "core/error.h"
#include "tokenizer/jinja_value.h"

namespace slotlm::tok::jinja {
namespace {

bool is_all_space(std::string_view s) {
  if (s.empty()) return false;
  for (char32_t c : decode_utf8(s))
    if (!is_py_space(c)) return false;
  return true;
}

// Skips Python `\s` (Unicode whitespace, as Jinja2's regexes match it) from byte `p`.
size_t skip_space(const std::string& s, size_t p) {
  while (p < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[p]);
    if (c < 0x80) {
      if (!is_py_space(c)) break;
      ++p;
      continue;
    }
    const size_t n = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    const std::vector<char32_t> cp = decode_utf8(std::string_view(s).substr(p, n));
    if (cp.size() != 1 || !is_py_space(cp[0])) break;
    p += n;
  }
  return p;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  explicit Lexer(std::string src) : src_(std::move(src)) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      const size_t tag = find_tag(pos_);
      if (tag == std::string::npos) {
        push_text(src_.substr(pos_));
        break;
      }
      const char type = src_[tag + 1];  // '{', '%' or '#'
      const char sign = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      std::string text = src_.substr(pos_, tag - pos_);
      if (sign == '-') {
        text = py_strip(text, "", false, true);
      } else if (sign != '+' && type != '{') {
        const size_t l_pos = text.rfind('\n') + 1;  // npos + 1 == 0
        if ((l_pos > 0 || line_starting_) && is_all_space(std::string_view(text).substr(l_pos)))
          text.resize(l_pos);
      }
      push_text(text);
      count_lines(pos_, tag);
      pos_ = tag + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
      if (type == '#') {
        lex_comment();
      } else if (type == '%' && is_raw_begin()) {
        lex_raw();
      } else {
        lex_tag(type == '{');
      }
    }
    out_.push_back(Token{TokKind::kEof, "", line_});
    return std::move(out_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t p = src_.find('{', from); p != std::string::npos; p = src_.find('{', p + 1))
      if (p + 1 < src_.size() && (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#'))
        return p;
    return std::string::npos;
  }

  void push_text(const std::string& text) {
    if (!text.empty()) out_.push_back(Token{TokKind::kText, text, line_});
  }

  void count_lines(size_t from, size_t to) {
    for (size_t k = from; k < to && k < src_.size(); ++k) line_ += src_[k] == '\n';
  }

  // After a block or comment end marker at `p` (the `%` or `#` of `%}`), preceded by `sign`.
  void finish_block_end(size_t after, char sign) {
    size_t end = after;
    if (sign == '-') {
      end = skip_space(src_, after);
    } else if (sign != '+' && end < src_.size() && src_[end] == '\n') {
      ++end;  // trim_blocks
    }
    count_lines(pos_, end);
    line_starting_ = end > 0 && src_[end - 1] == '\n';
    pos_ = end;
  }

  void lex_comment() {
    const size_t close = src_.find("#}", pos_);
    if (close == std::string::npos) fail("line ", line_, ": unclosed comment '{#'");
    const char sign = close > pos_ ? src_[close - 1] : '\0';
    finish_block_end(close + 2, sign);
  }

  bool is_raw_begin() const {
    size_t p = skip_space(src_, pos_);
    if (src_.compare(p, 3, "raw") != 0) return false;
    p = skip_space(src_, p + 3);
    if (p < src_.size() && src_[p] == '-') ++p;
    return src_.compare(p, 2, "%}") == 0;
  }

  void lex_raw() {
    size_t p = skip_space(src_, pos_) + 3;
    p = skip_space(src_, p);
    const bool strip = src_[p] == '-';
    p += strip ? 3 : 2;
    if (strip) p = skip_space(src_, p);
    count_lines(pos_, p);
    // Find `{%[-+]? endraw [-+]?%}`.
    for (size_t q = src_.find("{%", p); q != std::string::npos; q = src_.find("{%", q + 1)) {
      size_t r = q + 2;
      const char sign = r < src_.size() ? src_[r] : '\0';
      if (sign == '-' || sign == '+') ++r;
      r = skip_space(src_, r);
      if (src_.compare(r, 6, "endraw") != 0) continue;
      r = skip_space(src_, r + 6);
      char end_sign = '\0';
      if (r < src_.size() && (src_[r] == '-' || src_[r] == '+')) end_sign = src_[r++];
      if (src_.compare(r, 2, "%}") != 0) continue;
      std::string text = src_.substr(p, q - p);
      if (sign == '-') {
        text = py_strip(text, "", false, true);
      } else if (sign != '+') {
        const size_t l_pos = text.rfind('\n') + 1;
        if (l_pos > 0 && is_all_space(std::string_view(text).substr(l_pos))) text.resize(l_pos);
      }
      push_text(text);
      pos_ = p;
      finish_block_end(r + 2, end_sign);
      return;
    }
    fail("line ", line_, ": unclosed '{% raw %}' (missing '{% endraw %}')");
  }

  void lex_tag(bool is_var) {
    const int open_line = line_;
    out_.push_back(Token{is_var ? TokKind::kVarBegin : TokKind::kBlockBegin, "", line_});
    int depth = 0;
    while (true) {
      const size_t p = skip_space(src_, pos_);
      count_lines(pos_, p);
      pos_ = p;
      if (pos_ >= src_.size())
        fail("line ", open_line, ": unclosed tag '", is_var ? "{{" : "{%",
             "' (unexpected end of template)");
      if (depth == 0 && try_tag_end(is_var)) return;
      lex_expr_token(depth);
    }
  }

  bool try_tag_end(bool is_var) {
    const char* close = is_var ? "}}" : "%}";
    char sign = '\0';
    size_t p = pos_;
    if (src_[p] == '-' || (!is_var && src_[p] == '+')) sign = src_[p++];
    if (src_.compare(p, 2, close) != 0) return false;
    out_.push_back(Token{is_var ? TokKind::kVarEnd : TokKind::kBlockEnd, "", line_});
    if (is_var) {
      const size_t end = sign == '-' ? skip_space(src_, p + 2) : p + 2;
      count_lines(pos_, end);
      line_starting_ = false;
      if (sign == '-' && end > p + 2 && src_[end - 1] == '\n') line_starting_ = true;
      pos_ = end;
    } else {
      finish_block_end(p + 2, sign);
    }
    return true;
  }

  void lex_expr_token(int& depth) {
    const char c = src_[pos_];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t e = pos_;
      while (e < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[e])) || src_[e] == '_'))
        ++e;
      out_.push_back(Token{TokKind::kName, src_.substr(pos_, e - pos_), line_});
      pos_ = e;
      return;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) return lex_number();
    if (c == '\'' || c == '"') return lex_string();
    static const char* const kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%",
                                       "~",  "<",  ">",  "=",  ".",  ",", ":", "|", "(", ")", "[",
                                       "]",  "{",  "}"};
    for (const char* op : kOps) {
      const std::string_view o(op);
      if (src_.compare(pos_, o.size(), o) != 0) continue;
      if (o == "(" || o == "[" || o == "{") ++depth;
      if (o == ")" || o == "]" || o == "}") {
        if (depth == 0) fail("line ", line_, ": unexpected '", o, "'");
        --depth;
      }
      out_.push_back(Token{TokKind::kOp, std::string(o), line_});
      pos_ += o.size();
      return;
    }
    fail("line ", line_, ": unexpected character '", std::string(1, c), "' in tag");
  }

  void lex_number() {
    size_t e = pos_;
    const auto digits = [&] {
      while (e < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_'))
        ++e;
    };
    digits();
    bool is_float = false;
    if (e + 1 < src_.size() && src_[e] == '.' && std::isdigit(static_cast<unsigned char>(src_[e + 1]))) {
      is_float = true;
      ++e;
      digits();
    }
    if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t x = e + 1;
      if (x < src_.size() && (src_[x] == '+' || src_[x] == '-')) ++x;
      if (x < src_.size() && std::isdigit(static_cast<unsigned char>(src_[x]))) {
        is_float = true;
        e = x;
        digits();
      }
    }
    std::string num;
    for (size_t k = pos_; k < e; ++k)
      if (src_[k] != '_') num += src_[k];
    Token t{is_float ? TokKind::kFloat : TokKind::kInt, num, line_};
    if (is_float) {
      t.f = std::strtod(num.c_str(), nullptr);
    } else {
      t.i = std::strtoll(num.c_str(), nullptr, 10);
    }
    out_.push_back(t);
    pos_ = e;
  }

  // Decodes a quoted literal like Python's "unicode-escape" codec, as Jinja2 does.
  void lex_string() {
    const char q = src_[pos_];
    const int start_line = line_;
    std::string val;
    size_t p = pos_ + 1;
    while (true) {
      if (p >= src_.size()) fail("line ", start_line, ": unterminated string literal");
      const char c = src_[p];
      if (c == q) break;
      if (c == '\n') ++line_;
      if (c != '\\' || p + 1 >= src_.size()) {
        val += c;
        ++p;
        continue;
      }
      const char e = src_[p + 1];
      p += 2;
      switch (e) {
        case 'n': val += '\n'; break;
        case 't': val += '\t'; break;
        case 'r': val += '\r'; break;
        case '\\': val += '\\'; break;
        case '\'': val += '\''; break;
        case '"': val += '"'; break;
        case 'a': val += '\a'; break;
        case 'b': val += '\b'; break;
        case 'f': val += '\f'; break;
        case 'v': val += '\v'; break;
        case '\n': ++line_; break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          char32_t cp = 0;
          for (int k = 0; k < n; ++k) {
            const int h = p + k < src_.size() ? hex_value(src_[p + k]) : -1;
            if (h < 0) fail("line ", line_, ": truncated \\", std::string(1, e), " escape in string");
            cp = cp * 16 + h;
          }
          p += n;
          append_utf8(val, cp);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            char32_t cp = e - '0';
            for (int k = 0; k < 2 && p < src_.size() && src_[p] >= '0' && src_[p] <= '7'; ++k)
              cp = cp * 8 + (src_[p++] - '0');
            append_utf8(val, cp);
          } else {
            val += '\\';
            val += e;
          }
      }
    }
    out_.push_back(Token{TokKind::kString, val, start_line});
    pos_ = p + 1;
  }

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> out_;
};

// Jinja2 3.x: "\r\n", "\r" and "\n" all become "\n"; one trailing newline is dropped.
std::string normalize_source(const std::string& src) {
  std::string out;
  out.reserve(src.size());
  for (size_t k = 0; k < src.size(); ++k) {
    if (src[k] == '\r') {
      out += '\n';
      if (k + 1 < src.size() && src[k + 1] == '\n') ++k;
    } else {
      out += src[k];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

std::vector<Token> lex_template(const std::string& src) { return Lexer(normalize_source(src)).run(); }

}  // namespace slotlm::tok::jinja
