// SPDX-License-Identifier: MIT
#include "server/protocol.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"

namespace slotlm::server {

using nlohmann::json;

namespace {

const char* status_type(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 413: return "invalid_request_error";
    case 429: return "rate_limit_error";
    case 503: return "server_unavailable_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

[[noreturn]] void bad(const std::string& param, const std::string& msg) {
  throw ApiError(400, msg, param);
}

const char* type_name(const json& v) {
  return v.type_name();  // "null", "object", "array", "string", "boolean", "number"
}

double get_number(const json& v, const std::string& param) {
  if (!v.is_number()) bad(param, str_cat("'", param, "' must be a number, got ", type_name(v)));
  const double x = v.get<double>();
  if (!std::isfinite(x)) bad(param, str_cat("'", param, "' must be finite"));
  return x;
}

// Integers may arrive as 5 or 5.0 (JavaScript clients); 5.5 and out-of-range values are refused.
int64_t get_integer(const json& v, const std::string& param) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
      bad(param, str_cat("'", param, "' is out of range"));
    return v.get<int64_t>();
  }
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (std::isfinite(x) && x == std::floor(x)) {
      if (std::fabs(x) < 9.0e15) return int64_t(x);
      bad(param, str_cat("'", param, "' is out of range"));  // beyond 2^53 a double is no exact integer
    }
  }
  bad(param, str_cat("'", param, "' must be an integer, got ", v.is_number() ? "a fraction" : type_name(v)));
}

bool get_bool(const json& v, const std::string& param) {
  if (!v.is_boolean()) bad(param, str_cat("'", param, "' must be a boolean, got ", type_name(v)));
  return v.get<bool>();
}

const std::string& get_string(const json& v, const std::string& param) {
  if (!v.is_string()) bad(param, str_cat("'", param, "' must be a string, got ", type_name(v)));
  return v.get_ref<const std::string&>();
}

// Message content: a string, or an array of {"type":"text","text":...} parts (joined).
std::string parse_content(const json& v, const std::string& param) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) bad(param, str_cat("'", param, "' must be a string or an array of text parts"));
  std::string text;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string p = str_cat(param, "[", i, "]");
    const json& part = v[i];
    if (!part.is_object()) bad(p, str_cat("'", p, "' must be an object"));
    const auto type = part.find("type");
    if (type == part.end() || !type->is_string() || *type != "text")
      bad(p + ".type", str_cat("'", p, ".type' must be \"text\" (only text content is supported)"));
    const auto t = part.find("text");
    if (t == part.end()) bad(p + ".text", str_cat("'", p, ".text' is missing"));
    text += get_string(*t, p + ".text");
  }
  return text;
}

void parse_messages(const json& v, CompletionRequest& r) {
  if (!v.is_array()) bad("messages", "'messages' must be an array of {role, content} objects");
  if (v.empty()) bad("messages", "'messages' must hold at least one message");
  if (v.size() > kMaxMessages) bad("messages", str_cat("'messages' holds more than ", kMaxMessages, " messages"));
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string p = str_cat("messages[", i, "]");
    const json& m = v[i];
    if (!m.is_object()) bad(p, str_cat("'", p, "' must be an object with 'role' and 'content'"));
    const auto role = m.find("role");
    if (role == m.end()) bad(p + ".role", str_cat("'", p, ".role' is missing"));
    const std::string& rs = get_string(*role, p + ".role");
    if (rs != "system" && rs != "user" && rs != "assistant" && rs != "developer")
      bad(p + ".role", str_cat("'", p, ".role' must be one of system, user, assistant (got '", rs, "')"));
    const auto content = m.find("content");
    if (content == m.end() || content->is_null()) bad(p + ".content", str_cat("'", p, ".content' is missing"));
    // "developer" is OpenAI's newer name for the system role.
    r.messages.push_back({rs == "developer" ? "system" : rs, parse_content(*content, p + ".content")});
  }
}

void parse_prompt(const json& v, CompletionRequest& r) {
  if (v.is_string()) {
    r.prompt = v.get<std::string>();
  } else if (v.is_array() && v.size() == 1 && v[0].is_string()) {
    r.prompt = v[0].get<std::string>();
  } else if (v.is_array() && !v.empty() && v[0].is_number()) {
    for (size_t i = 0; i < v.size(); ++i) {
      const int64_t id = get_integer(v[i], str_cat("prompt[", i, "]"));
      if (id < 0 || id > std::numeric_limits<int32_t>::max()) bad("prompt", str_cat("'prompt[", i, "]' is not a token id"));
      r.prompt_ids.push_back(int32_t(id));
    }
  } else {
    bad("prompt", "'prompt' must be a string, a list of one string, or a list of token ids");
  }
  if (r.prompt.empty() && r.prompt_ids.empty()) bad("prompt", "'prompt' is empty");
}

void parse_stop(const json& v, CompletionRequest& r) {
  if (v.is_null()) return;
  std::vector<std::string> stop;
  if (v.is_string()) {
    stop.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    if (int64_t(v.size()) > kMaxStopStrings) bad("stop", str_cat("'stop' holds at most ", kMaxStopStrings, " strings"));
    for (size_t i = 0; i < v.size(); ++i) stop.push_back(get_string(v[i], str_cat("stop[", i, "]")));
  } else {
    bad("stop", "'stop' must be a string or a list of strings");
  }
  for (const auto& s : stop) {
    if (s.empty()) bad("stop", "'stop' strings must not be empty");
    if (s.size() > kMaxStopBytes) bad("stop", str_cat("'stop' strings are limited to ", kMaxStopBytes, " bytes"));
  }
  r.stop = std::move(stop);
}

void parse_slot(const json& v, CompletionRequest& r) {
  if (v.is_null()) return;
  if (!v.is_object()) bad("slot", "'slot' must be an object like {\"steps\": 5, \"lr\": 0.1}");
  r.slot_given = true;
  for (const auto& [key, val] : v.items()) {
    const std::string p = "slot." + key;
    if (key == "steps") {
      const int64_t t = get_integer(val, p);
      if (t < 0 || t > slot::kMaxSteps) bad(p, str_cat("'slot.steps' must be in [0, ", slot::kMaxSteps, "]"));
      r.slot.steps = int(t);
    } else if (key == "lr") {
      r.slot.adam.lr = get_number(val, p);
      if (!(r.slot.adam.lr > 0 && r.slot.adam.lr <= slot::kMaxLr))
        bad(p, str_cat("'slot.lr' must be in (0, ", slot::kMaxLr, "]"));
    } else if (key == "beta1" || key == "beta2") {
      const double b = get_number(val, p);
      if (!(b >= 0 && b < 1)) bad(p, str_cat("'", p, "' must be in [0, 1)"));
      (key == "beta1" ? r.slot.adam.beta1 : r.slot.adam.beta2) = b;
    } else if (key == "eps") {
      r.slot.adam.eps = get_number(val, p);
      if (!(r.slot.adam.eps > 0)) bad(p, "'slot.eps' must be > 0");
    } else if (key == "weight_decay") {
      r.slot.adam.weight_decay = get_number(val, p);
      if (!(r.slot.adam.weight_decay >= 0 && r.slot.adam.weight_decay <= slot::kMaxWeightDecay))
        bad(p, str_cat("'slot.weight_decay' must be in [0, ", slot::kMaxWeightDecay, "]"));
    } else {
      bad(p, str_cat("unknown field '", p, "' (known: steps, lr, beta1, beta2, eps, weight_decay)"));
    }
  }
  try {
    slot::validate(r.slot);
  } catch (const Error& e) {
    bad("slot", e.what());
  }
}

}  // namespace

ApiError::ApiError(int status_, std::string message, std::string param_, std::string code_, std::string type_)
    : std::runtime_error(std::move(message)),
      status(status_),
      param(std::move(param_)),
      code(std::move(code_)),
      type(type_.empty() ? status_type(status_) : std::move(type_)) {}

json error_body(const std::string& message, const std::string& type, const std::string& param,
                const std::string& code) {
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param.empty() ? json() : json(param)},
            {"code", code.empty() ? json() : json(code)}}}};
}

json error_body(const ApiError& e) { return error_body(e.what(), e.type, e.param, e.code); }

CompletionRequest parse_request(const std::string& body, Endpoint endpoint, const RequestDefaults& defaults) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    throw ApiError(400, str_cat("the request body is not valid JSON: ", e.what()), "", "invalid_json");
  }
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object", "", "invalid_json");

  CompletionRequest r;
  r.endpoint = endpoint;
  r.sampling = defaults.sampling;
  r.slot = defaults.slot;
  auto field = [&](const char* name) -> const json* {
    const auto it = j.find(name);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  };

  if (const json* v = field("model")) r.model = get_string(*v, "model");
  if (endpoint == Endpoint::kChat) {
    const json* v = field("messages");
    if (!v) bad("messages", "'messages' is required");
    parse_messages(*v, r);
  } else {
    const json* v = field("prompt");
    if (!v) bad("prompt", "'prompt' is required");
    parse_prompt(*v, r);
  }
  const json* mt = field("max_tokens");
  const char* mt_name = "max_tokens";
  if (!mt) {
    mt = field("max_completion_tokens");
    mt_name = "max_completion_tokens";
  }
  if (mt) {
    const int64_t n = get_integer(*mt, mt_name);
    if (n < 1) bad(mt_name, str_cat("'", mt_name, "' must be >= 1"));
    r.max_tokens = n;
  }
  if (const json* v = field("temperature")) {
    r.sampling.temperature = get_number(*v, "temperature");
    if (r.sampling.temperature < 0) bad("temperature", "'temperature' must be >= 0");
  }
  if (const json* v = field("top_p")) {
    r.sampling.top_p = get_number(*v, "top_p");
    if (!(r.sampling.top_p > 0 && r.sampling.top_p <= 1)) bad("top_p", "'top_p' must be in (0, 1]");
  }
  if (const json* v = field("top_k")) {
    r.sampling.top_k = get_integer(*v, "top_k");
    if (r.sampling.top_k < 0) bad("top_k", "'top_k' must be >= 0 (0 = off)");
  }
  if (const json* v = field("min_p")) {
    r.sampling.min_p = get_number(*v, "min_p");
    if (!(r.sampling.min_p >= 0 && r.sampling.min_p <= 1)) bad("min_p", "'min_p' must be in [0, 1]");
  }
  if (const json* v = field("repeat_penalty")) {
    r.sampling.repeat_penalty = get_number(*v, "repeat_penalty");
    if (!(r.sampling.repeat_penalty > 0)) bad("repeat_penalty", "'repeat_penalty' must be > 0");
  }
  if (const json* v = field("seed")) {  // -1: random, as the CLI's --seed and llama.cpp's server
    const int64_t seed = get_integer(*v, "seed");
    if (seed < -1) bad("seed", "'seed' must be -1 (random) or >= 0");
    r.sampling.seed = uint64_t(seed);
    r.has_seed = seed >= 0;
  }
  if (const json* v = field("n")) {
    if (get_integer(*v, "n") != 1) bad("n", "only 'n' = 1 is supported");
  }
  // Penalties OpenAI clients may send with their neutral value; anything else is not implemented.
  for (const char* name : {"frequency_penalty", "presence_penalty"}) {
    if (const json* v = field(name); v && get_number(*v, name) != 0)
      bad(name, str_cat("'", name, "' is not supported (use repeat_penalty)"));
  }
  if (const json* v = field("logprobs"); v && !(v->is_boolean() && !v->get<bool>()))
    bad("logprobs", "'logprobs' is not supported");
  // Fields that would change the result, not implemented: refused rather than ignored (their
  // neutral values pass, as clients send them by default). SLOT's own options live in "slot".
  if (const json* v = field("top_logprobs"); v && !(v->is_number() && v->get<double>() == 0))
    bad("top_logprobs", "'top_logprobs' is not supported");
  if (const json* v = field("echo"); v && !(v->is_boolean() && !v->get<bool>()))
    bad("echo", "'echo' is not supported");
  if (const json* v = field("suffix"); v && !(v->is_string() && v->get<std::string>().empty()))
    bad("suffix", "'suffix' is not supported");
  if (const json* v = field("best_of"); v && !(v->is_number() && v->get<double>() == 1))
    bad("best_of", "only 'best_of' = 1 is supported");
  if (const json* v = field("logit_bias"); v && !(v->is_object() && v->empty()))
    bad("logit_bias", "'logit_bias' is not supported");
  for (const char* name : {"slot_steps", "slot_lr", "steps", "lr"})
    if (field(name))
      bad(name, str_cat("unknown field '", name,
                        R"(': SLOT options go in "slot", e.g. {"slot": {"steps": 5, "lr": 0.1}})"));
  if (const json* v = field("stream")) r.stream = get_bool(*v, "stream");
  if (const json* v = field("cache_prompt")) r.cache_prompt = get_bool(*v, "cache_prompt");
  if (const json* v = field("stream_options")) {
    if (!v->is_object()) bad("stream_options", "'stream_options' must be an object");
    if (const auto it = v->find("include_usage"); it != v->end() && !it->is_null())
      r.include_usage = get_bool(*it, "stream_options.include_usage");
  }
  if (const json* v = field("stop")) parse_stop(*v, r);
  if (const json* v = field("slot")) parse_slot(*v, r);
  try {
    gen::validate(r.sampling);
  } catch (const Error& e) {
    bad("", e.what());
  }
  return r;
}

std::string make_response_id(Endpoint endpoint) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string id = endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-";
  for (int i = 0; i < 24; ++i) id += kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return id;
}

json usage_json(const CompletionOutcome& out) {
  return {{"prompt_tokens", out.prompt_tokens},
          {"completion_tokens", out.completion_tokens},
          {"total_tokens", out.prompt_tokens + out.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", out.cached_tokens}}}};
}

json timings_json(const CompletionOutcome& out) {
  auto per_s = [](int64_t n, double ms) { return ms > 0 ? 1000.0 * double(n) / ms : 0.0; };
  return {{"queue_ms", out.queue_ms},
          {"prompt_ms", out.prompt_ms},
          {"slot_ms", out.slot_ms},
          {"gen_ms", out.gen_ms},
          {"prompt_n", out.prompt_tokens},
          {"cache_n", out.cached_tokens},
          {"predicted_n", out.completion_tokens},
          {"prompt_tok_s", per_s(out.prompt_tokens - out.cached_tokens, out.prompt_ms)},  // prefilled ones
          {"gen_tok_s", per_s(out.completion_tokens, out.gen_ms)}};
}

json slot_json(const CompletionOutcome& out) {
  if (!out.slot_ran) return nullptr;
  return {{"steps", out.slot_steps},          {"lr", out.slot_lr},
          {"losses", out.slot_losses},        {"loss_final", out.slot_loss_final},
          {"delta_norm", out.slot_delta_norm}, {"slot_ms", out.slot_ms},
          {"plan", out.slot_plan},            {"diverged_step", out.slot_diverged_step}};
}

json completion_response(Endpoint endpoint, const ResponseMeta& meta, const CompletionOutcome& out) {
  json choice;
  if (endpoint == Endpoint::kChat) {
    choice = {{"index", 0},
              {"message", {{"role", "assistant"}, {"content", out.text}}},
              {"logprobs", nullptr},
              {"finish_reason", out.finish_reason}};
  } else {
    choice = {{"index", 0}, {"text", out.text}, {"logprobs", nullptr}, {"finish_reason", out.finish_reason}};
  }
  return {{"id", meta.id},
          {"object", endpoint == Endpoint::kChat ? "chat.completion" : "text_completion"},
          {"created", meta.created},
          {"model", meta.model},
          {"system_fingerprint", "slotlm"},
          {"choices", json::array({choice})},
          {"usage", usage_json(out)},
          {"timings", timings_json(out)},
          {"slot", slot_json(out)}};
}

namespace {

json chunk_base(Endpoint endpoint, const ResponseMeta& meta) {
  return {{"id", meta.id},
          {"object", endpoint == Endpoint::kChat ? "chat.completion.chunk" : "text_completion"},
          {"created", meta.created},
          {"model", meta.model},
          {"system_fingerprint", "slotlm"}};
}

}  // namespace

json role_chunk(const ResponseMeta& meta) {
  json c = chunk_base(Endpoint::kChat, meta);
  c["choices"] = json::array(
      {{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}}});
  return c;
}

json delta_chunk(Endpoint endpoint, const ResponseMeta& meta, const std::string& text) {
  json c = chunk_base(endpoint, meta);
  if (endpoint == Endpoint::kChat)
    c["choices"] = json::array({{{"index", 0}, {"delta", {{"content", text}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}}});
  else
    c["choices"] = json::array({{{"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", nullptr}}});
  return c;
}

json final_chunk(Endpoint endpoint, const ResponseMeta& meta, const CompletionOutcome& out) {
  json c = chunk_base(endpoint, meta);
  if (endpoint == Endpoint::kChat)
    c["choices"] = json::array({{{"index", 0}, {"delta", json::object()}, {"logprobs", nullptr}, {"finish_reason", out.finish_reason}}});
  else
    c["choices"] = json::array({{{"index", 0}, {"text", ""}, {"logprobs", nullptr}, {"finish_reason", out.finish_reason}}});
  c["timings"] = timings_json(out);
  c["slot"] = slot_json(out);
  return c;
}

json usage_chunk(Endpoint endpoint, const ResponseMeta& meta, const CompletionOutcome& out) {
  json c = chunk_base(endpoint, meta);
  c["choices"] = json::array();
  c["usage"] = usage_json(out);
  return c;
}

json models_body(const std::string& model, int64_t created) {
  return {{"object", "list"},
          {"data", json::array({{{"id", model}, {"object", "model"}, {"created", created}, {"owned_by", "slotlm"}}})}};
}

std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace slotlm::server
