// SPDX-License-Identifier: MIT
#include "core/json_file.h"

#include "core/error.h"
#include "core/mapped_file.h"

namespace slotlm {

Json read_json_file(const std::string& path) {
  std::string text = read_file(path);
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    fail(path, ": invalid JSON: ", e.what());
  }
}

}  // namespace slotlm
