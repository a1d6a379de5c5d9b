# SPDX-License-Identifier: MIT
# Tools layer: a minimal safetensors reader/writer written for slotlm (numpy; torch for reading, Debian
# /usr/bin/python3). Format: 8-byte little-endian header length, JSON header
# {name: {"dtype", "shape", "data_offsets": [begin, end)}, optional "__metadata__": {str: str}},
# then the raw little-endian data; offsets are relative to the end of the header.
# See https://github.com/huggingface/safetensors (format description in its README).
import json
import os
import struct

import numpy as np

# safetensors dtype name -> bytes per element
DTYPE_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}
# our short names (command-line / config) -> safetensors names and HF `torch_dtype`
DTYPE_ST = {"f32": "F32", "f16": "F16", "bf16": "BF16"}
DTYPE_HF = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}


def to_bytes(arr_f32, st_dtype):
    """float32 numpy array -> raw little-endian bytes of `st_dtype` (round to nearest even)."""
    arr_f32 = np.ascontiguousarray(arr_f32, dtype=np.float32)
    if st_dtype == "F32":
        return arr_f32.astype("<f4", copy=False).tobytes()
    if st_dtype == "F16":
        return arr_f32.astype("<f2").tobytes()
    if st_dtype == "BF16":
        # Round to nearest even on the f32 bits, as torch's .to(torch.bfloat16) (finite values).
        bits = arr_f32.view(np.uint32).astype(np.uint64)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        return bits.astype("<u2").tobytes()
    raise ValueError("unsupported dtype " + st_dtype)


def write_safetensors(path, specs, make_bytes, metadata=None):
    """Writes one .safetensors file tensor by tensor (memory: one tensor at a time).

    `specs`: list of (name, shape, st_dtype) in the order the data is laid out.
    `make_bytes(name)`: returns the raw bytes of that tensor (checked against its size).
    `metadata`: optional dict str->str stored as `__metadata__`.
    Returns the number of data bytes written."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, shape, st_dtype in specs:
        nbytes = DTYPE_SIZE[st_dtype] * int(np.prod(shape, dtype=np.int64))
        header[name] = {"dtype": st_dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)  # pad with spaces to 8-byte alignment, as HF does
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for name, _, _ in specs:
            data = make_bytes(name)
            begin, end = header[name]["data_offsets"]
            if len(data) != end - begin:
                raise ValueError(f"{name}: {len(data)} bytes, header says {end - begin}")
            f.write(data)
    os.replace(tmp, path)
    return offset


def read_header(path):
    """Returns (header dict, data start offset in the file)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
    return header, 8 + n


def _decode(raw, st_dtype, shape):
    """raw bytes -> float64 torch tensor (exact upcast of the stored values)."""
    import torch  # only the readers need torch; writing checkpoints needs numpy alone
    if st_dtype == "F64":
        a = torch.from_numpy(np.frombuffer(raw, dtype="<f8").copy())
    elif st_dtype == "F32":
        a = torch.from_numpy(np.frombuffer(raw, dtype="<f4").astype(np.float64))
    elif st_dtype == "F16":
        a = torch.from_numpy(np.frombuffer(raw, dtype="<f2").astype(np.float64))
    elif st_dtype == "BF16":
        u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16  # bf16 = top half of f32
        a = torch.from_numpy(u16.view(np.float32).astype(np.float64))
    else:
        raise ValueError("unsupported safetensors dtype " + st_dtype)
    return a.reshape(shape)


def load_file(path):
    """Loads every tensor of one .safetensors file as float64 torch tensors.

    Returns (tensors: dict name -> tensor, dtypes: dict name -> st dtype, metadata dict)."""
    header, start = read_header(path)
    meta = header.pop("__metadata__", {}) or {}
    tensors, dtypes = {}, {}
    with open(path, "rb") as f:
        for name, info in header.items():
            b, e = info["data_offsets"]
            f.seek(start + b)
            tensors[name] = _decode(f.read(e - b), info["dtype"], info["shape"])
            dtypes[name] = info["dtype"]
    return tensors, dtypes, meta


def load_folder(model_dir):
    """Loads all weights of an HF folder: model.safetensors, or the shards named by
    model.safetensors.index.json ("weight_map"). Names listed in a file's `__metadata__` whose value
    is the name of a stored tensor are aliased to it (e.g. tinystories-656k stores only
    lm_head.weight and maps model.embed_tokens.weight -> lm_head.weight).
    Returns (tensors float64, dtypes)."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    tensors, dtypes, aliases = {}, {}, {}
    for fn in files:
        t, d, meta = load_file(os.path.join(model_dir, fn))
        for k in t:
            if k in tensors:
                raise ValueError(f"tensor {k} stored twice")
        tensors.update(t)
        dtypes.update(d)
        aliases.update(meta)
    for name, target in aliases.items():
        if name not in tensors and isinstance(target, str) and target in tensors:
            tensors[name] = tensors[target]
            dtypes[name] = dtypes[target]
    return tensors, dtypes
