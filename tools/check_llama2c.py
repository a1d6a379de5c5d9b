#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Independent check of tools/convert_llama2c.py (needs numpy: Debian's /usr/bin/python3 has it).

    check_llama2c.py --hf DIR --checkpoint model.bin --tokenizer tok.bin --expected expected_output.json

1. Loads the converted folder (config.json + model.safetensors, read here with numpy only) and runs an
   HF-style Llama forward in float64: rotate-half RoPE with inv_freq = 1/theta^(arange(0,hs,2)/hs).
2. Runs run.c's forward in float64 straight on the llama2.c .bin (interleaved-pair RoPE) and compares
   the logits of both at every position: they agree to rounding iff the wq/wk row permutation is right.
3. Greedy decoding from BOS with the HF forward, compared with the ids in expected_output.json; the
   "I sense" case compares the text run.c printed.
4. Tokenizer: simulates the tokenizer.json (HF BPE: lowest merge rank first, leftmost on equal rank;
   Prepend normalizer; ByteFallback/Fuse/Strip decoder) and compares it with run.c's encoder on the
   expected texts and on many random strings.
Exit status 0 when everything agrees.
"""

import argparse
import json
import os
import random
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_llama2c as conv  # noqa: E402


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", name
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[base + a:base + b], dtype="<f4").reshape(info["shape"]).astype(np.float64)
    return out


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


class HFLlama:
    def __init__(self, folder):
        cfg = json.load(open(os.path.join(folder, "config.json")))
        self.cfg = cfg
        self.w = load_safetensors(os.path.join(folder, "model.safetensors"))
        self.dim = cfg["hidden_size"]
        self.nh = cfg["num_attention_heads"]
        self.nkv = cfg["num_key_value_heads"]
        self.hs = self.dim // self.nh
        self.L = cfg["num_hidden_layers"]
        self.eps = cfg["rms_norm_eps"]
        self.inv_freq = 1.0 / (cfg["rope_theta"] ** (np.arange(0, self.hs, 2, dtype=np.float64) / self.hs))
        self.lm_head = self.w.get("lm_head.weight", self.w["model.embed_tokens.weight"])
        assert cfg["tie_word_embeddings"] == ("lm_head.weight" not in self.w)

    def rope(self, x, pos):  # x [heads, hs], rotate-half
        ang = pos * self.inv_freq
        cos = np.concatenate([np.cos(ang), np.cos(ang)])
        sin = np.concatenate([np.sin(ang), np.sin(ang)])
        half = self.hs // 2
        rot = np.concatenate([-x[:, half:], x[:, :half]], axis=1)
        return x * cos + rot * sin

    def logits_seq(self, ids):
        w, hs = self.w, self.hs
        kc = [[] for _ in range(self.L)]
        vc = [[] for _ in range(self.L)]
        outs = []
        for pos, t in enumerate(ids):
            x = w["model.embed_tokens.weight"][t].copy()
            for l in range(self.L):
                p = f"model.layers.{l}."
                h = rmsnorm(x, w[p + "input_layernorm.weight"], self.eps)
                q = self.rope((w[p + "self_attn.q_proj.weight"] @ h).reshape(self.nh, hs), pos)
                k = self.rope((w[p + "self_attn.k_proj.weight"] @ h).reshape(self.nkv, hs), pos)
                v = (w[p + "self_attn.v_proj.weight"] @ h).reshape(self.nkv, hs)
                kc[l].append(k)
                vc[l].append(v)
                K = np.stack(kc[l])  # [T, nkv, hs]
                V = np.stack(vc[l])
                att = np.empty((self.nh, hs))
                for hh in range(self.nh):
                    g = hh // (self.nh // self.nkv)
                    s = K[:, g, :] @ q[hh] / np.sqrt(hs)
                    s = np.exp(s - s.max())
                    s /= s.sum()
                    att[hh] = s @ V[:, g, :]
                x = x + w[p + "self_attn.o_proj.weight"] @ att.reshape(-1)
                h = rmsnorm(x, w[p + "post_attention_layernorm.weight"], self.eps)
                f = silu(w[p + "mlp.gate_proj.weight"] @ h) * (w[p + "mlp.up_proj.weight"] @ h)
                x = x + w[p + "mlp.down_proj.weight"] @ f
            x = rmsnorm(x, w["model.norm.weight"], self.eps)
            outs.append(self.lm_head @ x)
        return outs


class RunC:
    """run.c's forward (float64), reading the llama2.c file directly; RoPE on interleaved pairs."""

    def __init__(self, path):
        data = open(path, "rb").read()
        dim, hid, L, nh, nkv, vs, seq = struct.unpack_from("<7i", data, 0)
        a = np.frombuffer(data[28:], dtype="<f4").astype(np.float64)
        hs, kvd, V = dim // nh, (dim // nh) * nkv, abs(vs)
        off = 0

        def take(*shape):
            nonlocal off
            n = int(np.prod(shape))
            r = a[off:off + n].reshape(shape)
            off += n
            return r

        self.emb = take(V, dim)
        self.rms_att = take(L, dim)
        self.wq, self.wk, self.wv = take(L, dim, dim), take(L, kvd, dim), take(L, kvd, dim)
        self.wo = take(L, dim, dim)
        self.rms_ffn = take(L, dim)
        self.w1, self.w2, self.w3 = take(L, hid, dim), take(L, dim, hid), take(L, hid, dim)
        self.rms_final = take(dim)
        take(seq * hs // 2)
        take(seq * hs // 2)
        self.wcls = self.emb if vs > 0 else take(V, dim)
        self.dim, self.L, self.nh, self.nkv, self.hs = dim, L, nh, nkv, hs

    def logits_seq(self, ids):
        hs, dim = self.hs, self.dim
        kc = [[] for _ in range(self.L)]
        vc = [[] for _ in range(self.L)]
        outs = []
        for pos, t in enumerate(ids):
            x = self.emb[t].copy()
            for l in range(self.L):
                h = rmsnorm(x, self.rms_att[l], 1e-5)
                q, k, v = self.wq[l] @ h, self.wk[l] @ h, self.wv[l] @ h
                for i in range(0, dim, 2):  # as run.c: freq from i % head_size
                    freq = 1.0 / 10000.0 ** ((i % hs) / hs)
                    c, s = np.cos(pos * freq), np.sin(pos * freq)
                    for vec in ((q, k) if i < len(k) else (q,)):
                        v0, v1 = vec[i], vec[i + 1]
                        vec[i], vec[i + 1] = v0 * c - v1 * s, v0 * s + v1 * c
                kc[l].append(k.reshape(self.nkv, hs))
                vc[l].append(v.reshape(self.nkv, hs))
                K, Vv = np.stack(kc[l]), np.stack(vc[l])
                qh = q.reshape(self.nh, hs)
                att = np.empty((self.nh, hs))
                for hh in range(self.nh):
                    g = hh // (self.nh // self.nkv)
                    sc = K[:, g, :] @ qh[hh] / np.sqrt(hs)
                    sc = np.exp(sc - sc.max())
                    att[hh] = (sc / sc.sum()) @ Vv[:, g, :]
                x = x + self.wo[l] @ att.reshape(-1)
                h = rmsnorm(x, self.rms_ffn[l], 1e-5)
                x = x + self.w2[l] @ (silu(self.w1[l] @ h) * (self.w3[l] @ h))
            outs.append(self.wcls @ rmsnorm(x, self.rms_final, 1e-5))
        return outs


def greedy_fast(model, prompt, steps):
    """run.c's loop: forwards positions 0..steps-1, so the sequence ends with steps + 1 ids (BOS and
    prompt included); stops early on BOS. Recomputes the
    sequence each step (no cache): slow but simple, fine for a 260K model and 128 positions."""
    ids = list(prompt)
    while len(ids) < steps + 1:
        ids.append(int(np.argmax(model.logits_seq(ids)[-1])))
        if ids[-1] == 1:
            ids.pop()
            break
    return ids


# ---- tokenizer.json simulation ---------------------------------------------------------------


class HFTokSim:
    def __init__(self, tj):
        m = tj["model"]
        assert m["type"] == "BPE" and m["byte_fallback"]
        self.vocab = m["vocab"]
        self.id2tok = {i: t for t, i in self.vocab.items()}
        self.ranks = {}
        for r, (a, b) in enumerate(m["merges"]):
            self.ranks.setdefault((a, b), (r, self.vocab[a + b]))
        assert tj["normalizer"] == {"type": "Prepend", "prepend": " "}
        assert tj["pre_tokenizer"] is None
        self.specials = {t["content"]: t["id"] for t in tj["added_tokens"]}

    def bpe(self, text):
        syms = []
        for ch in text:
            if ch in self.vocab:
                syms.append(ch)
            else:
                syms.extend("<0x%02X>" % b for b in ch.encode("utf-8"))
        while True:
            best = None
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r[0] < best[0]):
                    best = (r[0], i)
            if best is None:
                break
            i = best[1]
            syms[i:i + 2] = [syms[i] + syms[i + 1]]
        return [self.vocab[s] for s in syms]

    def encode(self, text, bos=True):
        # split on special tokens (not used by the tests below, which avoid them)
        for sp in self.specials:
            assert sp not in text
        return ([1] if bos else []) + (self.bpe(" " + text) if text else [])

    def decode(self, ids, skip_special=True):
        parts = []
        pending = b""
        for i in ids:
            if skip_special and i in self.specials.values():
                continue
            t = self.id2tok[i]
            if len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
                pending += bytes([int(t[3:5], 16)])
                continue
            if pending:
                parts.append(pending.decode("utf-8", errors="replace"))
                pending = b""
            parts.append(t)
        if pending:
            parts.append(pending.decode("utf-8", errors="replace"))
        s = "".join(parts)
        return s[1:] if s.startswith(" ") else s


def runc_print(pieces, ids):
    """What run.c prints for the sequence ids (ids[0] = BOS): decode(prev, next) + safe_printf."""
    out = b""
    for prev, nxt in zip(ids, ids[1:]):
        p = pieces[nxt]
        if prev == 1 and p[:1] == b" ":
            p = p[1:]
        if conv.is_byte_piece(p):
            p = bytes([int(p[3:5], 16)])
        if len(p) == 1 and not (0x20 <= p[0] < 0x7F or p[0] in b" \t\n\v\f\r"):
            continue
        out += p
    return out.decode("utf-8", errors="replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hf", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--fuzz", type=int, default=20000)
    args = ap.parse_args()
    ok = True
    exp = json.load(open(args.expected))
    hf = HFLlama(args.hf)
    rc = RunC(args.checkpoint)

    case1 = exp["cases"][0]
    ref = case1["token_ids_including_bos"]
    # 2. logits of the two forwards along the reference sequence
    la, lb = hf.logits_seq(ref), rc.logits_seq(ref)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(la, lb))
    print(f"[logits] HF rotate-half (converted) vs run.c interleaved (original), {len(ref)} positions: "
          f"max |diff| = {diff:.3e}")
    ok &= diff < 1e-9
    # 3. greedy along the reference: argmax at each position (teacher forcing) = next reference id
    am = [int(np.argmax(l)) for l in la[:-1]]
    match = sum(int(a == b) for a, b in zip(am, ref[1:]))
    print(f"[greedy BOS] argmax of the converted model matches run.c's next id at {match}/{len(ref) - 1} positions")
    ok &= match == len(ref) - 1
    gen = greedy_fast(hf, [1], case1["steps"])
    print(f"[greedy BOS] free-running greedy from BOS, {case1['steps']} steps: "
          f"{'identical ids' if gen == ref else 'DIFFERENT ids'} ({len(gen)} incl. BOS; {sum(int(a == b) for a, b in zip(gen, ref))} equal)")
    ok &= gen == ref

    _, pieces, scores = conv.read_tokenizer(args.tokenizer, len(la[0]))
    enc = conv.RunCEncoder(pieces, scores)
    tj = json.load(open(os.path.join(args.hf, "tokenizer.json"), encoding="utf-8"))
    sim = HFTokSim(tj)
    t1 = runc_print(pieces, gen)
    print(f"[text BOS] run.c-print of the ids == expected_text: {t1 == case1['expected_text']}; "
          f"HF decode == expected_text: {sim.decode(gen) == case1['expected_text']}")
    ok &= t1 == case1["expected_text"] and sim.decode(gen) == case1["expected_text"]

    case2 = exp["cases"][1]
    p2 = enc.encode(case2["prompt"])
    p2hf = sim.encode(case2["prompt"])
    gen2 = greedy_fast(hf, p2, case2["steps"])
    t2 = runc_print(pieces, gen2)
    print(f"[I sense] prompt ids run.c-encoder {p2}, tokenizer.json {p2hf}; generated {len(gen2) - len(p2)} ids: "
          f"{gen2[len(p2):]}")
    print(f"[I sense] run.c-print == expected_text: {t2 == case2['expected_text']}; "
          f"HF decode(prompt[1:]+gen) == expected_text: {sim.decode(gen2) == case2['expected_text']}")
    ok &= p2 == p2hf and t2 == case2["expected_text"] and sim.decode(gen2) == case2["expected_text"]

    # 4. tokenizer fuzz: run.c encoder vs tokenizer.json simulation
    rng = random.Random(1234)
    texts = [case1["expected_text"], case2["expected_text"], "ilili", "il ili li", "", " ", "  a  b ",
             "Ünïcödé – σ λ μ ° ö ε ∑ 漢字 🙂", "\t\n\r", "0.0000000"]
    alphabet = [p.decode() for p in pieces[3:] if not conv.is_byte_piece(p)] + ["Ä", "€", "\n", "🙂", "ž", "  "]
    for _ in range(args.fuzz):
        n = rng.randint(1, 12)
        texts.append("".join(rng.choice(alphabet) for _ in range(n)))
    bad = [t for t in texts if enc.encode(t) != sim.encode(t)]
    print(f"[tokenizer] run.c encode vs tokenizer.json BPE: {len(texts) - len(bad)}/{len(texts)} texts identical"
          + (f"; first differences: {[(t, enc.encode(t), sim.encode(t)) for t in bad[:3]]}" if bad else ""))
    ok &= not bad
    # decode: HF decode(BOS + encode(text)) == run.c print, for texts run.c can print faithfully
    dbad = [t for t in texts[:2000] if sim.decode(enc.encode(t)) != runc_print(pieces, enc.encode(t))]
    printable = [t for t in dbad if all(ch.isascii() for ch in t)]
    print(f"[tokenizer] decode: HF == run.c print for {2000 - len(dbad)}/2000 round trips; the {len(dbad)} "
          f"others contain byte-fallback non-ASCII (run.c drops those bytes)"
          + (f"; UNEXPECTED ASCII differences: {printable[:3]}" if printable else ""))
    ok &= not printable
    print("check_llama2c: OK" if ok else "check_llama2c: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
