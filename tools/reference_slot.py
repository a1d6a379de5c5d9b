#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Tools layer: the SLOT reference (docs: ../shared/SLOT.md) in float64 PyTorch, on top of
# tools/reference_model.py. Uses the real torch.optim.AdamW and torch.nn.CrossEntropyLoss, as the
# SLOT authors' transformers code does (there delta is [1,1,d] and bf16; here [d] and float64).
#
#   /usr/bin/python3 tools/reference_slot.py --model DIR --prompt-ids "5 6 7 8" --steps 5 --lr 0.1 [-n 16]
# prints one JSON object: {"prompt_ids", "steps", "lr", "loss", "loss_final", "delta", "delta_norm",
# "greedy_ids", "greedy_margins"} (see tests/data/README.md for the meaning of each key).
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_model import ReferenceModel, parse_ids  # noqa: E402

# AdamW hyper-parameters of SLOT (SLOT.md §Prompt stage).
BETAS = (0.9, 0.999)
EPS = 1e-5
WEIGHT_DECAY = 1e-8


def slot_loss(H, W, ids, delta):
    """Mean next-token cross-entropy over the prompt with logits W (h_n + delta), n = 1..N-1.
    H: [N, d] final normed hidden states; W: [V, d]; ids: N token ids; delta: [d]."""
    logits = (H[:-1] + delta) @ W.T  # [N-1, V]: the full GEMM every step, like the reference code
    labels = torch.as_tensor(list(ids[1:]), dtype=torch.long)
    return torch.nn.CrossEntropyLoss()(logits, labels)


def optimize_delta(H, W, ids, steps, lr):
    """Runs `steps` AdamW steps from delta = 0. Returns (losses before each step, final loss,
    final delta as a float64 tensor [d])."""
    H = H.detach().to(torch.float64)
    W = W.detach().to(torch.float64)
    delta = torch.zeros(H.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.AdamW([delta], lr=lr, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = slot_loss(H, W, ids, delta)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    with torch.no_grad():
        loss_final = slot_loss(H, W, ids, delta).item()
    return losses, loss_final, delta.detach().clone()


def run_slot(model, ids, steps, lr, n_new=16):
    """SLOT on one prompt with a ReferenceModel: optimise delta, then greedy-generate `n_new`
    tokens where every next-token logit (including the one at the last prompt position) is
    W (h + delta) and the hidden states are the plain model's. Returns a JSON-able dict."""
    ids = list(ids)
    H = model.hidden(ids)
    losses, loss_final, delta = optimize_delta(H, model.lm_head, ids, steps, lr)
    greedy, margins = model.greedy(ids, n_new, delta=delta)
    return {"steps": steps, "lr": lr, "loss": losses, "loss_final": loss_final,
            "delta": delta.tolist(), "delta_norm": float(delta.norm()),
            "greedy_ids": greedy, "greedy_margins": margins}


def main():
    ap = argparse.ArgumentParser(description="float64 SLOT reference (real torch AdamW)")
    ap.add_argument("--model", required=True, help="HF folder (Qwen2/Llama safetensors)")
    ap.add_argument("--prompt-ids", required=True, help='token ids, e.g. "1 2 3"')
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("-n", type=int, default=16, help="greedy tokens to generate")
    a = ap.parse_args()
    ids = parse_ids(a.prompt_ids)
    if len(ids) < 2:
        ap.error("--prompt-ids needs at least 2 tokens (the loss is over next-token pairs)")
    out = {"prompt_ids": ids}
    out.update(run_slot(ReferenceModel(a.model), ids, a.steps, a.lr, a.n))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
