// SPDX-License-Identifier: MIT
// Chat templates: byte-exact against Jinja2 goldens (tools/render_chat_goldens.py), built-in
// templates, and one-line errors for what the interpreter does not support.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json_file.h"
#include "test_util.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/jinja_eval.h"
#include "tokenizer/jinja_lexer.h"
#include "tokenizer/jinja_parser.h"

namespace slotlm::tok {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct GoldenCase {
  std::string name;
  std::vector<ChatMessage> messages;
  ChatTemplateOptions opt;
  bool builtin = false;
  bool expect_error = false;
  std::string expected;
  std::string template_source;  // per-case source (constructs.json)
};

struct Golden {
  std::string template_path;    // under ../shared, "" when the source is inline
  std::string template_source;  // inline source (DeepSeek-R1)
  std::vector<GoldenCase> cases;
};

Golden load_golden(const std::string& name) {
  const Json j = read_json_file(test::data_path("chat/" + name + ".json"));
  Golden g;
  if (j["template_path"].is_string()) g.template_path = j["template_path"].get<std::string>();
  if (j.contains("template_source")) g.template_source = j["template_source"].get<std::string>();
  for (const Json& c : j["cases"]) {
    GoldenCase gc;
    gc.name = c["name"].get<std::string>();
    for (const Json& m : c["messages"])
      gc.messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    const Json& o = c["options"];
    gc.opt.add_generation_prompt = o["add_generation_prompt"].get<bool>();
    gc.opt.bos_token = o["bos_token"].get<std::string>();
    gc.opt.eos_token = o["eos_token"].get<std::string>();
    gc.opt.date_string = o.value("date_string", "");
    gc.opt.now_unix = o.value("now_unix", int64_t{0});
    gc.opt.tools_json = o.value("tools_json", "");
    gc.builtin = c.value("builtin", false);
    gc.expect_error = c.contains("expected_error");
    if (!gc.expect_error) gc.expected = c["expected"].get<std::string>();
    gc.template_source = c.value("template_source", "");
    g.cases.push_back(std::move(gc));
  }
  return g;
}

// Renders every case of `g` with `source` and compares byte for byte; returns the number checked.
int check_golden(const Golden& g, const std::string& source, bool builtin_only = false) {
  int n = 0;
  for (const GoldenCase& c : g.cases) {
    if (builtin_only && !c.builtin) continue;
    const std::string& src = c.template_source.empty() ? source : c.template_source;
    if (c.expect_error) {
      EXPECT_THROW(render_chat_template(src, c.messages, c.opt), Error) << c.name;
    } else {
      try {
        EXPECT_EQ(render_chat_template(src, c.messages, c.opt), c.expected) << c.name;
      } catch (const Error& e) {
        ADD_FAILURE() << c.name << ": " << e.what();
      }
    }
    ++n;
  }
  return n;
}

TEST(ChatTemplate, Qwen25MatchesJinja2) {
  const Golden g = load_golden("qwen2.5");
  SLOTLM_REQUIRE_SHARED(path, g.template_path);
  EXPECT_EQ(check_golden(g, read_text(path)), 25);
}

TEST(ChatTemplate, Llama31MatchesJinja2) {
  const Golden g = load_golden("llama-3.1");
  SLOTLM_REQUIRE_SHARED(path, g.template_path);
  EXPECT_EQ(check_golden(g, read_text(path)), 37);
}

TEST(ChatTemplate, Llama32MatchesJinja2) {
  const Golden g = load_golden("llama-3.2");
  SLOTLM_REQUIRE_SHARED(path, g.template_path);
  EXPECT_EQ(check_golden(g, read_text(path)), 37);
}

TEST(ChatTemplate, DeepseekR1MatchesJinja2) {
  const Golden g = load_golden("deepseek-r1");
  ASSERT_FALSE(g.template_source.empty());
  EXPECT_EQ(check_golden(g, g.template_source), 13);
}

TEST(ChatTemplate, ConstructsMatchJinja2) {
  const Golden g = load_golden("constructs");
  EXPECT_GE(check_golden(g, ""), 19);
}

TEST(ChatTemplate, BuiltinsRenderLikeOfficialTemplates) {
  // The built-ins cover plain system/user/assistant chats; goldens marked "builtin" are those.
  EXPECT_GT(check_golden(load_golden("qwen2.5"), builtin_chat_template("qwen2.5"), true), 10);
  EXPECT_GT(check_golden(load_golden("llama-3.1"), builtin_chat_template("llama3"), true), 20);
  const Golden ds = load_golden("deepseek-r1");
  EXPECT_EQ(builtin_chat_template("deepseek-r1"), ds.template_source);
  EXPECT_GT(check_golden(ds, builtin_chat_template("deepseek-r1"), true), 10);
  // ChatML equals Qwen2.5 whenever the conversation brings its own system message.
  Golden with_system = load_golden("qwen2.5");
  std::erase_if(with_system.cases, [](const GoldenCase& c) {
    return c.messages.empty() || c.messages[0].role != "system";
  });
  EXPECT_GT(check_golden(with_system, builtin_chat_template("chatml"), true), 3);
}

TEST(ChatTemplate, BuiltinNames) {
  for (const std::string& name : builtin_chat_template_names())
    EXPECT_FALSE(builtin_chat_template(name).empty()) << name;
  try {
    builtin_chat_template("vicuna");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vicuna"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("chatml"), std::string::npos);
  }
}

TEST(ChatTemplate, QwenDefaultSystemPrompt) {
  const std::vector<ChatMessage> msgs = {{"user", "Hi"}};
  EXPECT_EQ(render_chat_template(builtin_chat_template("qwen2.5"), msgs, {}),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
            "assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, StrftimeNowUsesTodayWhenNotPinned) {
  char buf[64];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%d %b %Y", &tm);
  const std::vector<ChatMessage> msgs = {{"user", "Hi"}};
  const std::string out = render_chat_template("{{ strftime_now('%d %b %Y') }}", msgs, {});
  EXPECT_EQ(out, buf);
  ChatTemplateOptions opt;
  opt.now_unix = 1764151200;  // 2025-11-26 10:00 UTC
  EXPECT_EQ(render_chat_template("{{ strftime_now('%Y-%m-%d %H:%M') }}", msgs, opt),
            "2025-11-26 10:00");
}

// Expects `src` to fail with a one-line Error mentioning every string of `needles`.
void expect_error(const std::string& src, std::vector<std::string> needles) {
  const std::vector<ChatMessage> msgs = {{"user", "Hi"}};
  try {
    const std::string out = render_chat_template(src, msgs, {});
    ADD_FAILURE() << "no error for: " << src << " (rendered: " << out << ")";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const std::string& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << msg;
  }
}

TEST(ChatTemplate, UnsupportedOrBrokenTemplatesGiveOneLineErrors) {
  expect_error("{{ messages | frobnicate }}", {"unknown filter 'frobnicate'", "--chat-template"});
  expect_error("{% if x is frob %}{% endif %}", {"unknown test 'frob'", "--chat-template"});
  expect_error("{{ 1 + }}", {"line 1", "expected an expression", "--chat-template"});
  expect_error("line\n{% if true %}abc", {"unclosed block", "endif", "--chat-template"});
  expect_error("{% for m in messages %}{{ m }}", {"endfor", "--chat-template"});
  expect_error("{{ messages", {"unclosed tag", "--chat-template"});
  expect_error("{# no end", {"unclosed comment"});
  expect_error("a\n\n{% include 'other.jinja' %}", {"line 3", "unsupported construct", "include",
                                                     "--chat-template"});
  expect_error("{% endif %}", {"unexpected '{% endif %}'"});
  expect_error("{{ 'a' + none }}", {"unsupported operand", "NoneType"});
  expect_error("{{ undefined_fn() }}", {"unknown function 'undefined_fn'"});
  expect_error("{{ messages.nope.deeper }}", {"'nope' is undefined"});
  expect_error("{{ 'x'.frob() }}", {"method 'frob' of 'str'"});
  expect_error("{{ 'unterminated }}", {"unterminated string"});
}

TEST(ChatTemplate, RunawayLoopsStopAtTheBudget) {
  const std::string src = "{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}";
  const jinja::Template t = jinja::parse_template(jinja::lex_template(src));
  EXPECT_NO_THROW(jinja::render_template(t, {}, 20'000));
  try {
    jinja::render_template(t, {}, 5'000);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("loop budget"), std::string::npos) << e.what();
  }
}

TEST(ChatTemplate, RaiseExceptionReportsTheTemplateMessage) {
  expect_error("{{ raise_exception('Conversation roles must alternate\\nuser/assistant') }}",
               {"chat template raised an error: Conversation roles must alternate\\nuser/assistant"});
}

// Renders `src` and accepts either text or an Error: anything else (crash, other exception) fails.
void render_or_error(const std::string& src) {
  const std::vector<ChatMessage> msgs = {{"system", "s"}, {"user", "u"}, {"assistant", "a"}};
  try {
    render_chat_template(src, msgs, {});
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
}

TEST(ChatTemplate, TruncatedAndMutatedTemplatesNeverCrash) {
  // Prefixes and single-character mutations of the built-in (and, if present, official) templates.
  const std::string kChars = "{}%#-+()[]'\".|~=!<>: \nx0";
  uint32_t rng = 12345;
  std::vector<std::string> sources;
  for (const std::string& name : builtin_chat_template_names())
    sources.push_back(builtin_chat_template(name));
  for (const char* rel : {"tokenizers/qwen2.5/chat_template.jinja",
                          "tokenizers/llama3/chat_template.llama-3.2-3b-instruct.jinja"}) {
    const std::string path = test::shared_path(rel);  // optional: more constructs when present
    if (test::file_exists(path)) sources.push_back(read_text(path));
  }
  for (const std::string& src : sources) {
    for (size_t n = 0; n <= src.size(); n += 5) render_or_error(src.substr(0, n));
    for (int k = 0; k < 600; ++k) {
      rng = rng * 1664525u + 1013904223u;
      std::string m = src;
      m[(rng >> 8) % m.size()] = kChars[(rng >> 20) % kChars.size()];
      render_or_error(m);
    }
  }
}

TEST(ChatTemplate, DeepNestingIsAnErrorNotACrash) {
  expect_error(std::string("{{ ") + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}",
               {"nested more than"});
  std::string blocks;
  for (int k = 0; k < 5000; ++k) blocks += "{% if true %}";
  expect_error(blocks, {"nested more than"});
  expect_error(std::string("{{ ") + std::string(5000, '-') + "1 }}", {"nested more than"});
  expect_error("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", {"recursed too deeply"});
}

}  // namespace
}  // namespace slotlm::tok
