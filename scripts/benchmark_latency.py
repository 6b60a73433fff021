"""Inference latency (ms/sample) of SRKAN and every baseline at B=1 and B=32.

Models are built from their Hydra configs (``configs/model/<name>.yaml``: the same defaults as
``train.py model=<name>``), in eval mode under ``torch.inference_mode``, on random binary frames of
SHD density (T=100, 700 channels). The figure is the per-step output the classifier uses
(``readout_membrane`` for SRKAN), median over repeats, divided by the batch size.
Prints one JSON line per measurement, then a markdown table.

    python scripts/benchmark_latency.py                  # T=100, B in {1, 32}
    python scripts/benchmark_latency.py --quick          # fewer repeats (well under a minute on 2 cores)
    python scripts/benchmark_latency.py --threads 1 --models srkan rnn
    python scripts/benchmark_latency.py --device cuda    # on a GPU machine
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MODEL_NAMES, build, n_params, per_step_output, spikes  # noqa: E402


def measure(model, x, repeats: int, warmup: int) -> float:
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    with torch.inference_mode():
        for _ in range(warmup):
            per_step_output(model, x)
        sync()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            per_step_output(model, x)
            sync()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 32])
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="3 repeats, 1 warm-up")
    ap.add_argument("--small", action="store_true", help="tiny models (for tests only)")
    ap.add_argument("--out", default=None, help="also write the JSON lines to this file")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats, warmup = (3, 1) if args.quick else (args.repeats, 3)
    small = {"srkan": dict(n_hidden=16, n_layers=1, n_proj=16), "kan": dict(hidden=[4]),
             "mlp": dict(hidden=[8]), "rnn": dict(n_hidden=8), "lif_snn": dict(n_hidden=8)}
    rows = []
    for name in args.models:
        model = build(name, T=args.T, **(small[name] if args.small else {})).to(args.device).eval()
        for B in args.batch:
            x = spikes(B, args.T).to(args.device)
            sec = measure(model, x, repeats, warmup)
            row = {"bench": "latency", "model": name, "params": n_params(model), "B": B, "T": args.T,
                   "ms_per_sample": 1e3 * sec / B, "ms_per_batch": 1e3 * sec, "device": args.device,
                   "threads": torch.get_num_threads(), "repeats": repeats}
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.out:
        Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows))
    print("\n| model | params | " + " | ".join(f"B={b} ms/sample" for b in args.batch) + " |")
    print("|---|---:|" + "---:|" * len(args.batch))
    for name in args.models:
        mine = {r["B"]: r for r in rows if r["model"] == name}
        first = next(iter(mine.values()))
        print(f"| {name} | {first['params']:,} | " + " | ".join(f"{mine[b]['ms_per_sample']:.3f}" for b in args.batch) + " |")
    return rows


if __name__ == "__main__":
    main()
