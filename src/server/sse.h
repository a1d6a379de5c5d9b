// SPDX-License-Identifier: MIT
// Server-Sent Events framing (server layer) as OpenAI streams it: one `data: <json>\n\n` event per
// chunk, then `data: [DONE]\n\n` (https://html.spec.whatwg.org/multipage/server-sent-events.html).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace slotlm::server {

inline constexpr const char* kSseContentType = "text/event-stream";

// "data: <compact json>\n\n". Compact JSON holds no raw newline, so one event is one line.
std::string sse_event(const nlohmann::json& chunk);
// "data: [DONE]\n\n", the end of an OpenAI stream.
std::string sse_done();

}  // namespace slotlm::server
