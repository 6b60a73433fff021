"""Does a freshly built SRKAN learn at once? The toy task of issue 2's acceptance.

Each sample belongs to one of 20 classes; its class is the block of 35 channels (of 700) that fires
at ``--high`` (0.2) while all other channels fire at ``--low`` (0.05), Bernoulli per step, T=100.
Default model, batch 32, Adam lr 1e-3; held-out accuracy on 256 fresh samples every 10 steps.
Prints JSON lines and a table.

    python scripts/benchmark_learning.py            # 40 steps
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from srkan import SRKAN


def toy_batch(B: int, g: torch.Generator, T: int = 100, n_classes: int = 20, block: int = 35,
              low: float = 0.05, high: float = 0.2):
    """``([B, T, n_classes·block] spikes, [B] labels)``."""
    y = torch.randint(0, n_classes, (B,), generator=g)
    channel_class = torch.arange(n_classes * block) // block  # [C]
    p = torch.where(channel_class[None, :] == y[:, None], high, low)  # [B, C]
    x = (torch.rand(B, T, n_classes * block, generator=g) < p[:, None, :]).float()
    return x, y


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = SRKAN(n_in=700, n_hidden=256, n_out=20)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(args.seed + 1)
    x_test, y_test = toy_batch(256, torch.Generator().manual_seed(10_000 + args.seed))
    rows, start = [], time.perf_counter()
    for step in range(1, args.steps + 1):
        model.train()
        x, y = toy_batch(32, g)
        loss = torch.nn.functional.cross_entropy(model.readout_membrane(x).mean(1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0 or step == args.steps:
            model.eval()
            with torch.no_grad():
                acc = (model.readout_membrane(x_test).mean(1).argmax(1) == y_test).float().mean().item()
            row = {"step": step, "loss": round(loss.item(), 4), "heldout_acc": round(acc, 4),
                   "firing_rates": {k: round(v, 4) for k, v in model.firing_rates().items()},
                   "elapsed_s": round(time.perf_counter() - start, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| step | loss | held-out acc |\n|---:|---:|---:|")
    for r in rows:
        print(f"| {r['step']} | {r['loss']} | {r['heldout_acc']:.3f} |")


if __name__ == "__main__":
    main()
