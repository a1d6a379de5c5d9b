// SPDX-License-Identifier: MIT
// Logging to stderr (core layer). stdout belongs to results (`run --json`, token ids).
#pragma once

#include <cstdio>
#include <string>

#include "core/error.h"

namespace slotlm {

enum class LogLevel { kQuiet, kInfo, kDebug };
LogLevel log_level();
void set_log_level(LogLevel level);

template <typename... Args>
void log_info(const Args&... args) {
  if (log_level() >= LogLevel::kInfo) std::fprintf(stderr, "%s\n", str_cat(args...).c_str());
}
template <typename... Args>
void log_debug(const Args&... args) {
  if (log_level() >= LogLevel::kDebug) std::fprintf(stderr, "%s\n", str_cat(args...).c_str());
}

}  // namespace slotlm
