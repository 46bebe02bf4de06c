#!/usr/bin/env python3
"""The PyTorch-eager peer of `attnlab bench train`.

Trains the architecture attnlab's bench presets describe, written the way a researcher would
write it in PyTorch (nanoGPT-style): token + learned position embeddings, pre-LayerNorm blocks
with one fused QKV projection, causal scaled dot-product attention (masked_fill + softmax), a GELU
MLP of 4x width, a final LayerNorm and a linear head; AdamW (decay on matrices only), global
gradient-norm clipping at 1.0, cross-entropy on next-token targets.

The data are uniformly random tokens drawn once (a pool of batches, cycled), as in attnlab's
bench: the step's cost does not depend on what the tokens are.

Prints one JSON object: the preset, the step times of the measured steps (seconds), tokens/s
(tokens of the measured steps over their summed time), peak RSS in MB and the final loss.

    python3 scripts/bench/torch_gpt.py --preset small --steps 20 --warmup 3 --threads 2
"""
import argparse
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# d_model, layers, heads, sequence length, batch: the same table as attnlab's bench_train_presets.
PRESETS = {
    "tiny": (64, 2, 4, 64, 16),
    "small": (128, 2, 4, 128, 32),
    "medium": (256, 4, 8, 256, 16),
}
VOCAB = 256


class Block(nn.Module):
    def __init__(self, d_model, heads, length):
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.output = nn.Linear(d_model, d_model)
        self.mlp_norm = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(),
                                 nn.Linear(4 * d_model, d_model))
        self.register_buffer("causal", torch.tril(torch.ones(length, length, dtype=torch.bool)))

    def attention(self, x):
        batch, length, channels = x.shape
        q, k, v = self.qkv(x).split(channels, dim=2)
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.size(-1)))
        scores = scores.masked_fill(~self.causal[:length, :length], float("-inf"))
        out = F.softmax(scores, dim=-1) @ v
        return self.output(out.transpose(1, 2).reshape(batch, length, channels))

    def forward(self, x):
        x = x + self.attention(self.attention_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class GPT(nn.Module):
    def __init__(self, d_model, layers, heads, length):
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, d_model)
        self.positions = nn.Embedding(length, d_model)
        self.blocks = nn.ModuleList(Block(d_model, heads, length) for _ in range(layers))
        self.final_norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, VOCAB)

    def forward(self, tokens):
        x = self.tokens(tokens) + self.positions.weight[: tokens.size(1)]
        for block in self.blocks:
            x = block(x)
        return self.head(self.final_norm(x))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), required=True)
    parser.add_argument("--steps", type=int, default=20, help="measured steps")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured steps first")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    d_model, layers, heads, length, batch = PRESETS[args.preset]
    model = GPT(d_model, layers, heads, length)
    model.train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=3e-4, betas=(0.9, 0.99), eps=1e-8)
    pool = [torch.randint(0, VOCAB, (batch, length + 1)) for _ in range(8)]

    times = []
    loss = None
    for step in range(args.warmup + args.steps):
        data = pool[step % len(pool)]
        start = time.perf_counter()
        logits = model(data[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), data[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)

    json.dump({
        "implementation": "pytorch-eager",
        "torch": torch.__version__,
        "preset": args.preset,
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "tokens_per_step": batch * length,
        "step_seconds": times,
        "tokens_per_s": batch * length * len(times) / sum(times),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "final_loss": loss.item(),
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
