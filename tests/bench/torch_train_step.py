#!/usr/bin/python3
"""PyTorch's CPU training step of a llama-architecture Hugging Face checkpoint: the yardstick of
minnow distill's speed (tests/bench/distill.sh).

One optimizer step = --accum micro-batches of --batch windows of --seq tokens (forward, cross-
entropy on the next token, backward), then AdamW; the same shapes, fp32 weights and threads as
minnow's run. Weights are read from model.safetensors (F16/BF16/F32) with numpy, so nothing but
Debian's python3-torch is needed. Prints one JSON object: tokens_per_second over the timed steps.

usage: torch_train_step.py MODEL_DIR --threads N [--seq 256 --batch 4 --accum 4 --steps 4]
"""
import argparse
import json
import math
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F16": np.float16, "F32": np.float32, "BF16": np.uint16}
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=dtypes[t["dtype"]]).reshape(t["shape"])
        if t["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = torch.from_numpy(arr.astype(np.float32))
    return out


class Llama(torch.nn.Module):
    def __init__(self, cfg, weights):
        super().__init__()
        self.cfg = cfg
        self.params = torch.nn.ParameterDict(
            {k.replace(".", "__"): torch.nn.Parameter(v) for k, v in weights.items()})
        hd = cfg["hidden_size"] // cfg["num_attention_heads"]
        inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2).float() / hd))
        self.inv_freq = inv

    def w(self, name):
        return self.params[name.replace(".", "__")]

    def rms(self, x, name):
        eps = self.cfg.get("rms_norm_eps", 1e-5)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * self.w(name)

    def rope(self, x, cos, sin):  # Hugging Face's half-split layout
        half = x.shape[-1] // 2
        rot = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rot * sin

    def forward(self, tokens):
        c = self.cfg
        B, T = tokens.shape
        H, KV = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
        hd = c["hidden_size"] // H
        ang = torch.outer(torch.arange(T).float(), self.inv_freq)
        cos, sin = torch.cat((ang.cos(), ang.cos()), -1), torch.cat((ang.sin(), ang.sin()), -1)
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = F.embedding(tokens, self.w("model.embed_tokens.weight"))
        for l in range(c["num_hidden_layers"]):
            p = f"model.layers.{l}."
            h = self.rms(x, p + "input_layernorm.weight")
            q = F.linear(h, self.w(p + "self_attn.q_proj.weight")).view(B, T, H, hd).transpose(1, 2)
            k = F.linear(h, self.w(p + "self_attn.k_proj.weight")).view(B, T, KV, hd).transpose(1, 2)
            v = F.linear(h, self.w(p + "self_attn.v_proj.weight")).view(B, T, KV, hd).transpose(1, 2)
            q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
            k, v = k.repeat_interleave(H // KV, dim=1), v.repeat_interleave(H // KV, dim=1)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, dim=-1) @ v
            x = x + F.linear(att.transpose(1, 2).reshape(B, T, H * hd), self.w(p + "self_attn.o_proj.weight"))
            h = self.rms(x, p + "post_attention_layernorm.weight")
            g = F.linear(h, self.w(p + "mlp.gate_proj.weight"))
            u = F.linear(h, self.w(p + "mlp.up_proj.weight"))
            x = x + F.linear(F.silu(g) * u, self.w(p + "mlp.down_proj.weight"))
        x = self.rms(x, "model.norm.weight")
        head = "lm_head.weight" if "lm_head__weight" in self.params else "model.embed_tokens.weight"
        return F.linear(x, self.w(head))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--accum", type=int, default=4)
    ap.add_argument("--steps", type=int, default=4)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    cfg = json.load(open(f"{a.model}/config.json"))
    model = Llama(cfg, read_safetensors(f"{a.model}/model.safetensors"))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    V = cfg["vocab_size"]

    def step():
        opt.zero_grad(set_to_none=True)
        for _ in range(a.accum):
            tokens = torch.randint(0, V, (a.batch, a.seq + 1))
            logits = model(tokens[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, V), tokens[:, 1:].reshape(-1)) / a.accum
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    step()  # warm-up: allocations, optimizer state
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(a.steps):
        step()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    tokens = a.steps * a.accum * a.batch * a.seq
    print(json.dumps({"tokens_per_second": tokens / seconds, "seconds": seconds, "cpu_seconds": cpu,
                      "steps": a.steps, "tokens": tokens, "threads": a.threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
