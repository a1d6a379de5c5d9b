// SPDX-License-Identifier: MIT
// safetensors reader (model layer): holds one file or an HF sharded set (model.safetensors.index.json)
// in memory once (huge-page copy or mapping, core/mapped_file.h) and hands out validated views by
// HF tensor name.
// Format: https://huggingface.co/docs/safetensors (8-byte LE header length, JSON header, data).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace slotlm::model {

class TensorStore {
 public:
  // Opens `dir`/model.safetensors, or every shard listed by `dir`/model.safetensors.index.json.
  static std::unique_ptr<TensorStore> open_dir(const std::string& dir);

  // Maps and validates one file: header length within bounds, JSON shape, dtype names,
  // shape x dtype size = byte span, spans inside the file and not overlapping. Throws Error naming
  // the file and tensor. `__metadata__` aliases (name -> stored name) are recorded.
  void add_file(const std::string& path);

  bool contains(const std::string& name) const;
  // The tensor `name` with exactly `shape`; throws Error naming the tensor and file otherwise
  // (missing, unsupported dtype, wrong shape).
  TensorView get(const std::string& name, const std::vector<int64_t>& shape) const;
  std::vector<std::string> names() const;
  size_t total_bytes() const;  // bytes of tensor data mapped
  // "in huge pages" when every file was copied into transparent huge pages, else "mapped".
  const char* residence() const;
  // Gives back the resident pages of a tensor's bytes [p, p + n) that another copy replaces
  // (MappedFile::drop_pages); a no-op for huge-page copies and for bytes of no file.
  void drop_pages(const void* p, size_t n) const;
  // Copies a tensor's bytes [p, p + n) into `dst` without touching the mapping's pages
  // (MappedFile::read); memcpy for bytes of no file.
  void read(const void* p, size_t n, void* dst) const;

 private:
  struct Entry {
    TensorView view;
    std::string dtype_name;  // as written in the header
    bool dtype_ok = false;
    std::string file;
  };
  const Entry* find(const std::string& name) const;

  std::vector<std::unique_ptr<MappedFile>> files_;
  std::vector<std::unique_ptr<float[]>> realigned_;  // copies of tensors stored misaligned
  std::map<std::string, Entry> tensors_;
  std::map<std::string, std::string> aliases_;  // from __metadata__: alias -> stored name
};

}  // namespace slotlm::model
