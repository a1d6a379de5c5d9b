#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Convert a llama2.c checkpoint (+ its tokenizer.bin) into a Hugging Face Llama model folder.

Pure Python standard library (CI runs it without numpy/torch).

    convert_llama2c.py --checkpoint model.bin --tokenizer tok.bin --out DIR
    convert_llama2c.py --tokenizer tok.bin --encode "some text" [--no-bos]   # run.c's encoder

Input formats
-------------
checkpoint (llama2.c legacy, "version 0"): 7 x int32 header
    dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
(vocab_size > 0: the classifier is the token embedding; < 0: a separate wcls follows, |vocab_size|),
then float32 arrays in this order:
    token_embedding_table [vocab, dim]
    rms_att_weight        [n_layers, dim]
    wq                    [n_layers, n_heads*hs, dim]      (hs = dim / n_heads)
    wk, wv                [n_layers, n_kv_heads*hs, dim]
    wo                    [n_layers, dim, n_heads*hs]
    rms_ffn_weight        [n_layers, dim]
    w1, w3 / w2           [n_layers, hidden, dim] / [n_layers, dim, hidden]   (file order: w1, w2, w3)
    rms_final_weight      [dim]
    freq_cis_real, freq_cis_imag   [seq_len * hs / 2] each (unused, skipped)
    wcls                  [vocab, dim]  (only when not shared)
Every matrix is row-major [out, in] with y = W x, i.e. already torch.nn.Linear's layout.

tokenizer.bin: int32 max_token_length, then per token: float32 score, int32 byte length, bytes.

Output folder
-------------
config.json (LlamaForCausalLM, rms_norm_eps 1e-5 and rope_theta 10000 as run.c hard-codes them,
max_position_embeddings = seq_len, tie_word_embeddings = header sign), generation_config.json,
model.safetensors (all F32, HF names; no lm_head.weight when tied), tokenizer.json,
tokenizer_config.json.

RoPE: the one real transformation
---------------------------------
run.c rotates interleaved pairs of each head, (x[2j], x[2j+1]), by angle pos * f_j with
f_j = 1 / 10000^((2j) / hs)   (its `head_dim = i % head_size` is the even index 2j).
HF Llama rotates halves, (x[j], x[j + hs/2]), by pos * inv_freq[j] with
inv_freq = 1 / theta^(arange(0, hs, 2) / hs)  ->  inv_freq[j] = 1 / 10000^((2j) / hs): the same f_j,
and the same rotation sense (x1 cos - x2 sin, x2 cos + x1 sin in both).
So it is enough to reorder the output rows of wq and wk inside every head so that HF's element j is
run.c's element 2j and HF's element j + hs/2 is run.c's element 2j+1:
    new rows of a head = old rows [0, 2, 4, ..., hs-2, 1, 3, ..., hs-1]
q.k dot products are invariant under one permutation applied to both q and k, so attention, and
therefore every logit, is unchanged; wv/wo are not touched.

Tokenizer: what the tokenizer.json expresses and where it can differ from run.c
--------------------------------------------------------------------------------
run.c's encode(): if the text is non-empty, emit the piece " " (a dummy prefix, a raw space: these
llama2.c vocabularies store spaces as ' ', not SentencePiece's U+2581); then one piece per UTF-8 code
point when that code point is a vocab piece, else one <0xXX> token per byte (id = byte + 3); then
repeatedly merge the adjacent pair whose concatenated string is a vocab piece with the highest score
(the leftmost such pair on equal scores) until no pair merges. BOS (1) is put in front.

The tokenizer.json: model BPE (byte_fallback, unk <unk>, fuse_unk) whose vocab is the 512 pieces
verbatim (raw spaces kept), merges = every split (a, b) of a piece into two vocab pieces, ranked by
descending score of the merged piece (ties by id), all splits of one piece adjacent; normalizer
Prepend(" ") (HF skips it for an empty string, as run.c does); no pre-tokenizer (run.c merges across
spaces, so the whole text is one BPE word); post-processor TemplateProcessing putting id 1 in front
(add_special_tokens); decoder ByteFallback, Fuse, Strip(" ", 1, 0); ids 0/1/2 are special added
tokens. The merges are written in the [["a", "b"], ...] form because pieces contain spaces.

Encoding is identical to run.c for every text (tools/check_llama2c.py compares the two on 20,000
random texts), except:
  * Overlapping splits of one piece. run.c gives every split of a piece P the same score and takes
    the leftmost pair present; HF ranks each split separately. They could only disagree for tokens
    a b c with a+b = b+c = P both mergeable at once; the converter ranks (a, b) before (b, c) for
    every such pattern, which makes HF take the left pair too, and warns if the patterns form a cycle.
    (tok512 of aidreams260K has one such piece, "ili" = "il"+"i" = "i"+"li", ranked left-first; the
    state [il, i, li] is not even reachable, since "li" outscores "il".)
  * Special-token text. A text that literally contains "<unk>", "\\n<s>\\n" or "\\n</s>\\n" is split
    there by HF (added tokens, as HF's default parse_special); run.c encodes those characters as
    ordinary text. The Prepend(" ") then also applies to every segment after such a token.
  * Equal scores between different pieces: HF breaks the tie by id, run.c by position. (tok512 of
    aidreams260K has distinct scores for all merge results.)
Decoding differs from what run.c prints only in these ways:
  * run.c prints nothing for a single-byte piece that is not printable or whitespace (isprint/
    isspace in the C locale), so bytes >= 0x80 coming from <0xXX> tokens and control bytes are
    dropped; HF's ByteFallback assembles <0xXX> runs into UTF-8 (or U+FFFD for invalid bytes).
  * run.c strips one leading ' ' only from a piece that directly follows BOS (1) and only from a
    literal piece (not from <0x20>); HF strips one leading ' ' of the whole decoded string, BOS or not
    (with skip_special_tokens the BOS is gone, so decode([1, ...]) equals run.c's output). Decoding a
    continuation without its BOS therefore loses its leading space in HF, not in run.c.
  * run.c stops generating when the model emits BOS (1) and prints "\\n</s>\\n" for 2 without
    stopping; generation_config.json lists eos_token_id [1, 2] so HF-style loops stop on either.
"""

import argparse
import json
import os
import struct
import sys

HEADER = struct.Struct("<7i")


# ---------------------------------------------------------------------------------------------
# tokenizer.bin


def read_tokenizer(path, vocab_size):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise ValueError(f"{path}: too short for a llama2.c tokenizer")
    (max_len,) = struct.unpack_from("<i", data, 0)
    off = 4
    pieces, scores = [], []
    for i in range(vocab_size):
        if off + 8 > len(data):
            raise ValueError(f"{path}: truncated at token {i} (expected {vocab_size} tokens)")
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        if n < 0 or off + n > len(data):
            raise ValueError(f"{path}: token {i} has a bad length {n}")
        pieces.append(data[off:off + n])
        scores.append(score)
        off += n
    if off != len(data):
        raise ValueError(f"{path}: {len(data) - off} trailing bytes after {vocab_size} tokens")
    return max_len, pieces, scores


def is_byte_piece(p):
    return len(p) == 6 and p.startswith(b"<0x") and p.endswith(b">")


class RunCEncoder:
    """llama2.c run.c's encode(), re-implemented (the reference the tokenizer.json is checked against)."""

    def __init__(self, pieces, scores):
        self.pieces = pieces
        self.scores = scores
        self.lookup = {}
        for i, p in enumerate(pieces):
            self.lookup.setdefault(p, i)

    def encode(self, text, bos=True, eos=False):
        data = text.encode("utf-8") if isinstance(text, str) else text
        ids = [1] if bos else []
        toks = []
        if data:
            toks.append(self.lookup[b" "])
        i = 0
        while i < len(data):
            # one UTF-8 code point: a lead byte and its continuation bytes (at most 4 bytes)
            j = i + 1
            while j < len(data) and (data[j] & 0xC0) == 0x80 and j - i < 4:
                j += 1
            cp = data[i:j]
            if cp in self.lookup:
                toks.append(self.lookup[cp])
            else:
                toks.extend(b + 3 for b in cp)
            i = j
        while True:
            best, best_id, best_at = -1e10, -1, -1
            for k in range(len(toks) - 1):
                cand = self.lookup.get(self.pieces[toks[k]] + self.pieces[toks[k + 1]])
                if cand is not None and self.scores[cand] > best:
                    best, best_id, best_at = self.scores[cand], cand, k
            if best_at < 0:
                break
            toks[best_at:best_at + 2] = [best_id]
        ids.extend(toks)
        if eos:
            ids.append(2)
        return ids


def derive_merges(pieces, scores):
    """Every split (a, b) of a piece into two vocab pieces, ranked like run.c's greedy choice.

    Ranks follow the descending score of the merged piece (ties by id). Inside one piece's group
    (run.c gives all its splits the same score and takes the leftmost pair present), a split (a, b)
    goes before a split (b, c) of the same piece, so that for the pieces tokens a b c, where both
    pairs are present and overlap, HF picks the left one as run.c does. A cycle in that order would
    make the two disagree; it is reported by find_ambiguities.
    """
    lookup = {}
    for i, p in enumerate(pieces):
        lookup.setdefault(p, i)
    groups = []
    for t, p in enumerate(pieces):
        if t < 3 or is_byte_piece(p):
            continue
        splits = [(p[:k], p[k:]) for k in range(1, len(p)) if p[:k] in lookup and p[k:] in lookup]
        if splits:
            groups.append(((-scores[t], t), t, splits))
    groups.sort(key=lambda g: g[0])
    merges = []
    for _, t, splits in groups:
        merges += [(a, b, t) for a, b in order_splits(splits)]
    return merges


def overlap_constraints(splits):
    """(left, right) index pairs: splits[left] = (a, b) must rank before splits[right] = (b, c)."""
    return [(i, j) for i, (a, b) in enumerate(splits) for j, (b2, c) in enumerate(splits)
            if i != j and b == b2]


def order_splits(splits):
    """Topological order of one piece's splits under overlap_constraints (stable otherwise)."""
    cons = overlap_constraints(splits)
    indeg = [0] * len(splits)
    for _, j in cons:
        indeg[j] += 1
    done, order = set(), []
    while len(order) < len(splits):
        ready = [i for i in range(len(splits)) if i not in done and indeg[i] == 0]
        if not ready:  # cycle: keep the remaining ones in split order (reported as ambiguity)
            ready = [min(i for i in range(len(splits)) if i not in done)]
        i = ready[0]
        done.add(i)
        order.append(i)
        for l, r in cons:
            if l == i:
                indeg[r] -= 1
    return [splits[i] for i in order]


def find_ambiguities(pieces, merges):
    """Pieces whose overlapping splits cannot all be ordered left-first (HF may then differ from run.c)."""
    by_piece = {}
    for a, b, t in merges:
        by_piece.setdefault(t, []).append((a, b))
    out = []
    for t, splits in by_piece.items():
        for l, r in overlap_constraints(splits):
            if l > r:  # the written order violates a left-before-right constraint
                out.append((pieces[t], splits[l], splits[r]))
    return out


def piece_str(p, path):
    try:
        return p.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: piece {p!r} is not valid UTF-8; tokenizer.json cannot hold it")


def build_tokenizer_json(pieces, scores, merges, path):
    vocab = {}
    for i, p in enumerate(pieces):
        s = piece_str(p, path)
        if s in vocab:
            raise ValueError(f"{path}: duplicate piece {s!r} (ids {vocab[s]} and {i})")
        vocab[s] = i
    specials = [0, 1, 2]
    added = [{"id": i, "content": piece_str(pieces[i], path), "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True} for i in specials]
    bos = piece_str(pieces[1], path)
    tj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Prepend", "prepend": " "},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [1], "tokens": [bos]}},
        },
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ]},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": piece_str(pieces[0], path),
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": True,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [[piece_str(a, path), piece_str(b, path)] for a, b, _ in merges],
        },
    }
    return tj


# ---------------------------------------------------------------------------------------------
# checkpoint -> safetensors


def write_safetensors(path, tensors):
    """tensors: list of (name, shape, bytes-like of little-endian f32)."""
    header = {}
    off = 0
    for name, shape, buf in tensors:
        n = 1
        for s in shape:
            n *= s
        if len(buf) != 4 * n:
            raise AssertionError(f"{name}: {len(buf)} bytes for shape {shape}")
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + len(buf)]}
        off += len(buf)
    header["__metadata__"] = {"format": "pt", "source": "llama2.c checkpoint (convert_llama2c.py)"}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-len(hb) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for _, _, buf in tensors:
            f.write(buf)
    os.replace(tmp, path)


def rope_row_order(n_heads, hs):
    """Row order turning run.c's interleaved-pair layout into HF's rotate-half layout."""
    per_head = list(range(0, hs, 2)) + list(range(1, hs, 2))
    return [h * hs + r for h in range(n_heads) for r in per_head]


def permute_rows(buf, rows, cols, order):
    row_bytes = cols * 4
    assert len(buf) == rows * row_bytes and len(order) == rows
    return b"".join(bytes(buf[r * row_bytes:(r + 1) * row_bytes]) for r in order)


def convert(checkpoint, tokenizer, out_dir):
    with open(checkpoint, "rb") as f:
        data = f.read()
    if len(data) < HEADER.size:
        raise ValueError(f"{checkpoint}: too short for a llama2.c header")
    dim, hidden, n_layers, n_heads, n_kv, vocab_signed, seq_len = HEADER.unpack_from(data, 0)
    shared = vocab_signed > 0
    vocab = abs(vocab_signed)
    for name, v in (("dim", dim), ("hidden_dim", hidden), ("n_layers", n_layers), ("n_heads", n_heads),
                    ("n_kv_heads", n_kv), ("vocab_size", vocab), ("seq_len", seq_len)):
        if v <= 0:
            raise ValueError(f"{checkpoint}: header field {name} = {v} is not positive")
    if dim % n_heads or n_heads % n_kv:
        raise ValueError(f"{checkpoint}: dim {dim}, n_heads {n_heads}, n_kv_heads {n_kv} are inconsistent")
    hs = dim // n_heads
    if hs % 2:
        raise ValueError(f"{checkpoint}: head size {hs} is odd; RoPE needs pairs")
    kv_dim = n_kv * hs
    if sys.byteorder != "little":
        raise SystemExit("convert_llama2c.py: needs a little-endian host")

    mv = memoryview(data)
    pos = HEADER.size

    def take(n_floats, what):
        nonlocal pos
        end = pos + 4 * n_floats
        if end > len(data):
            raise ValueError(f"{checkpoint}: file ends inside {what} (needs {end} bytes, has {len(data)})")
        out = mv[pos:end]
        pos = end
        return out

    emb = take(vocab * dim, "token_embedding_table")
    rms_att = take(n_layers * dim, "rms_att_weight")
    wq = take(n_layers * dim * dim, "wq")
    wk = take(n_layers * kv_dim * dim, "wk")
    wv = take(n_layers * kv_dim * dim, "wv")
    wo = take(n_layers * dim * dim, "wo")
    rms_ffn = take(n_layers * dim, "rms_ffn_weight")
    w1 = take(n_layers * hidden * dim, "w1")
    w2 = take(n_layers * dim * hidden, "w2")
    w3 = take(n_layers * hidden * dim, "w3")
    rms_final = take(dim, "rms_final_weight")
    take(seq_len * hs // 2, "freq_cis_real")
    take(seq_len * hs // 2, "freq_cis_imag")
    wcls = emb if shared else take(vocab * dim, "wcls")
    if pos != len(data):
        raise ValueError(f"{checkpoint}: {len(data) - pos} unexpected trailing bytes (not a version-0 "
                         f"llama2.c checkpoint with this header?)")

    def layer(buf, i, n):
        return buf[i * n * 4:(i + 1) * n * 4]

    q_order = rope_row_order(n_heads, hs)
    k_order = rope_row_order(n_kv, hs)
    tensors = [("model.embed_tokens.weight", (vocab, dim), emb)]
    for i in range(n_layers):
        p = f"model.layers.{i}."
        tensors += [
            (p + "input_layernorm.weight", (dim,), layer(rms_att, i, dim)),
            (p + "self_attn.q_proj.weight", (dim, dim), permute_rows(layer(wq, i, dim * dim), dim, dim, q_order)),
            (p + "self_attn.k_proj.weight", (kv_dim, dim),
             permute_rows(layer(wk, i, kv_dim * dim), kv_dim, dim, k_order)),
            (p + "self_attn.v_proj.weight", (kv_dim, dim), layer(wv, i, kv_dim * dim)),
            (p + "self_attn.o_proj.weight", (dim, dim), layer(wo, i, dim * dim)),
            (p + "post_attention_layernorm.weight", (dim,), layer(rms_ffn, i, dim)),
            (p + "mlp.gate_proj.weight", (hidden, dim), layer(w1, i, hidden * dim)),
            (p + "mlp.up_proj.weight", (hidden, dim), layer(w3, i, hidden * dim)),
            (p + "mlp.down_proj.weight", (dim, hidden), layer(w2, i, dim * hidden)),
        ]
    tensors.append(("model.norm.weight", (dim,), rms_final))
    if not shared:
        tensors.append(("lm_head.weight", (vocab, dim), wcls))

    max_len, pieces, scores = read_tokenizer(tokenizer, vocab)
    merges = derive_merges(pieces, scores)
    tj = build_tokenizer_json(pieces, scores, merges, tokenizer)
    amb = find_ambiguities(pieces, merges)
    for p, s1, s2 in amb:
        print(f"convert_llama2c.py: warning: piece {p!r} has overlapping splits {s1} and {s2}; HF's "
              f"encoding can differ from run.c's where both overlap", file=sys.stderr)
    merged_scores = {}
    for _, _, t in merges:
        merged_scores.setdefault(scores[t], set()).add(t)
    ties = [sorted(v) for v in merged_scores.values() if len(v) > 1]
    if ties:
        print(f"convert_llama2c.py: warning: merge results with equal scores {ties[:5]}...; HF breaks "
              f"these ties by id, run.c by position", file=sys.stderr)

    os.makedirs(out_dir, exist_ok=True)
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": dim,
        "intermediate_size": hidden,
        "num_hidden_layers": n_layers,
        "num_attention_heads": n_heads,
        "num_key_value_heads": n_kv,
        "head_dim": hs,
        "vocab_size": vocab,
        "max_position_embeddings": seq_len,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "tie_word_embeddings": shared,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "float32",
        "use_cache": True,
    }
    gen = {"bos_token_id": 1, "eos_token_id": [1, 2], "do_sample": False}
    tok_cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": piece_str(pieces[1], tokenizer),
        "eos_token": piece_str(pieces[2], tokenizer),
        "unk_token": piece_str(pieces[0], tokenizer),
        "add_bos_token": True,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": seq_len,
        "llama2c_max_token_length": max_len,
    }
    for name, obj in (("config.json", config), ("generation_config.json", gen),
                      ("tokenizer.json", tj), ("tokenizer_config.json", tok_cfg)):
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1 if name != "tokenizer.json" else None, ensure_ascii=False)
            f.write("\n")
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)
    n_params = sum(len(b) // 4 for _, _, b in tensors)
    print(f"convert_llama2c.py: {checkpoint}: dim {dim} hidden {hidden} layers {n_layers} heads {n_heads}/"
          f"{n_kv} vocab {vocab} ({'shared' if shared else 'separate'} classifier) seq_len {seq_len}; "
          f"{n_params} params, {len(merges)} merges -> {out_dir}", file=sys.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(description="llama2.c checkpoint -> HF Llama folder (stdlib only)")
    ap.add_argument("--checkpoint", help="llama2.c .bin (legacy version 0)")
    ap.add_argument("--tokenizer", required=True, help="llama2.c tokenizer .bin")
    ap.add_argument("--out", help="output folder")
    ap.add_argument("--encode", metavar="TEXT", help="print run.c's encoding of TEXT (ids, one line)")
    ap.add_argument("--no-bos", action="store_true", help="with --encode: no BOS in front")
    ap.add_argument("--vocab-size", type=int, default=None,
                    help="with --encode and no --checkpoint: tokenizer size (default 512)")
    args = ap.parse_args(argv)
    try:
        if args.encode is not None:
            vocab = args.vocab_size
            if vocab is None and args.checkpoint:
                with open(args.checkpoint, "rb") as f:
                    vocab = abs(HEADER.unpack(f.read(HEADER.size))[5])
            _, pieces, scores = read_tokenizer(args.tokenizer, vocab or 512)
            print(" ".join(map(str, RunCEncoder(pieces, scores).encode(args.encode, bos=not args.no_bos))))
            return 0
        if not args.checkpoint or not args.out:
            ap.error("--checkpoint and --out are required to convert")
        convert(args.checkpoint, args.tokenizer, args.out)
        return 0
    except (OSError, ValueError, struct.error) as e:
        print(f"convert_llama2c.py: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
