// SPDX-License-Identifier: MIT
// Helpers shared by all test folders: where ../shared and tests/data are, and skipping with a
// clear message when ../shared is absent.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace slotlm::test {

// Absolute path of a file under ../shared ("" if ../shared itself is missing).
std::string shared_path(const std::string& rel);
// Absolute path of a file under tests/data.
std::string data_path(const std::string& rel);
bool file_exists(const std::string& path);
// Path of the built `slotlm` executable.
std::string slotlm_binary();
// Runs a shell command, returns its exit status and fills `out` with its stdout.
int run_command(const std::string& cmd, std::string* out);
// A tests/data folder name as a gtest parameter name ("tiny-qwen2" -> "tiny_qwen2").
inline std::string param_name(std::string folder) {
  for (char& ch : folder)
    if (ch == '-') ch = '_';
  return folder;
}

}  // namespace slotlm::test

// Skips the current test when a file of ../shared is missing, saying which.
#define SLOTLM_REQUIRE_SHARED(var, rel)                                                    \
  std::string var = ::slotlm::test::shared_path(rel);                                     \
  if (!::slotlm::test::file_exists(var))                                                   \
  GTEST_SKIP() << "../shared/" << (rel) << " is absent (tests read the shared folder beside " \
                  "the checkout); skipping"
