// SPDX-License-Identifier: MIT
// Text <-> token ids exactly as HF `tokenizers` does (tokenizer layer). Depends on core only.
// Interface used by generate/, cli/, eval/ and server/; the implementation lives beside it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace slotlm::tok {

struct EncodeOptions {
  bool add_special = false;    // apply the post-processor (e.g. prepend BOS), as HF add_special_tokens
  bool parse_special = true;   // special/added tokens written in the text become their ids (HF default)
};

class Tokenizer {
 public:
  // Loads from a model folder: tokenizer.json; else vocab.json + merges.txt (+ tokenizer_config.json);
  // else a tiktoken-format tokenizer.model (Llama-3). Throws Error naming the file/field.
  static std::unique_ptr<Tokenizer> load(const std::string& model_dir);
  virtual ~Tokenizer() = default;

  // Invalid UTF-8 in `text` is first repaired (each maximal ill-formed subpart becomes U+FFFD), so
  // encoding never fails. encode/decode are thread-safe.
  virtual std::vector<int32_t> encode(std::string_view text, const EncodeOptions& opt = {}) const = 0;
  // Decodes `ids` to text; `skip_special` drops special tokens (HF skip_special_tokens). Ids outside
  // the vocabulary are skipped; the result is valid UTF-8 (bytes cut mid-character become U+FFFD).
  virtual std::string decode(std::span<const int32_t> ids, bool skip_special = false) const = 0;

  virtual int32_t n_vocab() const = 0;             // highest id + 1, added tokens included
  virtual bool is_special(int32_t id) const = 0;
  virtual int32_t bos_id() const = 0;              // -1 when none
  virtual int32_t token_id(std::string_view token) const = 0;  // -1 when absent
  // The chat template from tokenizer_config.json or chat_template.jinja, "" when none.
  virtual const std::string& chat_template() const = 0;
  virtual const std::string& bos_token() const = 0;  // token text, "" when none
  virtual const std::string& eos_token() const = 0;
};

// Incremental decoding for streaming output: feed ids one by one, get only complete UTF-8 text.
// Never emits half of a multi-byte character; `flush` returns what is left at the end.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special = true)
      : tok_(tok), skip_special_(skip_special) {}
  std::string push(int32_t id);
  std::string flush();

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  std::vector<int32_t> ids_;
  size_t emitted_ = 0;  // bytes of decode(ids_) already returned
};

}  // namespace slotlm::tok
