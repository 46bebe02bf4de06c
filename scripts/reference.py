#!/usr/bin/python3
"""Plain PyTorch reference of attnlab's model: load an `attnlab export` and run it without attnlab.

Runs with Debian's Python, which has torch 1.13 (python3-torch): /usr/bin/python3, not a
virtualenv's python3. Needs only torch and the standard library (the safetensors file is parsed
by hand: 8-byte little-endian header length, JSON header, raw bytes).

  attnlab export --run results/default/<run> --format safetensors --probe 8
  /usr/bin/python3 scripts/reference.py check results/default/<run>/export/model.safetensors
  /usr/bin/python3 scripts/reference.py run results/default/<run>/export/model.safetensors \\
      --tokens 3,7,1,30 [--source 4,5,6] [--save out.pt]

`check` recomputes the probe that `attnlab export --probe N` wrote next to the model
(probe.safetensors: inputs, logits, per-layer attention probabilities) and exits 1 when logits or
any probability differ by more than --tolerance (max abs; default 1e-4). `run` prints the logits'
argmax and the attention shapes for given tokens (--save writes {"logits", "probs"} with
torch.save).

From Python:

  import sys; sys.path.insert(0, "scripts")
  import reference
  model = reference.load("results/default/<run>/export/model.safetensors")
  logits, probs = model(tokens)          # tokens: int64 [B,T]; probs: one [B,H,Tq,Tk] per layer
  logits, probs = model(tokens, source)  # encoder_decoder: source int64 [B,S]

The model is re-implemented from the formulas in experiments/model/ and variants/ (it shares no
code with attnlab): pre-LayerNorm blocks; decoder, encoder and encoder_decoder shapes; input
positions learned / sinusoidal / none; scores scaled / dot / additive; positions none / rope /
alibi; patterns full / local / strided / bigbird (random blocks drawn with the same std::mt19937_64
and seed mixing as variants/patterns/bigbird.cpp) / topk; causal or bidirectional; cross attention.
Tensor names follow the contract in docs/export.md.

B = batch, T = (decoder) length, S = source length, C = d_model, H = heads, D = head dim.
"""
import argparse
import json
import math
import struct
import sys
import tomllib
from pathlib import Path

import torch
import torch.nn.functional as F

MODEL_FORMAT = "attnlab.model"
PROBE_FORMAT = "attnlab.probe"
FORMAT_VERSION = "1"
LAYER_NORM_EPS = 1e-5  # LibTorch's LayerNorm default

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
          "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
          "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}


def read_safetensors(path):
    """{name: tensor}, {metadata key: string} of a .safetensors file."""
    data = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", {})
    body = memoryview(data)[8 + length:]
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        dtype = DTYPES[entry["dtype"]]
        if end == begin:
            tensors[name] = torch.empty(entry["shape"], dtype=dtype)
        else:  # bytearray: a writable copy, so torch.frombuffer does not warn
            tensors[name] = torch.frombuffer(bytearray(body[begin:end]), dtype=dtype).reshape(
                entry["shape"])
    return tensors, metadata


# ---------------------------------------------------------------------------------------------
# BigBird's random blocks: std::mt19937_64 seeded by splitmix64 mixes, as in
# variants/patterns/bigbird.cpp

MASK64 = (1 << 64) - 1


def mix(state, value):
    """splitmix64 step of bigbird.cpp's mix(state, value), on uint64."""
    z = (state + (value & MASK64) + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


class MT19937_64:
    """The C++ standard's std::mt19937_64 (64-bit Mersenne Twister)."""
    N, M = 312, 156
    UPPER, LOWER = 0xFFFFFFFF80000000, 0x7FFFFFFF

    def __init__(self, seed):
        self.state = [seed & MASK64]
        for i in range(1, self.N):
            previous = self.state[-1]
            self.state.append((6364136223846793005 * (previous ^ (previous >> 62)) + i) & MASK64)
        self.index = self.N

    def _twist(self):
        state = self.state
        for i in range(self.N):
            x = (state[i] & self.UPPER) | (state[(i + 1) % self.N] & self.LOWER)
            shifted = x >> 1
            if x & 1:
                shifted ^= 0xB5026F5AA96619E9
            state[i] = state[(i + self.M) % self.N] ^ shifted
        self.index = 0

    def __call__(self):
        if self.index >= self.N:
            self._twist()
        y = self.state[self.index]
        self.index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        return y & MASK64


# ---------------------------------------------------------------------------------------------
# Patterns: allowed [1|H, Tq, Tk] bool (None = every key), query i at position i + Tk - Tq.

def relative_positions(query_length, key_length):
    """[Tq,Tk] int64 j - p."""
    offset = key_length - query_length
    queries = torch.arange(offset, offset + query_length).unsqueeze(1)
    return torch.arange(key_length).unsqueeze(0) - queries


def bigbird_allowed(options, heads, layer, query_length, key_length, causal):
    block, global_blocks = options["block"], options["global_blocks"]
    random_blocks, seed = options["random_blocks"], options["random_seed"]
    if key_length % block != 0:
        raise ValueError(f"bigbird: block {block} must divide the key length {key_length}")
    key_blocks = key_length // block

    def shared(query_block):
        last = min(key_blocks - 1, query_block) if causal else key_blocks - 1
        if 0 <= query_block < global_blocks:
            return list(range(0, last + 1))
        blocks = {b for b in range(query_block - 1, query_block + 2) if 0 <= b <= last}
        blocks |= {b for b in range(global_blocks) if b <= last}
        return sorted(blocks)

    def random(query_block, head):
        if 0 <= query_block < global_blocks:
            return []
        taken = set(shared(query_block))
        last = min(key_blocks - 1, query_block - 1) if causal else key_blocks - 1
        candidates = [b for b in range(0, last + 1) if b not in taken]
        state = mix(0, seed)
        for value in (layer, head, query_block):
            state = mix(state, value)
        generator = MT19937_64(state)
        count = min(random_blocks, len(candidates))
        for i in range(count):  # partial Fisher-Yates shuffle
            pick = i + generator() % (len(candidates) - i)
            candidates[i], candidates[pick] = candidates[pick], candidates[i]
        return sorted(candidates[:count])

    offset = key_length - query_length
    allowed = torch.zeros(heads, query_length, key_length, dtype=torch.bool)
    begin = 0
    while begin < query_length:
        query_block = (begin + offset) // block  # floor division, as bigbird.cpp's floor_divide
        end = min(query_length, (query_block + 1) * block - offset)
        for head in range(heads):
            for key_block in shared(query_block) + random(query_block, head):
                allowed[head, begin:end, key_block * block:(key_block + 1) * block] = True
        begin = end
    if causal:
        allowed &= relative_positions(query_length, key_length).le(0).unsqueeze(0)
    return allowed


def pattern_allowed(options, heads, layer, query_length, key_length, causal):
    pattern = options["pattern"]
    relative = relative_positions(query_length, key_length)  # [Tq,Tk] j - p
    if pattern in ("full", "topk"):
        return relative.le(0).unsqueeze(0) if causal else None
    if pattern == "local":
        window = options["window"]
        after = 0 if causal or options["window_sides"] != "two" else window
        return (relative.ge(-window) & relative.le(after)).unsqueeze(0)
    if pattern == "strided":
        stride = options["stride"]
        allowed = relative.abs().le(stride) | torch.remainder(relative, stride).eq(0)
        if causal:
            allowed &= relative.le(0)
        return allowed.unsqueeze(0)
    if pattern == "bigbird":
        return bigbird_allowed(options, heads, layer, query_length, key_length, causal)
    raise ValueError(f"reference.py does not implement variant.pattern = {pattern!r}")


# ---------------------------------------------------------------------------------------------
# Positions inside attention

def rope_rotate(x, positions, base, rotated):
    """x [B,H,T,D] with its first `rotated` dims turned, pairs (m, m + R/2), at positions [T]."""
    half = rotated // 2
    exponents = torch.arange(half, dtype=torch.float64) * (-2.0 / rotated)
    frequencies = torch.pow(base, exponents)                           # [R/2] double
    angles = positions.unsqueeze(1) * frequencies.unsqueeze(0)         # [T,R/2] double
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    first, second = x[..., :half], x[..., half:rotated]
    turned = torch.cat([first * cos - second * sin, second * cos + first * sin], -1)
    if rotated == x.shape[-1]:
        return turned
    return torch.cat([turned, x[..., rotated:]], -1)


def alibi_slopes(heads):
    def power_of_two(n):
        return [2.0 ** (-8.0 * h / n) for h in range(1, n + 1)]
    closest = 1 << int(math.floor(math.log2(heads)))
    slopes = power_of_two(closest)
    doubled = power_of_two(2 * closest)
    i = 0
    while len(slopes) < heads:
        slopes.append(doubled[i])
        i += 2
    return torch.tensor(slopes, dtype=torch.float64).view(heads, 1, 1)


def sinusoidal_table(length, d_model):
    positions = torch.arange(length, dtype=torch.float32).unsqueeze(1)          # [T,1]
    even = torch.arange(0, d_model, 2, dtype=torch.float32)                      # [C/2]
    angles = positions * torch.exp(even * (-math.log(10000.0) / d_model)).unsqueeze(0)
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles[:, :d_model // 2])
    return table


# ---------------------------------------------------------------------------------------------
# The model

class Reference:
    """attnlab's Transformer from exported weights; call it with tokens (and source)."""

    def __init__(self, weights, config, num_classes=0):
        model, self.variant = config["model"], config["variant"]
        self.weights = weights
        self.arch = model["arch"]
        self.layers = model["layers"]
        self.heads = model["heads"]
        self.d_model = model["d_model"]
        self.head_dim = self.d_model // self.heads
        self.positions = model["positions"]
        self.attention_only = model["attention_only"]
        self.num_classes = num_classes
        if self.variant["score"] not in ("scaled", "dot", "additive"):
            raise ValueError(f"reference.py does not implement variant.score = "
                             f"{self.variant['score']!r}")
        if self.variant["position"] not in ("none", "rope", "alibi"):
            raise ValueError(f"reference.py does not implement variant.position = "
                             f"{self.variant['position']!r}")

    def w(self, name):
        if name not in self.weights:
            raise KeyError(f"tensor {name!r} missing from the export (naming contract changed?)")
        return self.weights[name]

    def linear(self, x, prefix):
        return F.linear(x, self.w(prefix + ".weight"), self.w(prefix + ".bias"))

    def norm(self, x, prefix):
        return F.layer_norm(x, (self.d_model,), self.w(prefix + ".weight"),
                            self.w(prefix + ".bias"), LAYER_NORM_EPS)

    def split_heads(self, x):  # [B,T,C] -> [B,H,T,D]
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def scores(self, q, k, prefix):  # [B,H,Tq,D], [B,H,Tk,D] -> [B,H,Tq,Tk]
        score = self.variant["score"]
        if score == "scaled":
            return torch.matmul(q * (1.0 / math.sqrt(self.head_dim)), k.transpose(-2, -1))
        if score == "dot":
            return torch.matmul(q, k.transpose(-2, -1))
        # additive: s_ij = w_h . tanh(W_q q_i + W_k k_j) per head
        projected_q = torch.matmul(q, self.w(prefix + ".score.query_projection").unsqueeze(0))
        projected_k = torch.matmul(k, self.w(prefix + ".score.key_projection").unsqueeze(0))
        hidden = torch.tanh(projected_q.unsqueeze(3) + projected_k.unsqueeze(2))  # [B,H,Tq,Tk,A]
        vector = self.w(prefix + ".score.vector")                                # [H,A]
        return torch.matmul(hidden, vector.view(1, self.heads, 1, -1, 1)).squeeze(-1)

    def attend(self, q, k, v, prefix, layer, causal):
        """Attention of one layer: out [B,H,Tq,D], probs [B,H,Tq,Tk] (exact zeros where masked)."""
        query_length, key_length = q.shape[2], k.shape[2]
        offset = key_length - query_length
        position = self.variant["position"]
        if position == "rope":
            pairs = int(math.floor(self.variant["rope_fraction"] * self.head_dim / 2.0))
            base = float(self.variant["rope_base"])
            q = rope_rotate(q, torch.arange(offset, offset + query_length, dtype=torch.float64),
                            base, 2 * pairs)
            k = rope_rotate(k, torch.arange(key_length, dtype=torch.float64), base, 2 * pairs)
        scores = self.scores(q, k, prefix)
        if position == "alibi":
            distance = relative_positions(query_length, key_length).abs().unsqueeze(0)  # [1,Tq,Tk]
            slopes = alibi_slopes(self.heads).to(scores.dtype)
            scores = scores + (-slopes) * distance.to(scores.dtype)
        allowed = pattern_allowed(self.variant, self.heads, layer, query_length, key_length,
                                  causal)
        if allowed is not None:
            scores = scores.masked_fill(~allowed, float("-inf"))
        if self.variant["pattern"] == "topk":
            keep = min(self.variant["topk"], key_length)
            threshold = scores.topk(keep, dim=-1).values[..., keep - 1:keep]  # [B,H,Tq,1]
            scores = scores.masked_fill(scores < threshold, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        if allowed is not None:  # a query without any allowed key attends to nothing, not NaN
            probs = probs.masked_fill(~allowed, 0.0)
        return torch.matmul(probs, v), probs

    def attention(self, x, memory, prefix, layer, causal, probs):
        batch, length = x.shape[0], x.shape[1]
        if memory is None:
            q, k, v = self.linear(x, prefix + ".qkv").chunk(3, dim=-1)
        else:
            q = self.linear(x, prefix + ".q")
            k, v = self.linear(memory, prefix + ".kv").chunk(2, dim=-1)
        out, layer_probs = self.attend(self.split_heads(q), self.split_heads(k),
                                       self.split_heads(v), prefix, layer, causal)
        probs.append(layer_probs)
        merged = out.transpose(1, 2).reshape(batch, length, self.d_model)
        return self.linear(merged, prefix + ".out")

    def block(self, x, memory, prefix, site, causal, probs):
        """Pre-LN block; `site` numbers its attention layers (self, then cross) model-wide."""
        x = x + self.attention(self.norm(x, prefix + ".attention_norm"), None,
                               prefix + ".self_attention", site, causal, probs)
        if memory is not None:  # cross attention: every source token visible
            x = x + self.attention(self.norm(x, prefix + ".cross_norm"), memory,
                                   prefix + ".cross_attention", site + 1, False, probs)
        if not self.attention_only:
            hidden = F.gelu(self.linear(self.norm(x, prefix + ".mlp_norm"), prefix + ".mlp.fc1"))
            x = x + self.linear(hidden, prefix + ".mlp.fc2")
        return x

    def input_positions(self, x, table_name):
        length = x.shape[1]
        if self.positions == "learned":
            return x + self.w(table_name)[:length]
        if self.positions == "sinusoidal":
            return x + sinusoidal_table(length, self.d_model).to(x.dtype)
        return x

    @torch.no_grad()
    def __call__(self, tokens, source=None):
        """tokens [B,T] (source [B,S]) -> logits [B,T,V] (or [B,K]), [probs [B,H,Tq,Tk] per layer]
        in forward order: encoder self-attention, then per decoder block self and cross."""
        probs = []
        memory = None
        site = 0
        if self.arch == "encoder_decoder":
            if source is None:
                raise ValueError("an encoder_decoder model needs source tokens")
            memory = self.input_positions(F.embedding(source, self.w("embed.weight")),
                                          "encoder.pos_embed.weight")
            for layer in range(self.layers):
                memory = self.block(memory, None, f"encoder.layers.{layer}", site, False, probs)
                site += 1
            memory = self.norm(memory, "encoder.final_norm")
        x = self.input_positions(F.embedding(tokens, self.w("embed.weight")), "pos_embed.weight")
        for layer in range(self.layers):
            x = self.block(x, memory, f"layers.{layer}", site, self.arch != "encoder", probs)
            site += 2 if memory is not None else 1
        x = self.norm(x, "final_norm")
        if self.num_classes > 0:
            x = x.mean(dim=1)  # pooled classification head
        return self.linear(x, "head"), probs


def load(path):
    """The Reference model of an export (model.safetensors)."""
    weights, metadata = read_safetensors(path)
    if metadata.get("format") != MODEL_FORMAT or metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: not an attnlab model export of format version {FORMAT_VERSION} "
                         f"(format {metadata.get('format')!r}, "
                         f"version {metadata.get('format_version')!r})")
    config = tomllib.loads(metadata["config"])
    return Reference(weights, config, int(metadata.get("num_classes", "0")))


def max_abs(a, b):
    if a.shape != b.shape:
        return math.inf
    return (a.double() - b.double()).abs().max().item() if a.numel() else 0.0


def check(model_path, probe_path, tolerance):
    """Recomputes a probe; {"logits": diff, "probs": [diff per layer], "ok": bool}."""
    model = load(model_path)
    if not Path(probe_path).exists():
        raise FileNotFoundError(f"no probe {probe_path}: write one with attnlab export --probe N")
    probe, metadata = read_safetensors(probe_path)
    if metadata.get("format") != PROBE_FORMAT or metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{probe_path}: not an attnlab probe of format version {FORMAT_VERSION}")
    logits, probs = model(probe["inputs"], probe.get("source"))
    expected = sorted(name for name in probe if name.startswith("probs."))
    result = {"logits": max_abs(logits, probe["logits"]),
              "probs": [max_abs(p, probe[name]) for p, name in zip(probs, expected)],
              "layers": len(expected)}
    result["ok"] = (len(probs) == len(expected) and result["logits"] <= tolerance
                    and all(d <= tolerance for d in result["probs"]))
    return result


def parse_tokens(text):
    return torch.tensor([[int(t) for t in text.split(",")]], dtype=torch.int64)


def main():
    parser = argparse.ArgumentParser(
        description="Plain PyTorch reference of an attnlab export (attnlab export --format "
                    "safetensors).", epilog="See the top of this file and "
                    "docs/export.md.")
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser(
        "check", help="recompute probe.safetensors next to each model; exit 1 on disagreement")
    check_parser.add_argument("models", nargs="+", type=Path, help="model.safetensors files")
    check_parser.add_argument("--probe", type=Path,
                              help="probe file (default: probe.safetensors next to the model)")
    check_parser.add_argument("--tolerance", type=float, default=1e-4,
                              help="largest allowed max abs difference (default 1e-4)")
    check_parser.add_argument("--json", type=Path, help="also write the differences as JSON")
    run_parser = commands.add_parser("run", help="logits and attention for given tokens")
    run_parser.add_argument("model", type=Path, help="model.safetensors")
    run_parser.add_argument("--tokens", required=True, help="comma-separated token ids")
    run_parser.add_argument("--source", help="comma-separated source ids (encoder_decoder)")
    run_parser.add_argument("--save", type=Path, help="torch.save {'logits', 'probs'} here")
    arguments = parser.parse_args()

    if arguments.command == "run":
        model = load(arguments.model)
        source = parse_tokens(arguments.source) if arguments.source else None
        logits, probs = model(parse_tokens(arguments.tokens), source)
        print("logits", tuple(logits.shape), "argmax", logits.argmax(-1).tolist())
        for index, p in enumerate(probs):
            print(f"probs.{index:02}", tuple(p.shape))
        if arguments.save:
            torch.save({"logits": logits, "probs": probs}, arguments.save)
        return 0

    if arguments.probe and len(arguments.models) > 1:
        parser.error("--probe needs exactly one model")
    results, failed = {}, False
    for model_path in arguments.models:
        probe_path = arguments.probe or model_path.parent / "probe.safetensors"
        try:
            result = check(model_path, probe_path, arguments.tolerance)
        except Exception as error:  # one broken export must not hide the others' figures
            result = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        results[str(model_path)] = result
        failed |= not result["ok"]
        if "error" in result:
            print(f"FAIL {model_path}: {result['error']}")
        else:
            probs = max(result["probs"], default=0.0)
            print(f"{'ok  ' if result['ok'] else 'FAIL'} {model_path}: logits max abs diff "
                  f"{result['logits']:.3g}, probabilities {probs:.3g} over {result['layers']} "
                  f"layers (tolerance {arguments.tolerance:g})")
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
