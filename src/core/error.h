// SPDX-License-Identifier: MIT
// Error type of slotlm (core layer): every bad input ends as an `Error` whose message is one line
// naming the file or field. Depends on nothing but the standard library.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace slotlm {

// A user-facing failure. `what()` is a single line, ready to print after "slotlm: error: ".
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// Concatenates its arguments with operator<< (g++ 12 has no std::format).
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(str_cat(args...));
}

}  // namespace slotlm
