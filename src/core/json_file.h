// SPDX-License-Identifier: MIT
// JSON file reading with errors that name the file and field (core layer; nlohmann-json).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace slotlm {

using Json = nlohmann::json;

// Parses `path` as JSON; throws Error "PATH: invalid JSON: ..." on failure.
Json read_json_file(const std::string& path);

}  // namespace slotlm
