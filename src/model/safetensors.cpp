// SPDX-License-Identifier: MIT
#include "model/safetensors.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/json_file.h"
#include "core/log.h"
#include "kernels/matmul.h"

namespace slotlm::model {

namespace {
// A header larger than this is refused: real headers are a few hundred KB at most, and the cap
// keeps a corrupt length from making us parse gigabytes.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
// No real tensor has more dimensions; the cap bounds the shape product check.
constexpr size_t kMaxDims = 8;
}  // namespace

std::unique_ptr<TensorStore> TensorStore::open_dir(const std::string& dir) {
  auto store = std::make_unique<TensorStore>();
  const std::string single = dir + "/model.safetensors";
  const std::string index = dir + "/model.safetensors.index.json";
  if (std::filesystem::exists(index)) {
    Json j = read_json_file(index);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      fail(index, ": missing object 'weight_map'");
    std::vector<std::string> shards;
    for (auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string()) fail(index, ": weight_map['", name, "'] must be a file name");
      std::string f = file.get<std::string>();
      if (f.find('/') != std::string::npos || f == ".." || f.empty())
        fail(index, ": weight_map['", name, "'] names an invalid file '", f, "'");
      if (std::find(shards.begin(), shards.end(), f) == shards.end()) shards.push_back(f);
    }
    if (shards.empty()) fail(index, ": weight_map is empty");
    for (const auto& f : shards) store->add_file(dir + "/" + f);
    for (auto& [name, file] : j["weight_map"].items()) {
      auto it = store->tensors_.find(name);
      if (it == store->tensors_.end())
        fail(index, ": tensor '", name, "' is listed for ", file.get<std::string>(), " but not found in it");
    }
  } else if (std::filesystem::exists(single)) {
    store->add_file(single);
  } else {
    fail(dir, ": no model.safetensors or model.safetensors.index.json");
  }
  return store;
}

namespace {
// Where no layout is made at load (model::lay_out_weights: kernels::amx_tiles_wanted and
// kernels::blocked_wanted both false, e.g. f32 products, AVX2, or SLOTLM_AMX_LAYOUT=0 /
// SLOTLM_BLOCKED_LAYOUT=0), the weights are copied into transparent huge pages: decode streams every
// weight per token, and 4 KiB pages cost a TLB miss every 4 KiB. On an AVX-512 machine without AMX
// (bench_weight_memory, 0.5B, in one process) that made decode 20.3 vs 23.1 ms per token, 8
// sequences 37.6 vs 46.3 ms per step, prefill 512 1285 vs 1437 ms; 1.5B decode 69.5 vs 141.9 ms
// per token. The copy costs load time: 0.1 s for 942 MiB when the VM's memory is warm, 0.7-2 s
// (1.5B: 3.4-9 s) when the host must back fresh pages; a one-shot 0.5B `slotlm run` (512-token
// prompt, SLOT, 16 tokens) still took 3.2-4.8 s of wall time vs 3.5-5.1 s mapped. With the
// layout, the laid-out matrices are already in huge pages and the mapping's pages are given back,
// so a copy would hold them twice: mapped. SLOTLM_HUGEPAGES=1 / 0 forces either.
MapMode weights_map_mode() {
  const char* env = std::getenv("SLOTLM_HUGEPAGES");
  if (env && *env) {
    if (std::strcmp(env, "1") == 0) return MapMode::kHugePages;
    if (std::strcmp(env, "0") == 0) return MapMode::kMap;
    fail("SLOTLM_HUGEPAGES must be 0 or 1, got '", env, "'");
  }
  return kernels::amx_tiles_wanted() || kernels::blocked_wanted() ? MapMode::kMap : MapMode::kHugePages;
}

// The file offset of the data section (8 + header length), or 0 when the file is too short: the
// huge-page copy puts it on a cache line (MappedFile), so rows of bf16 weights start aligned.
uint64_t data_section_offset(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  uint64_t n_header = 0;
  if (!in.read(reinterpret_cast<char*>(&n_header), 8) || n_header > kMaxHeaderBytes) return 0;
  return 8 + n_header;
}
}  // namespace

void TensorStore::add_file(const std::string& path) {
  files_.push_back(std::make_unique<MappedFile>(path, weights_map_mode(), data_section_offset(path)));
  const MappedFile& f = *files_.back();
  log_debug(path, f.huge_pages() ? ": copied into huge pages" : ": memory-mapped");
  if (f.size() < 8) fail(path, ": truncated safetensors file (", f.size(), " bytes, no header length)");
  uint64_t n_header = 0;
  std::memcpy(&n_header, f.data(), 8);  // little-endian host (x86-64)
  if (n_header < 2 || n_header > kMaxHeaderBytes)
    fail(path, ": safetensors header length ", n_header, " is out of bounds (2..", kMaxHeaderBytes, ")");
  if (n_header > f.size() - 8)
    fail(path, ": safetensors header length ", n_header, " runs past the end of the file (", f.size(), " bytes)");
  const uint8_t* data_start = f.data() + 8 + n_header;
  const uint64_t data_size = f.size() - 8 - n_header;
  Json h;
  try {
    h = Json::parse(f.data() + 8, f.data() + 8 + n_header);
  } catch (const Json::parse_error& e) {
    fail(path, ": safetensors header is not valid JSON: ", e.what());
  }
  if (!h.is_object()) fail(path, ": safetensors header must be a JSON object");
  struct Span { uint64_t begin, end; std::string name; };
  std::vector<Span> spans;
  for (auto& [name, info] : h.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) fail(path, ": __metadata__ must be an object");
      for (auto& [k, v] : info.items())
        if (v.is_string() && k != "format") aliases_[k] = v.get<std::string>();
      continue;
    }
    const std::string where = path + ": tensor '" + name + "'";
    if (!info.is_object()) fail(where, " must be an object");
    if (!info.contains("dtype") || !info["dtype"].is_string()) fail(where, ": missing string 'dtype'");
    if (!info.contains("shape") || !info["shape"].is_array()) fail(where, ": missing array 'shape'");
    if (!info.contains("data_offsets") || !info["data_offsets"].is_array() || info["data_offsets"].size() != 2)
      fail(where, ": 'data_offsets' must be [begin, end]");
    Entry e;
    e.file = path;
    e.dtype_name = info["dtype"].get<std::string>();
    e.dtype_ok = parse_safetensors_dtype(e.dtype_name, &e.view.dtype);
    if (info["shape"].size() > kMaxDims) fail(where, ": more than ", kMaxDims, " dimensions");
    uint64_t numel = 1;
    for (const auto& d : info["shape"]) {
      if (!d.is_number_unsigned()) fail(where, ": shape entries must be non-negative integers");
      uint64_t v = d.get<uint64_t>();
      if (v != 0 && numel > (uint64_t(1) << 62) / v) fail(where, ": shape is absurdly large");
      numel *= v;
      e.view.shape.push_back(int64_t(v));
    }
    for (const auto& o : info["data_offsets"])
      if (!o.is_number_unsigned()) fail(where, ": data_offsets must be non-negative integers");
    const uint64_t begin = info["data_offsets"][0].get<uint64_t>();
    const uint64_t end = info["data_offsets"][1].get<uint64_t>();
    if (begin > end) fail(where, ": data_offsets [", begin, ", ", end, "] are reversed");
    if (end > data_size)
      fail(where, ": data_offsets end ", end, " is past the data section (", data_size, " bytes)");
    if (e.dtype_ok && end - begin != numel * dtype_size(e.view.dtype))
      fail(where, ": shape ", e.view.shape_str(), " x ", e.dtype_name, " needs ", numel * dtype_size(e.view.dtype),
           " bytes but data_offsets span ", end - begin);
    e.view.data = data_start + begin;
    if (e.dtype_ok && reinterpret_cast<uintptr_t>(e.view.data) % dtype_size(e.view.dtype) != 0) {
      // Misaligned for its dtype: keep an aligned copy (the only case where weights are copied).
      const size_t n_floats = (end - begin + 3) / 4;
      realigned_.emplace_back(new float[n_floats]);
      std::memcpy(realigned_.back().get(), e.view.data, end - begin);
      e.view.data = realigned_.back().get();
    }
    spans.push_back({begin, end, name});
    if (tensors_.count(name)) fail(where, ": defined twice");
    tensors_[name] = std::move(e);
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].begin < spans[i - 1].end)
      fail(path, ": tensors '", spans[i - 1].name, "' and '", spans[i].name, "' overlap");
}

const TensorStore::Entry* TensorStore::find(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it != tensors_.end()) return &it->second;
  auto a = aliases_.find(name);
  if (a != aliases_.end()) {
    it = tensors_.find(a->second);
    if (it != tensors_.end()) return &it->second;
  }
  return nullptr;
}

bool TensorStore::contains(const std::string& name) const { return find(name) != nullptr; }

TensorView TensorStore::get(const std::string& name, const std::vector<int64_t>& shape) const {
  const Entry* e = find(name);
  if (!e) fail("model weights: tensor '", name, "' is missing");
  if (!e->dtype_ok)
    fail(e->file, ": tensor '", name, "' has dtype ", e->dtype_name, "; supported: F32, BF16, F16");
  if (e->view.shape != shape) {
    TensorView want;
    want.shape = shape;
    fail(e->file, ": tensor '", name, "' has shape ", e->view.shape_str(), ", expected ", want.shape_str());
  }
  return e->view;
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : tensors_) out.push_back(k);
  return out;
}

const char* TensorStore::residence() const {
  bool all_huge = !files_.empty();
  for (const auto& f : files_) all_huge = all_huge && f->huge_pages();
  return all_huge ? "in huge pages" : "mapped";
}

void TensorStore::drop_pages(const void* p, size_t n) const {
  const auto* b = static_cast<const uint8_t*>(p);
  for (const auto& f : files_)
    if (b >= f->data() && b + n <= f->data() + f->size()) f->drop_pages(p, n);
}

void TensorStore::read(const void* p, size_t n, void* dst) const {
  const auto* b = static_cast<const uint8_t*>(p);
  for (const auto& f : files_)
    if (b >= f->data() && b + n <= f->data() + f->size()) {
      f->read(p, n, dst);
      return;
    }
  std::memcpy(dst, p, n);
}

size_t TensorStore::total_bytes() const {
  size_t n = 0;
  for (const auto& [k, v] : tensors_) n += v.dtype_ok ? v.view.nbytes() : 0;
  return n;
}

}  // namespace slotlm::model
