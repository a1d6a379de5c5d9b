// SPDX-License-Identifier: MIT
#include "server/sse.h"

#include "server/protocol.h"

namespace slotlm::server {

std::string sse_event(const nlohmann::json& chunk) { return "data: " + dump_json(chunk) + "\n\n"; }

std::string sse_done() { return "data: [DONE]\n\n"; }

}  // namespace slotlm::server
