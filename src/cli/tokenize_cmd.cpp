// SPDX-License-Identifier: MIT
// `slotlm tokenize` and `slotlm detokenize` (../shared/DESIGN.md).
#include <cstdio>

#include "cli/common.h"
#include "core/error.h"
#include "core/mapped_file.h"

namespace slotlm::cli {

namespace {

struct TokFlags {
  std::string model_dir, text, file;
  bool bos = false, no_special = false;
  std::vector<std::string> ids;
};

void tokenize(const TokFlags& f) {
  if (f.text.empty() == f.file.empty()) fail("give exactly one of TEXT or --file PATH (an empty TEXT counts as none)");
  auto tk = load_tokenizer(f.model_dir, true);
  tok::EncodeOptions eo;
  eo.add_special = f.bos;
  eo.parse_special = !f.no_special;
  const std::string text = f.file.empty() ? checked_utf8(f.text, "TEXT") : checked_utf8(read_file(f.file), f.file);
  const auto ids = tk->encode(text, eo);
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? " " : "") + std::to_string(ids[i]);
  std::printf("%s\n", out.c_str());
}

void detokenize(const TokFlags& f) {
  auto tk = load_tokenizer(f.model_dir, true);
  std::string joined;
  for (const auto& s : f.ids) joined += s + " ";
  const auto ids = parse_ids(joined, "IDS");
  for (int32_t id : ids)
    if (id >= tk->n_vocab()) fail("IDS: ", id, " is outside the vocabulary (", tk->n_vocab(), " tokens)");
  const std::string text = tk->decode(ids, false);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::printf("\n");
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto f = std::make_shared<TokFlags>();
  CLI::App* t = app.add_subcommand("tokenize", "print the token ids of a text");
  t->add_option("-m,--model", f->model_dir, "model folder with the tokenizer")->required();
  t->add_flag("--bos", f->bos, "apply the post-processor (add BOS where the model wants it)");
  t->add_flag("--no-special", f->no_special, "treat special-token text as plain text");
  t->add_option("--file", f->file, "read the text from a file");
  t->add_option("text", f->text, "text to tokenize");
  t->callback([f] { tokenize(*f); });
  CLI::App* d = app.add_subcommand("detokenize", "print the text of token ids");
  d->add_option("-m,--model", f->model_dir, "model folder with the tokenizer")->required();
  d->add_option("ids", f->ids, "token ids")->required();
  d->callback([f] { detokenize(*f); });
}

}  // namespace slotlm::cli
