"""Peak training memory vs sequence length T: SRKAN with and without chunk checkpointing, and baselines.

One training step (forward + backward of the mean-over-time cross-entropy) per measurement, each in a
fresh subprocess. On CPU the figure is the growth of the process's peak RSS (VmHWM, reset through
``/proc/self/clear_refs`` after the model and input exist), i.e. what the step adds as a user sees it,
allocator caches included; on CUDA it is ``torch.cuda.max_memory_allocated`` growth.
SRKAN uses its Hydra defaults (``configs/model/srkan.yaml``) with ``chunk_size ≈ √T``.
The MLP is left out: its parameter count grows with T (700·T·260 weights).
Prints JSON lines, a markdown table, and writes a log-log PNG plot.

    python scripts/benchmark_memory.py                       # T in {100, 200, 400, 800, 1600}, B=8
    python scripts/benchmark_memory.py --quick               # T in {50, 100, 200}
    python scripts/benchmark_memory.py --png logs/memory.png --device cuda
    python scripts/benchmark_memory.py --variants srkan_ckpt --chunk-sizes 5 10 20 50 0 --T 100 400 1600
                                                             # the chunk_size trade-off (0 = one chunk)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

VARIANTS = {  # name -> (model config, overrides)
    "srkan_ckpt": ("srkan", {"checkpoint_chunks": True}),
    "srkan_nockpt": ("srkan", {"checkpoint_chunks": False}),
    "rnn": ("rnn", {}),
    "lif_snn": ("lif_snn", {}),
    "kan": ("kan", {}),
}
SMALL = {"srkan": dict(n_hidden=16, n_layers=2, n_proj=16), "rnn": dict(n_hidden=8),
         "lif_snn": dict(n_hidden=8), "kan": dict(hidden=[4])}


def _status_kb(key: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def child(variant: str, T: int, B: int, device: str, small: bool, chunk_size: int | None = None) -> dict:
    import torch

    from _common import build, n_params, per_step_output, spikes

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    cfg_name, over = VARIANTS[variant]
    over = dict(over)
    if cfg_name == "srkan":
        over["chunk_size"] = max(1, round(math.sqrt(T))) if chunk_size is None else chunk_size
    if small:
        over.update(SMALL[cfg_name])
    model = build(cfg_name, T=T, **over).to(device).train()
    x = spikes(B, T).to(device)
    y = torch.randint(0, 20, (B,), device=device)
    # no warm-up step: the allocator would keep its memory and the measured step would reuse it;
    # gradients are allocated up front so the figure is activations + temporaries only
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        base = _status_kb("VmRSS") * 1024
    loss = torch.nn.functional.cross_entropy(per_step_output(model, x).mean(1), y)
    loss.backward()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = _status_kb("VmHWM") * 1024
    if chunk_size is not None:
        variant = f"{variant}_L{chunk_size}"
    return {"bench": "memory", "variant": variant, "T": T, "B": B, "device": device,
            "params": n_params(model), "chunk_size": over.get("chunk_size"),
            "peak_mib": (peak - base) / 2 ** 20}


def _runs(variants: list[str], chunk_sizes: list[int] | None) -> list[tuple[str, int | None]]:
    """(variant, chunk size) pairs to measure; ``None`` = the default ``round(√T)``."""
    return [(v, L) for v in variants
            for L in (chunk_sizes if chunk_sizes and VARIANTS[v][0] == "srkan" else [None])]


def plot(rows: list[dict], png: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for v in dict.fromkeys(r["variant"] for r in rows):
        pts = sorted((r["T"], max(r["peak_mib"], 1e-3)) for r in rows if r["variant"] == v)
        ax.plot(*zip(*pts), marker="o", label=v)
    Ts = sorted({r["T"] for r in rows})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T (steps)")
    ax.set_ylabel("peak memory of one training step (MiB)")
    ax.set_xticks(Ts)
    ax.set_xticklabels([str(t) for t in Ts])
    ax.set_title(f"training-step memory vs T (B={rows[0]['B']}, {rows[0]['device']})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    from _common import save_figure

    save_figure(fig, png, dpi=120)


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", nargs="+", type=int, default=None)
    ap.add_argument("--B", type=int, default=8)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="T in {50, 100, 200}")
    ap.add_argument("--small", action="store_true", help="tiny models (for tests only)")
    ap.add_argument("--chunk-sizes", nargs="+", type=int, default=None, metavar="L",
                    help="run the SRKAN variants at each of these chunk sizes (0 = the whole sequence) "
                         "instead of round(sqrt(T)); rows are named <variant>_L<size>")
    ap.add_argument("--png", default="logs/benchmarks/memory_vs_T.png")
    ap.add_argument("--out", default=None, help="also write the JSON lines to this file")
    ap.add_argument("--child", nargs=2, metavar=("VARIANT", "T"), help=argparse.SUPPRESS)
    ap.add_argument("--child-chunk", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.B, args.device, args.small, args.child_chunk)))
        return []
    Ts = args.T or ([50, 100, 200] if args.quick else [100, 200, 400, 800, 1600])
    if args.chunk_sizes and any(L < 0 for L in args.chunk_sizes):
        ap.error(f"--chunk-sizes must be >= 0 (0 = whole sequence), got {args.chunk_sizes}")
    rows = []
    for v, chunk in _runs(args.variants, args.chunk_sizes):
        for T in Ts:
            cmd = [sys.executable, __file__, "--child", v, str(T), "--B", str(args.B), "--device", args.device]
            if args.small:
                cmd.append("--small")
            if chunk is not None:
                cmd += ["--child-chunk", str(chunk)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError(f"memory child {v} T={T} chunk_size={chunk} failed:\n{res.stderr[-3000:]}")
            row = json.loads(res.stdout.strip().splitlines()[-1])
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.out:
        Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows))
    plot(rows, args.png)
    print("\n| variant | params | " + " | ".join(f"T={t} (MiB)" for t in Ts) + " |")
    print("|---|---:|" + "---:|" * len(Ts))
    for v in dict.fromkeys(r["variant"] for r in rows):
        mine = {r["T"]: r for r in rows if r["variant"] == v}
        print(f"| {v} | {mine[Ts[0]]['params']:,} | " + " | ".join(f"{mine[t]['peak_mib']:.1f}" for t in Ts) + " |")
    print(f"\nplot: {args.png}")
    return rows


if __name__ == "__main__":
    main()
