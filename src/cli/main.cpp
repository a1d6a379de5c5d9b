// SPDX-License-Identifier: MIT
// The `slotlm` executable: subcommands per ../shared/DESIGN.md's command-line contract.
#include <cstdio>
#include <exception>

#include "cli/common.h"
#include "core/error.h"

int main(int argc, char** argv) {
  using namespace slotlm::cli;
  CLI::App app{"slotlm: inference engine for Qwen2/Llama HF checkpoints with SLOT test-time optimisation"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "slotlm 0.1.0");
  register_run(app);
  register_tokenize(app);
  register_bench(app);
  if (register_chat) register_chat(app);
  if (register_serve) register_serve(app);
  if (register_eval) register_eval(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // One line in the same form as every other error (CLI11's own adds a "Run with --help" line).
    std::fprintf(stderr, "slotlm: error: %s (see --help)\n", e.what());
    return e.get_exit_code();
  } catch (const slotlm::Error& e) {
    std::fprintf(stderr, "slotlm: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "slotlm: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "slotlm: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
