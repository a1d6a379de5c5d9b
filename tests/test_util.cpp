// SPDX-License-Identifier: MIT
#include "test_util.h"

#include <cstdio>
#include <filesystem>
#include <sys/wait.h>

namespace slotlm::test {

std::string shared_path(const std::string& rel) { return std::string(SLOTLM_SHARED_DIR) + "/" + rel; }
std::string data_path(const std::string& rel) { return std::string(SLOTLM_TEST_DATA) + "/" + rel; }
bool file_exists(const std::string& path) { return std::filesystem::exists(path); }
std::string slotlm_binary() { return SLOTLM_BINARY; }

int run_command(const std::string& cmd, std::string* out) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  if (out) out->clear();
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    if (out) out->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace slotlm::test
