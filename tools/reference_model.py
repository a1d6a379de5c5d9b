#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Tools layer: an independent plain-PyTorch float64 implementation of the HF transformers forward
# pass of Qwen2ForCausalLM and LlamaForCausalLM (modeling_qwen2.py / modeling_llama.py semantics),
# used to make the goldens under tests/data/. Written for slotlm; needs only Debian's
# /usr/bin/python3 with python3-torch and python3-numpy (no `transformers`).
#
# Semantics followed (HF):
# - RMSNorm: x * rsqrt(mean(x^2, -1) + eps) * w   (HF computes it in float32; here everything is float64)
# - RoPE: rotate_half convention (first half / second half of each head, NOT interleaved pairs),
#   inv_freq = 1 / theta^(arange(0, d_head, 2) / d_head), angles = pos * inv_freq, positions 0..N-1;
#   rope_scaling {"rope_type": "llama3"} as HF `_compute_llama3_parameters` (attention factor 1).
#   HF builds inv_freq and cos/sin in float32; here they are float64.
# - attention: causal, GQA (query head h uses kv head h // (n_head / n_kv_head), HF `repeat_kv`),
#   softmax(q k^T / sqrt(d_head)); Qwen2 has biases on q/k/v, Llama none.
# - MLP: down(silu(gate(x)) * up(x)); pre-norm residual blocks; final norm; LM head
#   (lm_head.weight, or model.embed_tokens.weight when tied / lm_head absent).
# Weights are upcast exactly from their stored dtype (F32/BF16/F16) to float64.
#
#   /usr/bin/python3 tools/reference_model.py --model DIR --prompt-ids "1 2 3" -n 16
import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st  # noqa: E402

DT = torch.float64


def llama3_inv_freq(inv_freq, rs):
    """HF `_compute_llama3_parameters`: scales the low frequencies by 1/factor, keeps the high ones,
    and interpolates smoothly between the two wavelength limits."""
    factor = rs["factor"]
    low_ff = rs["low_freq_factor"]
    high_ff = rs["high_freq_factor"]
    old_ctx = rs["original_max_position_embeddings"]
    low_freq_wavelen = old_ctx / low_ff
    high_freq_wavelen = old_ctx / high_ff
    wavelen = 2 * math.pi / inv_freq
    inv = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_ctx / wavelen - low_ff) / (high_ff - low_ff)
    smoothed = (1 - smooth) * inv / factor + smooth * inv
    is_medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium, smoothed, inv)


class ReferenceModel:
    """Float64 HF Qwen2/Llama causal LM loaded from an HF folder."""

    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = c = json.load(f)
        arch = (c.get("architectures") or [""])[0]
        if arch not in ("Qwen2ForCausalLM", "LlamaForCausalLM"):
            raise ValueError(f"{model_dir}/config.json: unsupported architecture {arch!r}")
        self.arch = arch
        self.d_model = c["hidden_size"]
        self.n_layer = c["num_hidden_layers"]
        self.n_head = c["num_attention_heads"]
        self.n_kv_head = c.get("num_key_value_heads") or self.n_head
        self.d_head = c.get("head_dim") or self.d_model // self.n_head
        self.eps = c["rms_norm_eps"]
        self.w, self.dtypes = st.load_folder(model_dir)
        if "lm_head.weight" not in self.w:  # tied: HF shares the embedding matrix
            self.w["lm_head.weight"] = self.w["model.embed_tokens.weight"]
        if "model.embed_tokens.weight" not in self.w:
            self.w["model.embed_tokens.weight"] = self.w["lm_head.weight"]
        self.lm_head = self.w["lm_head.weight"]  # [n_vocab, d_model]
        inv_freq = 1.0 / (c.get("rope_theta", 10000.0) **
                          (torch.arange(0, self.d_head, 2, dtype=DT) / self.d_head))
        rs = c.get("rope_scaling")
        if rs:
            kind = rs.get("rope_type", rs.get("type"))
            if kind == "llama3":
                inv_freq = llama3_inv_freq(inv_freq, rs)
            elif kind != "default":
                raise ValueError(f"rope_scaling type {kind!r} not implemented")
        self.inv_freq = inv_freq  # [d_head / 2]

    def _rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    @staticmethod
    def _rotate_half(x):
        h = x.shape[-1] // 2
        return torch.cat((-x[..., h:], x[..., :h]), dim=-1)

    def _lin(self, x, name):
        y = x @ self.w[name + ".weight"].T
        b = self.w.get(name + ".bias")
        return y + b if b is not None else y

    @torch.no_grad()
    def hidden(self, ids):
        """Final normed hidden states [N, d_model] (float64) for token ids `ids` (positions 0..N-1)."""
        ids = torch.as_tensor(list(ids), dtype=torch.long)
        n = ids.shape[0]
        x = self.w["model.embed_tokens.weight"][ids]  # [N, d_model]
        pos = torch.arange(n, dtype=DT)
        freqs = pos[:, None] * self.inv_freq[None, :]  # [N, d_head/2]
        emb = torch.cat((freqs, freqs), dim=-1)  # [N, d_head]
        cos, sin = emb.cos(), emb.sin()
        mask = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
        rep = self.n_head // self.n_kv_head
        for i in range(self.n_layer):
            L = f"model.layers.{i}."
            h = self._rms(x, self.w[L + "input_layernorm.weight"])
            q = self._lin(h, L + "self_attn.q_proj").view(n, self.n_head, self.d_head).transpose(0, 1)
            k = self._lin(h, L + "self_attn.k_proj").view(n, self.n_kv_head, self.d_head).transpose(0, 1)
            v = self._lin(h, L + "self_attn.v_proj").view(n, self.n_kv_head, self.d_head).transpose(0, 1)
            q = q * cos + self._rotate_half(q) * sin  # [n_head, N, d_head]
            k = k * cos + self._rotate_half(k) * sin  # [n_kv_head, N, d_head]
            k = k.repeat_interleave(rep, dim=0)
            v = v.repeat_interleave(rep, dim=0)
            s = (q @ k.transpose(1, 2)) / math.sqrt(self.d_head)  # [n_head, N, N]
            s = s.masked_fill(mask, float("-inf"))
            a = torch.softmax(s, dim=-1) @ v  # [n_head, N, d_head]
            a = a.transpose(0, 1).reshape(n, self.n_head * self.d_head)
            x = x + self._lin(a, L + "self_attn.o_proj")
            h = self._rms(x, self.w[L + "post_attention_layernorm.weight"])
            g = self._lin(h, L + "mlp.gate_proj")
            u = self._lin(h, L + "mlp.up_proj")
            x = x + self._lin(torch.nn.functional.silu(g) * u, L + "mlp.down_proj")
        return self._rms(x, self.w["model.norm.weight"])

    def logits(self, ids):
        """[N, n_vocab] float64 logits."""
        return self.hidden(ids) @ self.lm_head.T

    def greedy(self, ids, n_new, delta=None):
        """Greedy (argmax, no stop token) continuation of `ids`; recomputes the whole sequence per
        token. With `delta` [d_model], every next-token logit is W (h + delta) while the hidden
        states themselves are the plain model's (SLOT generation stage).
        Returns (new ids, margins: top1 - top2 logit at each step)."""
        seq, margins = list(ids), []
        for _ in range(n_new):
            h = self.hidden(seq)[-1]
            if delta is not None:
                h = h + delta
            z = self.lm_head @ h
            top = torch.topk(z, 2)
            seq.append(int(top.indices[0]))
            margins.append(float(top.values[0] - top.values[1]))
        return seq[len(ids):], margins


def parse_ids(s):
    return [int(t) for t in s.replace(",", " ").split()]


def main():
    ap = argparse.ArgumentParser(description="float64 HF Qwen2/Llama reference forward")
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt-ids", required=True, help='e.g. "1 2 3"')
    ap.add_argument("-n", type=int, default=16, help="greedy tokens to generate")
    ap.add_argument("--logits", action="store_true", help="also print the prompt logits")
    a = ap.parse_args()
    m = ReferenceModel(a.model)
    ids = parse_ids(a.prompt_ids)
    out = {"prompt_ids": ids}
    if a.logits:
        out["logits"] = m.logits(ids).tolist()
    out["greedy_ids"], out["greedy_margins"] = m.greedy(ids, a.n)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
