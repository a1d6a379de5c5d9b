#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Tools layer: writes the tiny random-weight checkpoints under tests/data/<name>/ and their goldens
# (golden_forward.json, golden_slot.json) from the float64 PyTorch references in tools/.
# Formats: tests/data/README.md. Run from anywhere with Debian's python:
#
#   /usr/bin/python3 tools/make_goldens.py                 # all folders, both goldens
#   /usr/bin/python3 tools/make_goldens.py --only forward  # checkpoints + golden_forward.json only
#   /usr/bin/python3 tools/make_goldens.py --models tiny-llama3
import argparse
import json
import os
import sys

import numpy as np
import torch

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
import make_checkpoint as mc  # noqa: E402
from reference_model import ReferenceModel  # noqa: E402
from reference_slot import run_slot  # noqa: E402

GENERATOR = f"tools/make_goldens.py torch {torch.__version__}"
DATA = os.path.join(os.path.dirname(TOOLS), "tests", "data")

# folder -> (checkpoint spec, shards)
MODELS = {
    "tiny-qwen2": (dict(mc.PRESETS["tiny-qwen2"]), 1),
    "tiny-llama3": (dict(mc.PRESETS["tiny-llama3"]), 1),
    "tiny-qwen2-bf16": (dict(mc.PRESETS["tiny-qwen2"], dtype="bf16", seed=12), 1),
    "tiny-qwen2-sharded": (dict(mc.PRESETS["tiny-qwen2"]), 2),  # same weights as tiny-qwen2
    "tiny-llama3-f16": (dict(mc.PRESETS["tiny-llama3"], dtype="f16", seed=5), 1),
}

N_PROMPT = 20
N_LONG_PROMPT = 64
N_GREEDY = 32
N_SLOT_GREEDY = 16
SLOT_GRID = [(t, lr) for lr in (0.1, 0.01) for t in (1, 3, 5)]


def prompt_ids(n, seed):
    """Random ids in [3, 256): never the tiny models' eos (0) or bos (1), nor 2."""
    return [int(x) for x in np.random.default_rng(seed).integers(3, 256, n)]


PROMPT = prompt_ids(N_PROMPT, 20250101)
LONG_PROMPT = prompt_ids(N_LONG_PROMPT, 20250102)


def write_json(path, obj):
    """One key per line; lists of lists one row per line; lists of dicts one dict per line.
    Floats use Python's repr (shortest string that round-trips the float64)."""
    def enc(v):
        return json.dumps(v, separators=(",", ":"))

    parts = []
    for k, v in obj.items():
        if isinstance(v, list) and v and isinstance(v[0], (list, dict)):
            body = "[\n" + ",\n".join("  " + enc(r) for r in v) + "\n ]"
        else:
            body = enc(v)
        parts.append(f" {enc(k)}: {body}")
    with open(path, "w") as f:
        f.write("{\n" + ",\n".join(parts) + "\n}\n")


def check_greedy(name, ids, margins, eos):
    if eos in ids:  # the goldens never stop at EOS; keep EOS out so engines need no "ignore EOS"
        sys.exit(f"{name}: greedy output contains eos_token_id {eos}; pick another eos or seed")
    distinct = len(set(ids))
    if distinct < len(ids) // 3:
        print(f"WARNING {name}: greedy output is degenerate ({distinct} distinct ids)", file=sys.stderr)
    if min(margins) < 1e-3:
        print(f"WARNING {name}: greedy near-tie (min top1-top2 margin {min(margins):.2e})",
              file=sys.stderr)
    print(f"  {name}: {distinct} distinct of {len(ids)}, min margin {min(margins):.4f}",
          file=sys.stderr)


def make_forward(model, folder):
    H = model.hidden(PROMPT)
    Z = H @ model.lm_head.T
    greedy, margins = model.greedy(PROMPT, N_GREEDY)
    check_greedy(os.path.basename(folder) + " forward", greedy, margins, model.cfg["eos_token_id"])
    write_json(os.path.join(folder, "golden_forward.json"), {
        "generator": GENERATOR,
        "model": os.path.basename(folder),
        "prompt_ids": PROMPT,
        "hidden": H.tolist(),
        "logits": Z.tolist(),
        "greedy_prompt_ids": PROMPT,
        "greedy_ids": greedy,
        "greedy_margins": margins,
    })
    return H, Z, greedy


def make_slot(model, folder):
    cases = []
    for steps, lr in [(0, 0.1)] + SLOT_GRID:
        c = {"prompt_ids": PROMPT}
        c.update(run_slot(model, PROMPT, steps, lr, N_SLOT_GREEDY))
        cases.append(c)
    c = {"prompt_ids": LONG_PROMPT}
    c.update(run_slot(model, LONG_PROMPT, 5, 0.1, N_SLOT_GREEDY))
    cases.append(c)
    for c in cases:
        check_greedy(f"{os.path.basename(folder)} slot T={c['steps']} lr={c['lr']}",
                     c["greedy_ids"], c["greedy_margins"], model.cfg["eos_token_id"])
        print(f"  slot T={c['steps']} lr={c['lr']} N={len(c['prompt_ids'])}: loss {c['loss'][:1]}.."
              f" final {c['loss_final']:.5f} |delta| {c['delta_norm']:.4f}"
              f" greedy {c['greedy_ids'][:6]}.. min margin {min(c['greedy_margins']):.4f}",
              file=sys.stderr)
    write_json(os.path.join(folder, "golden_slot.json"), {
        "generator": GENERATOR,
        "model": os.path.basename(folder),
        "optimizer": "torch.optim.AdamW(betas=(0.9, 0.999), eps=1e-5, weight_decay=1e-8), "
                     "delta = zeros(d) float64, torch.nn.CrossEntropyLoss() (mean)",
        "prompt_ids": PROMPT,
        "cases": cases,
    })


def main():
    ap = argparse.ArgumentParser(description="tiny checkpoints + goldens under tests/data")
    ap.add_argument("--only", choices=["forward", "slot"], help="make only one kind of golden")
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--out", default=DATA, help="root folder (default tests/data)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    results = {}
    for name in a.models:
        spec, shards = MODELS[name]
        folder = os.path.join(a.out, name)
        print(f"{name}:", file=sys.stderr)
        mc.write_checkpoint(spec, folder, shards)
        model = ReferenceModel(folder)
        if a.only != "slot":
            results[name] = make_forward(model, folder)
        if a.only != "forward":
            make_slot(model, folder)
    if "tiny-qwen2" in results and "tiny-qwen2-sharded" in results:
        same = all(torch.equal(x, y) if torch.is_tensor(x) else x == y
                   for x, y in zip(results["tiny-qwen2"], results["tiny-qwen2-sharded"]))
        if not same:
            sys.exit("tiny-qwen2-sharded goldens differ from tiny-qwen2")
        print("tiny-qwen2-sharded == tiny-qwen2: OK", file=sys.stderr)


if __name__ == "__main__":
    main()
