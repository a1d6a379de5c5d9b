#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Tools layer: writes random-weight HF checkpoint folders (config.json, model.safetensors or N shards +
# model.safetensors.index.json, generation_config.json) for Qwen2ForCausalLM / LlamaForCausalLM.
# Needs only Debian's /usr/bin/python3 with python3-numpy and python3-torch (torch only for bf16 rounding).
#
#   /usr/bin/python3 tools/make_checkpoint.py --preset tiny-qwen2 --out /tmp/tiny-qwen2
#   /usr/bin/python3 tools/make_checkpoint.py --preset qwen2.5-0.5b --out models/rand-qwen2.5-0.5b
#   /usr/bin/python3 tools/make_checkpoint.py --arch llama --hidden 128 --layers 3 --dtype f16 --shards 3 --out DIR
#
# Weights are drawn per tensor from numpy's PCG64 seeded with (seed, crc32(name)), so a tensor's
# values depend only on the seed, its name and its shape: a sharded folder written with the same
# seed holds exactly the same weights as the single-file one. Tensors are generated and written one
# at a time, so the 0.5B/1.5B presets need about one embedding matrix of RAM, not the whole model.
import argparse
import json
import os
import sys
import time
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st  # noqa: E402

# Presets. `init` gives the normal stds: embed (model.embed_tokens), proj (q/k/v/o and MLP),
# lm_head (untied only), bias (q/k/v biases); norm weights are uniform(0.8, 1.2) everywhere.
# The tiny stds were chosen so the residual stream and every sublayer output stay O(1) and the
# greedy continuations of the goldens are varied (checked by tools/make_goldens.py).
PRESETS = {
    "tiny-qwen2": dict(arch="qwen2", hidden=64, layers=2, heads=4, kv_heads=2, head_dim=None,
                       intermediate=160, vocab=256, tied=False, dtype="f32", rope_theta=1e6,
                       rms_eps=1e-6, max_pos=512, rope_scaling=None, seed=7,
                       bos=1, eos=0, init=dict(embed=0.4, proj=0.1, lm_head=0.15, bias=0.1)),
    "tiny-llama3": dict(arch="llama", hidden=64, layers=2, heads=4, kv_heads=2, head_dim=32,
                        intermediate=160, vocab=256, tied=True, dtype="f32", rope_theta=500000.0,
                        rms_eps=1e-5, max_pos=512, seed=3, bos=1, eos=0,
                        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                      "high_freq_factor": 4.0,
                                      "original_max_position_embeddings": 32},
                        init=dict(embed=0.1, proj=0.2, lm_head=None, bias=None)),
    # Exact Qwen2.5 shapes (random weights) for benchmarks; bf16, tied, like the real checkpoints.
    "qwen2.5-0.5b": dict(arch="qwen2", hidden=896, layers=24, heads=14, kv_heads=2, head_dim=None,
                         intermediate=4864, vocab=151936, tied=True, dtype="bf16", rope_theta=1e6,
                         rms_eps=1e-6, max_pos=32768, rope_scaling=None, seed=5,
                         bos=151643, eos=151645,
                         init=dict(embed=0.02, proj=0.02, lm_head=0.02, bias=0.02)),
    "qwen2.5-1.5b": dict(arch="qwen2", hidden=1536, layers=28, heads=12, kv_heads=2, head_dim=None,
                         intermediate=8960, vocab=151936, tied=True, dtype="bf16", rope_theta=1e6,
                         rms_eps=1e-6, max_pos=32768, rope_scaling=None, seed=6,
                         bos=151643, eos=151645,
                         init=dict(embed=0.02, proj=0.02, lm_head=0.02, bias=0.02)),
}

DEFAULT_INIT = dict(embed=0.4, proj=0.1, lm_head=0.15, bias=0.1)


def head_dim_of(p):
    return p["head_dim"] if p.get("head_dim") else p["hidden"] // p["heads"]


def make_config(p):
    """HF config.json contents for spec `p` (keys as HF writes them)."""
    dt = st.DTYPE_HF[p["dtype"]]
    common = {
        "attention_dropout": 0.0,
        "bos_token_id": p["bos"],
        "eos_token_id": p["eos"],
        "hidden_act": "silu",
        "hidden_size": p["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": p["intermediate"],
        "max_position_embeddings": p["max_pos"],
        "num_attention_heads": p["heads"],
        "num_hidden_layers": p["layers"],
        "num_key_value_heads": p["kv_heads"],
        "rms_norm_eps": p["rms_eps"],
        "rope_scaling": p.get("rope_scaling"),
        "rope_theta": p["rope_theta"],
        "tie_word_embeddings": p["tied"],
        "torch_dtype": dt,
        "use_cache": True,
        "vocab_size": p["vocab"],
    }
    if p["arch"] == "qwen2":
        cfg = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
               "max_window_layers": p["layers"], "sliding_window": p["max_pos"],
               "use_sliding_window": False}
        if p.get("head_dim") and p["head_dim"] != p["hidden"] // p["heads"]:
            cfg["head_dim"] = p["head_dim"]
    elif p["arch"] == "llama":
        cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
               "attention_bias": False, "mlp_bias": False, "pretraining_tp": 1}
        if p.get("head_dim"):
            cfg["head_dim"] = p["head_dim"]
    else:
        raise ValueError("unknown arch " + p["arch"])
    cfg.update(common)
    return dict(sorted(cfg.items(), key=lambda kv: (kv[0] != "architectures", kv[0])))


def tensor_specs(p):
    """[(name, shape)] in HF naming, sorted by name (the order safetensors files usually have)."""
    d, hd, V, F = p["hidden"], head_dim_of(p), p["vocab"], p["intermediate"]
    nq, nkv = p["heads"] * hd, p["kv_heads"] * hd
    out = [("model.embed_tokens.weight", [V, d]), ("model.norm.weight", [d])]
    if not p["tied"]:
        out.append(("lm_head.weight", [V, d]))
    for i in range(p["layers"]):
        L = f"model.layers.{i}."
        out += [(L + "input_layernorm.weight", [d]),
                (L + "post_attention_layernorm.weight", [d]),
                (L + "self_attn.q_proj.weight", [nq, d]),
                (L + "self_attn.k_proj.weight", [nkv, d]),
                (L + "self_attn.v_proj.weight", [nkv, d]),
                (L + "self_attn.o_proj.weight", [d, nq]),
                (L + "mlp.gate_proj.weight", [F, d]),
                (L + "mlp.up_proj.weight", [F, d]),
                (L + "mlp.down_proj.weight", [d, F])]
        if p["arch"] == "qwen2":
            out += [(L + "self_attn.q_proj.bias", [nq]),
                    (L + "self_attn.k_proj.bias", [nkv]),
                    (L + "self_attn.v_proj.bias", [nkv])]
    return sorted(out)


def make_tensor(p, name, shape):
    """float32 values of one tensor; deterministic in (seed, name, shape)."""
    rng = np.random.default_rng([p["seed"], zlib.crc32(name.encode())])
    init = p.get("init") or DEFAULT_INIT
    n = int(np.prod(shape, dtype=np.int64))
    if name.endswith("norm.weight"):
        a = rng.uniform(0.8, 1.2, size=n).astype(np.float32)
    elif name.endswith(".bias"):
        a = rng.standard_normal(n, dtype=np.float32)
        a *= np.float32(init["bias"])
    else:
        std = init["embed"] if name == "model.embed_tokens.weight" else (
            init["lm_head"] if name == "lm_head.weight" else init["proj"])
        a = rng.standard_normal(n, dtype=np.float32)
        a *= np.float32(std)
    return a.reshape(shape)


def write_checkpoint(p, out_dir, shards=1, verbose=False):
    """Writes the folder. Returns total data bytes."""
    os.makedirs(out_dir, exist_ok=True)
    stdt = st.DTYPE_ST[p["dtype"]]
    specs = [(n, s, stdt) for n, s in tensor_specs(p)]
    shapes = {n: s for n, s, _ in specs}

    def make_bytes(name):
        if verbose:
            print("  " + name, shapes[name], file=sys.stderr, flush=True)
        return st.to_bytes(make_tensor(p, name, shapes[name]), stdt)

    # Remove files of an earlier layout so the folder never mixes single-file and sharded weights.
    for fn in os.listdir(out_dir):
        if fn.endswith(".safetensors") or fn == "model.safetensors.index.json":
            os.remove(os.path.join(out_dir, fn))
    meta = {"format": "pt"}
    total = 0
    if shards <= 1:
        total = st.write_safetensors(os.path.join(out_dir, "model.safetensors"), specs,
                                     make_bytes, meta)
    else:
        sizes = [st.DTYPE_SIZE[t] * int(np.prod(s)) for _, s, t in specs]
        target = sum(sizes) / shards
        groups, acc = [[] for _ in range(shards)], 0
        for spec, sz in zip(specs, sizes):  # contiguous split by cumulative size
            k = min(int(acc / target), shards - 1)
            groups[k].append(spec)
            acc += sz
        weight_map = {}
        for k, g in enumerate(groups):
            if not g:
                raise ValueError("too many shards for this model")
            fn = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
            total += st.write_safetensors(os.path.join(out_dir, fn), g, make_bytes, meta)
            weight_map.update({n: fn for n, _, _ in g})
        with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total},
                       "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
            f.write("\n")
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(make_config(p), f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": p["bos"], "eos_token_id": p["eos"], "do_sample": False}, f,
                  indent=2)
        f.write("\n")
    return total


def spec_from_args(a):
    p = dict(PRESETS[a.preset]) if a.preset else dict(
        arch="qwen2", hidden=64, layers=2, heads=4, kv_heads=2, head_dim=None, intermediate=160,
        vocab=256, tied=False, dtype="f32", rope_theta=1e6, rms_eps=1e-6, max_pos=512,
        rope_scaling=None, seed=0, bos=1, eos=2, init=dict(DEFAULT_INIT))
    for key in ["arch", "hidden", "layers", "heads", "kv_heads", "head_dim", "intermediate",
                "vocab", "dtype", "rope_theta", "rms_eps", "max_pos", "seed", "bos", "eos"]:
        v = getattr(a, key)
        if v is not None:
            p[key] = v
    if a.tied is not None:
        p["tied"] = a.tied
    if a.std is not None:
        p["init"] = dict(embed=a.std, proj=a.std, lm_head=a.std, bias=a.std)
    if a.arch == "qwen2" and a.preset is None:
        p["rope_scaling"] = None
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--preset", choices=sorted(PRESETS), help="start from a preset; flags override")
    ap.add_argument("--arch", choices=["qwen2", "llama"])
    ap.add_argument("--hidden", type=int)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--kv-heads", dest="kv_heads", type=int)
    ap.add_argument("--head-dim", dest="head_dim", type=int, help="explicit head_dim (default hidden/heads)")
    ap.add_argument("--intermediate", type=int)
    ap.add_argument("--vocab", type=int)
    ap.add_argument("--dtype", choices=["f32", "bf16", "f16"])
    ap.add_argument("--tied", dest="tied", action="store_true", default=None)
    ap.add_argument("--untied", dest="tied", action="store_false")
    ap.add_argument("--rope-theta", dest="rope_theta", type=float)
    ap.add_argument("--rms-eps", dest="rms_eps", type=float)
    ap.add_argument("--max-pos", dest="max_pos", type=int)
    ap.add_argument("--bos", type=int)
    ap.add_argument("--eos", type=int)
    ap.add_argument("--std", type=float, help="one normal std for all weight matrices and biases")
    ap.add_argument("--shards", type=int, default=1, help="N > 1 writes N shards + index.json")
    ap.add_argument("--seed", type=int)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    p = spec_from_args(a)
    t0 = time.time()
    total = write_checkpoint(p, a.out, a.shards, a.verbose)
    print(f"wrote {a.out}: {total / 1e6:.1f} MB of weights in {time.time() - t0:.1f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
