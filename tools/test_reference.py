#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Tools layer: self-checks of the float64 references in tools/ (run by hand; CI has no torch):
#   /usr/bin/python3 tools/test_reference.py
# 1. tinystories-656k (../shared/models, a trained Llama whose only stored tensor name for the
#    embedding is lm_head.weight, aliased via __metadata__): greedy ids vs reference_greedy.json
#    (made by an independent numpy float64 implementation).
# 2. SLOT gradient: autograd vs central finite differences and vs the closed form W^T r (SLOT.md).
# 3. torch.optim.AdamW vs the update written in SLOT.md §Prompt stage.
# 4. safetensors writer/reader round trip (F32/BF16/F16), sharded == single file, causality
#    (prefix hidden states do not depend on later tokens), llama3 rope scaling matters.
# 5. The committed goldens regenerate byte for byte.
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

TOOLS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)
import make_checkpoint as mc  # noqa: E402
import safetensors_io as st  # noqa: E402
from reference_model import ReferenceModel  # noqa: E402
from reference_slot import BETAS, EPS, WEIGHT_DECAY, optimize_delta, slot_loss  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared")
failures = []


def check(ok, msg):
    print(("ok    " if ok else "FAIL  ") + msg)
    if not ok:
        failures.append(msg)


def test_tinystories():
    d = os.path.join(SHARED, "models", "tinystories-656k")
    if not os.path.exists(os.path.join(d, "reference_greedy.json")):
        print("skip  tinystories-656k: ../shared/models/tinystories-656k absent")
        return
    m = ReferenceModel(d)
    check(torch.equal(m.w["model.embed_tokens.weight"], m.w["lm_head.weight"]),
          "tinystories: embed_tokens aliased to lm_head via __metadata__")
    with open(os.path.join(d, "reference_greedy.json")) as f:
        ref = json.load(f)
    for case in ref["cases"]:
        exp = case["generated_ids"]
        got, margins = m.greedy(case["prompt_token_ids"], len(exp))
        n = next((i for i, (a, b) in enumerate(zip(got, exp)) if a != b), len(exp))
        check(n == len(exp), f"tinystories {case['name']}: {n}/{len(exp)} greedy ids match "
                             f"(min top1-top2 margin {min(margins):.4f})")


def test_slot_gradient():
    m = ReferenceModel(os.path.join(ROOT, "tests", "data", "tiny-qwen2"))
    ids = [int(x) for x in np.random.default_rng(7).integers(3, 256, 24)]
    H, W = m.hidden(ids), m.lm_head
    delta = torch.from_numpy(np.random.default_rng(8).normal(0, 0.5, H.shape[1]))
    d = delta.clone().requires_grad_(True)
    slot_loss(H, W, ids, d).backward()
    g = d.grad
    eps = 1e-6
    fd = torch.empty_like(delta)
    for i in range(delta.numel()):
        e = torch.zeros_like(delta)
        e[i] = eps
        fd[i] = (slot_loss(H, W, ids, delta + e) - slot_loss(H, W, ids, delta - e)) / (2 * eps)
    err = float((g - fd).abs().max() / g.abs().max())
    check(err < 1e-7, f"SLOT grad vs central finite differences (h=1e-6): max rel err {err:.2e}")
    # closed form (SLOT.md "logits are linear in delta"): g = W^T mean_n(softmax(z_n) - onehot)
    z = (H[:-1] + delta) @ W.T
    r = torch.softmax(z, -1)
    r[torch.arange(len(ids) - 1), torch.tensor(ids[1:])] -= 1
    g2 = W.T @ r.mean(0)
    err2 = float((g - g2).abs().max() / g.abs().max())
    check(err2 < 1e-12, f"SLOT grad vs closed form W^T r: max rel err {err2:.2e}")


def test_adamw_matches_slot_md():
    m = ReferenceModel(os.path.join(ROOT, "tests", "data", "tiny-llama3"))
    ids = [int(x) for x in np.random.default_rng(9).integers(3, 256, 20)]
    H, W = m.hidden(ids), m.lm_head
    for steps, lr in [(1, 0.1), (5, 0.1), (5, 0.01)]:
        losses, _, delta = optimize_delta(H, W, ids, steps, lr)
        dl = torch.zeros(H.shape[1], dtype=torch.float64)
        mom = torch.zeros_like(dl)
        v = torch.zeros_like(dl)
        b1, b2 = BETAS
        for t in range(1, steps + 1):
            x = dl.clone().requires_grad_(True)
            slot_loss(H, W, ids, x).backward()
            g = x.grad
            dl = dl * (1 - lr * WEIGHT_DECAY)
            mom = b1 * mom + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            dl = dl - (lr / (1 - b1 ** t)) * mom / (v.sqrt() / (1 - b2 ** t) ** 0.5 + EPS)
        err = float((delta - dl).abs().max())
        check(err < 1e-13, f"torch AdamW == SLOT.md update, T={steps} lr={lr}: max abs diff {err:.1e}")


def test_io_and_model():
    with tempfile.TemporaryDirectory() as tmp:
        for dt in ["f32", "bf16", "f16"]:
            p = dict(mc.PRESETS["tiny-qwen2"], dtype=dt)
            mc.write_checkpoint(p, os.path.join(tmp, dt))
            w, dts = st.load_folder(os.path.join(tmp, dt))
            x = mc.make_tensor(p, "model.layers.1.mlp.up_proj.weight", [160, 64])
            tdt = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[dt]
            exp = torch.from_numpy(x).to(tdt).to(torch.float64)
            check(torch.equal(w["model.layers.1.mlp.up_proj.weight"], exp) and
                  set(dts.values()) == {st.DTYPE_ST[dt]}, f"safetensors round trip {dt}")
        p = dict(mc.PRESETS["tiny-llama3"])
        mc.write_checkpoint(p, os.path.join(tmp, "one"))
        mc.write_checkpoint(p, os.path.join(tmp, "three"), shards=3)
        a, b = ReferenceModel(os.path.join(tmp, "one")), ReferenceModel(os.path.join(tmp, "three"))
        check(a.w.keys() == b.w.keys() and all(torch.equal(a.w[k], b.w[k]) for k in a.w),
              "3 shards + index hold exactly the single-file weights")
        check("lm_head.weight" not in st.read_header(os.path.join(tmp, "one", "model.safetensors"))[0],
              "tied llama stores only model.embed_tokens.weight")
    m = ReferenceModel(os.path.join(ROOT, "tests", "data", "tiny-llama3"))
    ids = [int(x) for x in np.random.default_rng(10).integers(3, 256, 40)]
    full = m.hidden(ids)
    err = max(float((m.hidden(ids[:k])[-1] - full[k - 1]).abs().max()) for k in (1, 7, 23, 40))
    check(err < 1e-12, f"causal: prefix hidden states equal the full run's (max diff {err:.1e})")
    inv = m.inv_freq.clone()
    m.inv_freq = 1.0 / (m.cfg["rope_theta"] ** (torch.arange(0, m.d_head, 2, dtype=torch.float64) / m.d_head))
    n_scaled = int((inv != m.inv_freq).sum())
    diff = float((m.logits(ids[:20]) - full[:20] @ m.lm_head.T).abs().max())
    check(n_scaled >= m.d_head // 4 and diff > 1e-2,
          f"tiny-llama3: llama3 rope scaling changes {n_scaled}/{m.d_head // 2} frequencies and "
          f"the prompt logits by up to {diff:.3f}")


def test_goldens_regenerate():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, os.path.join(TOOLS, "make_goldens.py"), "--out", tmp],
                       check=True, stderr=subprocess.DEVNULL)
        data = os.path.join(ROOT, "tests", "data")
        bad = []
        for name in sorted(os.listdir(tmp)):
            for fn in sorted(os.listdir(os.path.join(tmp, name))):
                with open(os.path.join(tmp, name, fn), "rb") as f1:
                    new = f1.read()
                path = os.path.join(data, name, fn)
                old = open(path, "rb").read() if os.path.exists(path) else None
                if new != old:
                    bad.append(f"{name}/{fn}")
        check(not bad, "committed tests/data regenerates byte for byte" +
              (": differs " + ", ".join(bad) if bad else ""))


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, numpy {np.__version__}")
    test_tinystories()
    test_slot_gradient()
    test_adamw_matches_slot_md()
    test_io_and_model()
    test_goldens_regenerate()
    print(f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)
