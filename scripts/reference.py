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
(probe.safetensors: inputs, logits, per-layer attention maps and their kinds) and exits 1 when
logits or any map entry differ by more than --tolerance (max abs; default 1e-4) or a recorded map
kind is not the one the formulas give. `run` prints the logits' argmax and the attention shapes
for given tokens (--save writes {"logits", "probs"} with torch.save).

From Python:

  import sys; sys.path.insert(0, "scripts")
  import reference
  model = reference.load("results/default/<run>/export/model.safetensors")
  logits, probs = model(tokens)          # tokens: int64 [B,T]; probs: one map [B,H,Tq,Tk] per
                                         # layer (a distribution per row only for softmax)
  logits, probs = model(tokens, source)  # encoder_decoder: source int64 [B,S]

The model is re-implemented from the formulas in experiments/model/ and variants/ (it shares no
code with attnlab): pre-LayerNorm blocks; decoder, encoder and encoder_decoder shapes; input
positions learned / sinusoidal / none; key/value heads shared by groups of query heads
(variant.kv_heads); QK-norm none / rms / layer; scores scaled / dot / additive, soft-capped
(variant.softcap); positions none / rope / alibi / t5; patterns full / local / strided / bigbird
(random blocks drawn with the same std::mt19937_64 and seed mixing as
variants/patterns/bigbird.cpp) / topk; normalisers softmax / sink / sigmoid; mixers single /
differential; output gates none / head / element; linear (kernel) attention: the score kernel
with feature maps elu1 / relu / cosformer / taylor / favor (its random features read from the
export) and the normaliser linear, with or without its denominator; causal or bidirectional; cross
attention.
Tensor names follow the contract in docs/export.md.

B = batch, T = (decoder) length, S = source length, C = d_model, H = heads, G = key/value heads,
D = head dim, d = the score's head dim (D, or D/2 for differential attention).
"""
import argparse
import json
import math
import struct
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

MODEL_FORMAT = "attnlab.model"
PROBE_FORMAT = "attnlab.probe"
# Version 2 added shared key/value heads, the QK-norm, normaliser, mixer and gate stages and the
# probe's map_kinds; a version 1 file is a version 2 file with those at their defaults.
FORMAT_VERSIONS = ("1", "2")
VERSION_1_VARIANT = {"qk_norm": "none", "normaliser": "softmax", "mixer": "single",
                     "gate": "none", "kv_heads": 0, "softcap": math.inf}
LAYER_NORM_EPS = 1e-5  # LibTorch's LayerNorm default
QK_NORM_EPS = 1e-6
DIFFERENTIAL_NORM_EPS = 1e-5
LINEAR_NORM_EPS = 1e-6  # the output norm of linear attention without its denominator
# The parts this file implements, per stage (variant.<stage>).
# variant.feature_map is read (and checked) only with variant.score = kernel: exports made before
# it existed lack the key.
IMPLEMENTED = {"score": ("scaled", "dot", "additive", "kernel"),
               "position": ("none", "rope", "alibi", "t5"),
               "pattern": ("full", "local", "strided", "bigbird", "topk"),
               "qk_norm": ("none", "rms", "layer"),
               "normaliser": ("softmax", "sink", "sigmoid", "linear"),
               "mixer": ("single", "differential"), "gate": ("none", "head", "element"),
               "feature_map": ("elu1", "relu", "cosformer", "taylor", "favor")}

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


def t5_bucket(relative, bidirectional, buckets, max_distance):
    """T5's _relative_position_bucket (Raffel et al. 2020; as in transformers' T5Attention) of
    relative = j - i (int64, any shape): distances below half the buckets get one bucket each,
    longer ones logarithmically wider buckets up to max_distance, beyond it the last; a
    bidirectional layer gives keys after the query the upper half. The logarithm is taken in
    double, as attnlab does (T5: float32; they differ only where it lands on an integer)."""
    bucket = torch.zeros_like(relative)
    distance = -relative
    if bidirectional:
        buckets //= 2
        bucket += (distance < 0).long() * buckets
        distance = distance.abs()
    else:
        distance = distance.clamp(min=0)
    max_exact = buckets // 2
    large = max_exact + (torch.log(distance.double() / max_exact)
                         / math.log(max_distance / max_exact) * (buckets - max_exact)).long()
    large = large.clamp(max=buckets - 1)
    return bucket + torch.where(distance < max_exact, distance, large)


def sinusoidal_table(length, d_model):
    positions = torch.arange(length, dtype=torch.float32).unsqueeze(1)          # [T,1]
    even = torch.arange(0, d_model, 2, dtype=torch.float32)                      # [C/2]
    angles = positions * torch.exp(even * (-math.log(10000.0) / d_model)).unsqueeze(0)
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles[:, :d_model // 2])
    return table


# ---------------------------------------------------------------------------------------------
# The stages around the map (variants/parts.h), each from its paper's formula.

def share_kv_heads(x, heads):
    """x [B,G,T,D] -> [B,H,T,D]: query head h reads key/value head h // (H / G) (multi- and
    grouped-query attention; Shazeer 2019, Ainslie et al. 2023)."""
    return x.repeat_interleave(heads // x.shape[1], dim=1)


def qk_norm(kind, x, scale):
    """x [B,H,T,d] normalised over d with a learned scale [d] and no bias: rms divides by the
    root mean square (Wortsman et al. 2023), layer centres and divides by the standard deviation
    (Dehghani et al. 2023); eps 1e-6 inside the square root."""
    if kind == "layer":
        x = x - x.mean(-1, keepdim=True)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + QK_NORM_EPS) * scale


def soft_cap(scores, cap):
    """c·tanh(s / c) (Gemma Team 2024, Gemma 2), before bias and mask; cap inf: none."""
    return scores if math.isinf(cap) else cap * torch.tanh(scores / cap)


# Normalisers: scores [B,H,Tq,Tk], -inf where masked -> the map A, exact zeros where masked.

def softmax_map(scores, allowed):
    """Rows are distributions over the allowed keys; a row without one is 0, not NaN."""
    probs = torch.softmax(scores, dim=-1)
    return probs if allowed is None else probs.masked_fill(~allowed, 0.0)


def sink_map(scores, sink):
    """A_ij = exp(s_ij) / (exp(sigma_h) + sum_l exp(s_il)) with a logit sigma_h per head [H] that
    takes no value (Miller 2023, "softmax off by one", sigma = 0; learned as in OpenAI 2025,
    gpt-oss): rows sum to less than 1."""
    sink_column = sink.view(1, -1, 1, 1).expand(*scores.shape[:-1], 1)
    denominator = torch.logsumexp(torch.cat([scores, sink_column], -1), -1, keepdim=True)
    return torch.exp(scores - denominator)


def sigmoid_map(scores, offset):
    """A = sigmoid(s + b), b = -ln Tk + offset, each key weighed on its own, no row
    normalisation (Ramapuram et al. 2024)."""
    return torch.sigmoid(scores + (-math.log(scores.shape[-1]) + offset))


def linear_map(scores, denominator):
    """Linear attention (Katharopoulos et al. 2020) from kernel scores s >= 0, -inf where masked:
    A_ij = s_ij / sum_j s_ij over the allowed keys (masked pairs weigh 0), so rows are
    distributions, except a row whose scores are all 0 (relu features can vanish), which stays 0;
    without the denominator (TransNormer, Qin et al. 2022) the masked scores themselves, and the
    output is normalised instead (output_rms_norm)."""
    kept = scores.masked_fill(torch.isneginf(scores), 0.0)
    if not denominator:
        return kept
    sums = kept.sum(-1, keepdim=True)
    return torch.where(sums > 0, kept / sums, torch.zeros_like(kept))


def output_rms_norm(out):
    """TransNormer's NormAttention (Qin et al. 2022) without a gain: each head's attended output
    [B,H,Tq,D] divided by its root mean square over D (eps inside the root)."""
    return out / torch.sqrt(out.pow(2).mean(-1, keepdim=True) + LINEAR_NORM_EPS)


# ---------------------------------------------------------------------------------------------
# Feature maps of the kernel score: x [B,H,T,d] -> phi(x) [B,H,T,F]

def elu1_features(x):
    """elu(x) + 1 (Katharopoulos et al. 2020)."""
    return F.elu(x) + 1.0


def relu_features(x):
    return F.relu(x)


def cosformer_features(x, positions, length):
    """cosFormer (Qin et al. 2022): [relu(x) cos(pi p / 2M), relu(x) sin(pi p / 2M)] for the
    token at position p [T], with M = `length` > |p - j| for every pair."""
    angle = (positions.to(torch.float64) * (math.pi / (2.0 * length))).unsqueeze(-1)  # [T,1]
    rectified = F.relu(x)
    return torch.cat([rectified * angle.cos().to(x.dtype), rectified * angle.sin().to(x.dtype)],
                     -1)


def taylor_features(x, projection):
    """Based's second-order Taylor map (Arora et al. 2024) of x projected by P [d', d]:
    [1, x' / d'^(1/4), vec(x' x'^T) / (sqrt(2) sqrt(d'))], F = 1 + d' + d'^2, so that
    phi(q).phi(k) = 1 + q'.k' / sqrt(d') + (q'.k')^2 / (2 d')."""
    projected = torch.matmul(x, projection.t())                  # [B,H,T,d']
    dim = projection.shape[0]
    outer = (projected.unsqueeze(-1) * projected.unsqueeze(-2)).flatten(-2)  # [B,H,T,d'^2]
    return torch.cat([torch.ones_like(projected[..., :1]), projected / dim ** 0.25,
                      outer / (math.sqrt(2.0) * math.sqrt(dim))], -1)


def favor_features(x, omega, is_query):
    """FAVOR+ positive random features (Choromanski et al. 2021) with the exported omega [m, d]:
    exp(omega x' - |x'|^2 / 2) / sqrt(m), x' = x / d^(1/4). A query's exponents are shifted by
    their maximum over the m features, a factor per row that the row sum cancels; a key's by
    max(0, max_r |omega_r|^2 / 2 - 60), a constant bound of every key's exponent beyond 60."""
    scaled = x / x.shape[-1] ** 0.25
    exponent = torch.matmul(scaled, omega.t()) - scaled.pow(2).sum(-1, keepdim=True) / 2.0
    if is_query:
        exponent = exponent - exponent.max(-1, keepdim=True).values
    else:
        exponent = exponent - max(0.0, float(omega.pow(2).sum(-1).max()) / 2.0 - 60.0)
    return torch.exp(exponent) / math.sqrt(omega.shape[0])


def lambda_init(depth):
    """Differential attention's λ_init = 0.8 - 0.6 exp(-0.3 (l - 1)) for layer l from 1 (Ye et
    al. 2024): depth = l - 1, the block's index in its stack."""
    return 0.8 - 0.6 * math.exp(-0.3 * depth)


def differential_lambda(mixer, depth):
    """λ = exp(λq1·λk1) - exp(λq2·λk2) + λ_init (Ye et al. 2024), from {name: tensor [d]}."""
    return (torch.exp((mixer["lambda_q1"] * mixer["lambda_k1"]).sum())
            - torch.exp((mixer["lambda_q2"] * mixer["lambda_k2"]).sum()) + lambda_init(depth))


def differential_finish(out, norm_scale, depth):
    """Each head's output [B,H,Tq,D] normalised with RMSNorm over D (eps 1e-5, learned scale)
    and multiplied by 1 - λ_init (Ye et al. 2024)."""
    normalised = out * torch.rsqrt(out.pow(2).mean(-1, keepdim=True) + DIFFERENTIAL_NORM_EPS)
    return normalised * norm_scale * (1.0 - lambda_init(depth))


def map_kind(variant):
    """What a row of the map is (variants/map_kind.h), as the probe's map_kinds names it."""
    if variant["mixer"] == "differential":
        return "signed"
    if variant["normaliser"] == "linear":  # partial: a row of zero scores stays 0
        return "partial" if variant["linear_denominator"] else "unnormalised"
    return {"softmax": "distribution", "sink": "partial", "sigmoid": "unnormalised"}[
        variant["normaliser"]]


# ---------------------------------------------------------------------------------------------
# The model

@dataclass(frozen=True)
class Site:
    """Where an attention layer sits: its tensor-name prefix, its index among the model's attention
    layers in forward order (bigbird's random draw), its block's depth in its stack (differential
    attention's λ_init), whether a query may see later keys, and its variant's options."""
    prefix: str
    layer: int
    depth: int
    causal: bool
    variant: dict


class Reference:
    """attnlab's Transformer from exported weights; call it with tokens (and source)."""

    def __init__(self, weights, config, num_classes=0):
        model = config["model"]
        self.weights = weights
        self.arch = model["arch"]
        self.layers = model["layers"]
        self.heads = model["heads"]
        self.d_model = model["d_model"]
        self.head_dim = self.d_model // self.heads
        self.positions = model["positions"]
        self.attention_only = model["attention_only"]
        self.num_classes = num_classes
        self.pooling = model.get("pooling", "mean")  # cls: position 0, the classification token
        # Block i's attention layers (self and cross, in either stack) use the run's variant.*
        # with the keys of its preset's copy, layer_variant.<model.layer_variants[i]>, over them.
        variant = {**VERSION_1_VARIANT, **config["variant"]}
        presets = model.get("layer_variants", [])
        copies = config.get("layer_variant", {})
        self.block_variants = ([{**variant, **copies[name]} for name in presets] if presets
                               else [variant] * self.layers)
        for options in self.block_variants:
            for stage, names in IMPLEMENTED.items():
                if stage == "feature_map" and options["score"] != "kernel":
                    continue
                if options[stage] not in names:
                    raise ValueError(f"reference.py does not implement variant.{stage} = "
                                     f"{options[stage]!r}")

    def map_kinds(self):
        """The kind of each map __call__ returns (map_kind), in the same order."""
        kinds = [map_kind(options) for options in self.block_variants]
        if self.arch == "encoder_decoder":  # the encoder's, then each decoder block's self, cross
            return kinds + [kind for kind in kinds for _ in range(2)]
        return kinds

    def w(self, name):
        if name not in self.weights:
            raise KeyError(f"tensor {name!r} missing from the export (naming contract changed?)")
        return self.weights[name]

    def linear(self, x, prefix):
        return F.linear(x, self.w(prefix + ".weight"), self.w(prefix + ".bias"))

    def norm(self, x, prefix):
        return F.layer_norm(x, (self.d_model,), self.w(prefix + ".weight"),
                            self.w(prefix + ".bias"), LAYER_NORM_EPS)

    def split_heads(self, x, heads):  # [B,T,heads*D] -> [B,heads,T,D]
        return x.view(x.shape[0], x.shape[1], heads, self.head_dim).transpose(1, 2)

    def scores(self, q, k, site):  # [B,H,Tq,d], [B,H,Tk,d] -> [B,H,Tq,Tk]
        score = site.variant["score"]
        if score == "scaled":
            return torch.matmul(q * (1.0 / math.sqrt(q.shape[-1])), k.transpose(-2, -1))
        if score == "dot":
            return torch.matmul(q, k.transpose(-2, -1))
        if score == "kernel":
            query_features, key_features = self.features(q, k, site)
            return torch.matmul(query_features, key_features.transpose(-2, -1))
        # additive: s_ij = w_h . tanh(W_q q_i + W_k k_j) per head
        projected_q = torch.matmul(q, self.w(site.prefix + ".score.query_projection").unsqueeze(0))
        projected_k = torch.matmul(k, self.w(site.prefix + ".score.key_projection").unsqueeze(0))
        hidden = torch.tanh(projected_q.unsqueeze(3) + projected_k.unsqueeze(2))  # [B,H,Tq,Tk,A]
        vector = self.w(site.prefix + ".score.vector")                           # [H,A]
        return torch.matmul(hidden, vector.view(1, self.heads, 1, -1, 1)).squeeze(-1)

    def features(self, q, k, site):
        """The kernel score's phi(q) [B,H,Tq,F] and phi(k) [B,H,Tk,F] with variant.feature_map;
        query i sits at position i + Tk - Tq, key j at j; cosFormer's M = max(Tq, Tk)."""
        feature_map = site.variant["feature_map"]
        prefix = site.prefix + ".score.feature_map."
        if feature_map == "elu1":
            return elu1_features(q), elu1_features(k)
        if feature_map == "relu":
            return relu_features(q), relu_features(k)
        if feature_map == "cosformer":
            query_length, key_length = q.shape[2], k.shape[2]
            query_positions = torch.arange(key_length - query_length, key_length)
            longest = max(query_length, key_length)
            return (cosformer_features(q, query_positions, longest),
                    cosformer_features(k, torch.arange(key_length), longest))
        if feature_map == "taylor":
            return (taylor_features(q, self.w(prefix + "query_projection")),
                    taylor_features(k, self.w(prefix + "key_projection")))
        omega = self.favor_projection(prefix, site.variant["favor_features"], q.shape[-1])
        return favor_features(q, omega, is_query=True), favor_features(k, omega, is_query=False)

    def favor_projection(self, prefix, features, dim):
        """favor's omega [m, d] as the run last drew it; the export holds it with the layer's seed
        and its count of training forward passes (int64 scalars), from which attnlab redraws."""
        omega = self.w(prefix + "projection")
        if tuple(omega.shape) != (features, dim):
            raise ValueError(f"{prefix}projection has shape {tuple(omega.shape)}, not "
                             f"[variant.favor_features, d] = [{features}, {dim}]")
        for name in ("seed", "draws"):
            counter = self.w(prefix + name)
            if counter.dtype != torch.int64 or counter.dim() != 0:
                raise ValueError(f"{prefix}{name} is {counter.dtype} {tuple(counter.shape)}, not "
                                 f"an int64 scalar")
        return omega

    def rotate(self, q, k, variant):
        """RoPE on q [B,H,Tq,d] and k [B,H,Tk,d] (query i at position i + Tk - Tq)."""
        if variant["position"] != "rope":
            return q, k
        query_length, key_length = q.shape[2], k.shape[2]
        offset = key_length - query_length
        pairs = int(math.floor(variant["rope_fraction"] * q.shape[-1] / 2.0))
        base = float(variant["rope_base"])
        return (rope_rotate(q, torch.arange(offset, offset + query_length, dtype=torch.float64),
                            base, 2 * pairs),
                rope_rotate(k, torch.arange(key_length, dtype=torch.float64), base, 2 * pairs))

    def position_bias(self, site, query_length, key_length, dtype):
        """The additive bias [1|H,Tq,Tk] of ALiBi or T5, or None."""
        position = site.variant["position"]
        relative = relative_positions(query_length, key_length)  # [Tq,Tk] j - p
        if position == "alibi":
            slopes = alibi_slopes(self.heads).to(dtype)
            return (-slopes) * relative.abs().unsqueeze(0).to(dtype)
        if position == "t5":  # bidirectional for encoder and cross-attention layers
            bucket = t5_bucket(relative, not site.causal, site.variant["t5_buckets"],
                               site.variant["t5_max_distance"])
            return self.w(site.prefix + ".position.table")[bucket].permute(2, 0, 1)
        return None

    def normalise(self, scores, allowed, site):
        normaliser = site.variant["normaliser"]
        if normaliser == "sink":
            return sink_map(scores, self.w(site.prefix + ".normaliser.logits"))
        if normaliser == "sigmoid":
            return sigmoid_map(scores, site.variant["sigmoid_offset"])
        if normaliser == "linear":
            return linear_map(scores, site.variant["linear_denominator"])
        return softmax_map(scores, allowed)

    def map_of(self, q, k, site):
        """One map from q [B,H,Tq,d] and k [B,H,Tk,d]: A [B,H,Tq,Tk], exact zeros where masked."""
        query_length, key_length = q.shape[2], k.shape[2]
        variant = site.variant
        if variant["qk_norm"] != "none":
            q = qk_norm(variant["qk_norm"], q, self.w(site.prefix + ".qk_norm.query_scale"))
            k = qk_norm(variant["qk_norm"], k, self.w(site.prefix + ".qk_norm.key_scale"))
        q, k = self.rotate(q, k, variant)
        scores = soft_cap(self.scores(q, k, site), variant["softcap"])
        bias = self.position_bias(site, query_length, key_length, scores.dtype)
        if bias is not None:
            scores = scores + bias
        allowed = pattern_allowed(variant, self.heads, site.layer, query_length, key_length,
                                  site.causal)
        if allowed is not None:
            scores = scores.masked_fill(~allowed, float("-inf"))
        if variant["pattern"] == "topk":
            keep = min(variant["topk"], key_length)
            threshold = scores.topk(keep, dim=-1).values[..., keep - 1:keep]  # [B,H,Tq,1]
            scores = scores.masked_fill(scores < threshold, float("-inf"))
        return self.normalise(scores, allowed, site)

    def gate(self, x, out, site):
        """Output gate (Qiu et al. 2025): out [B,H,Tq,D] times sigmoid(x W^T + b) of the layer's
        input x [B,Tq,C], one value per head (head) or per element (element)."""
        gate = site.variant["gate"]
        if gate == "none":
            return out
        values = torch.sigmoid(self.linear(x, site.prefix + ".gate.projection"))  # [B,Tq,H|H*D]
        if gate == "head":
            return out * values.transpose(1, 2).unsqueeze(-1)
        return out * self.split_heads(values, self.heads)

    @staticmethod
    def attended(attention_map, v, site):
        """A · v [B,H,Tq,D], RMS-normalised per head for linear attention without its
        denominator (the normaliser's output norm, before the mixer's finish)."""
        out = torch.matmul(attention_map, v)
        variant = site.variant
        if variant["normaliser"] == "linear" and not variant["linear_denominator"]:
            return output_rms_norm(out)
        return out

    def attend(self, q, k, v, x, site):
        """One layer: q [B,H,Tq,D], k and v [B,G,Tk,D], x [B,Tq,C] the layer's input -> out
        [B,H,Tq,D], the map A [B,H,Tq,Tk]."""
        k, v = share_kv_heads(k, self.heads), share_kv_heads(v, self.heads)
        if site.variant["mixer"] == "single":
            attention_map = self.map_of(q, k, site)
            return self.gate(x, self.attended(attention_map, v, site), site), attention_map
        # differential (Ye et al. 2024): A = A(Q1, K1) - λ A(Q2, K2) over the halves of q and k
        half = self.head_dim // 2
        first = self.map_of(q[..., :half], k[..., :half], site)
        second = self.map_of(q[..., half:], k[..., half:], site)
        mixer = {name: self.w(f"{site.prefix}.mixer.{name}")
                 for name in ("lambda_q1", "lambda_k1", "lambda_q2", "lambda_k2")}
        attention_map = first - differential_lambda(mixer, site.depth) * second
        out = differential_finish(self.attended(attention_map, v, site),
                                  self.w(site.prefix + ".mixer.norm_scale"), site.depth)
        return self.gate(x, out, site), attention_map

    def attention(self, x, memory, site, maps):
        batch, length = x.shape[0], x.shape[1]
        kv_heads = site.variant["kv_heads"] or self.heads
        kv_width = kv_heads * self.head_dim  # rows of keys, then of values: G heads each
        if memory is None:
            q, k, v = self.linear(x, site.prefix + ".qkv").split(
                [self.d_model, kv_width, kv_width], dim=-1)
        else:
            q = self.linear(x, site.prefix + ".q")
            k, v = self.linear(memory, site.prefix + ".kv").split(kv_width, dim=-1)
        out, layer_map = self.attend(self.split_heads(q, self.heads),
                                     self.split_heads(k, kv_heads),
                                     self.split_heads(v, kv_heads), x, site)
        maps.append(layer_map)
        merged = out.transpose(1, 2).reshape(batch, length, self.d_model)
        return self.linear(merged, site.prefix + ".out")

    def block(self, x, memory, prefix, first_layer, depth, causal, maps):
        """Pre-LN block; `first_layer` numbers its attention layers (self, then cross)
        model-wide, `depth` is its index in its stack."""
        variant = self.block_variants[depth]
        x = x + self.attention(self.norm(x, prefix + ".attention_norm"), None,
                               Site(prefix + ".self_attention", first_layer, depth, causal,
                                    variant), maps)
        if memory is not None:  # cross attention: every source token visible
            x = x + self.attention(self.norm(x, prefix + ".cross_norm"), memory,
                                   Site(prefix + ".cross_attention", first_layer + 1, depth, False,
                                        variant), maps)
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
        """tokens [B,T] (source [B,S]) -> logits [B,T,V] (or [B,K]), [the map A [B,H,Tq,Tk] per
        layer] in forward order: encoder self-attention, then per decoder block self and cross."""
        maps = []
        memory = None
        site = 0
        if self.arch == "encoder_decoder":
            if source is None:
                raise ValueError("an encoder_decoder model needs source tokens")
            memory = self.input_positions(F.embedding(source, self.w("embed.weight")),
                                          "encoder.pos_embed.weight")
            for layer in range(self.layers):
                memory = self.block(memory, None, f"encoder.layers.{layer}", site, layer, False,
                                    maps)
                site += 1
            memory = self.norm(memory, "encoder.final_norm")
        x = self.input_positions(F.embedding(tokens, self.w("embed.weight")), "pos_embed.weight")
        for layer in range(self.layers):
            x = self.block(x, memory, f"layers.{layer}", site, layer, self.arch != "encoder", maps)
            site += 2 if memory is not None else 1
        x = self.norm(x, "final_norm")
        if self.num_classes > 0:  # pooled classification head
            x = x[:, 0] if self.pooling == "cls" else x.mean(dim=1)
        return self.linear(x, "head"), maps


def read_export(path, expected_format):
    """{name: tensor}, {key: string} of an attnlab file of `expected_format`, of a version this
    file reads."""
    tensors, metadata = read_safetensors(path)
    if (metadata.get("format") != expected_format
            or metadata.get("format_version") not in FORMAT_VERSIONS):
        raise ValueError(f"{path}: not an {expected_format} file of format version "
                         f"{' or '.join(FORMAT_VERSIONS)} (format {metadata.get('format')!r}, "
                         f"version {metadata.get('format_version')!r})")
    return tensors, metadata


def load(path):
    """The Reference model of an export (model.safetensors)."""
    weights, metadata = read_export(path, MODEL_FORMAT)
    config = tomllib.loads(metadata["config"])
    return Reference(weights, config, int(metadata.get("num_classes", "0")))


def max_abs(a, b):
    if a.shape != b.shape:
        return math.inf
    return (a.double() - b.double()).abs().max().item() if a.numel() else 0.0


def check(model_path, probe_path, tolerance):
    """Recomputes a probe; {"logits": diff, "probs": [diff per layer], "map_kinds": [as
    recorded], "expected_map_kinds": [the formulas' kinds], "ok": bool}."""
    model = load(model_path)
    if not Path(probe_path).exists():
        raise FileNotFoundError(f"no probe {probe_path}: write one with attnlab export --probe N")
    probe, metadata = read_export(probe_path, PROBE_FORMAT)
    logits, probs = model(probe["inputs"], probe.get("source"))
    expected = sorted(name for name in probe if name.startswith("probs."))
    recorded = metadata.get("map_kinds")  # absent in version 1: every map was a distribution
    result = {"logits": max_abs(logits, probe["logits"]),
              "probs": [max_abs(p, probe[name]) for p, name in zip(probs, expected)],
              "layers": len(expected),
              "map_kinds": recorded.split(",") if recorded else ["distribution"] * len(expected),
              "expected_map_kinds": model.map_kinds()}
    result["ok"] = (len(probs) == len(expected) and result["logits"] <= tolerance
                    and all(d <= tolerance for d in result["probs"])
                    and result["map_kinds"] == result["expected_map_kinds"])
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
            recorded, expected = result["map_kinds"], result["expected_map_kinds"]
            kinds = (f"map kinds agree ({', '.join(dict.fromkeys(recorded))})"
                     if recorded == expected else
                     f"map kinds recorded {','.join(recorded)}, the formulas give "
                     f"{','.join(expected)}")
            print(f"{'ok  ' if result['ok'] else 'FAIL'} {model_path}: logits max abs diff "
                  f"{result['logits']:.3g}, maps {probs:.3g} over {result['layers']} layers "
                  f"(tolerance {arguments.tolerance:g}); {kinds}")
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
