"""Benchmark SRKAN against a GRU (700→256, linear readout) measured in the same run.

Prints one JSON line per measurement, then a readable table with SRKAN/GRU ratios:
parameters; inference ms/sample at B=32 and B=1; training-step ms at B=32; peak-RSS growth of one
forward+backward at T ∈ {100, 400, 1600} with ``checkpoint_chunks`` on and off (chunk_size ≈ √T).
Each memory figure is taken in a fresh subprocess: VmHWM is reset (``/proc/self/clear_refs``) after
the model and input exist, so the figure is what one training step adds, as a user would see it
(allocator caches included).

    python scripts/benchmark_model.py            # everything (a few minutes on 2 cores)
    python scripts/benchmark_model.py --quick    # fewer repeats, T ∈ {100, 400}
    python scripts/benchmark_model.py --chunk-sizes 5 10 20 50 0   # only: training-step time per chunk_size
                                                                    # (checkpointing on; 0 = one chunk)
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time

import torch
from torch import nn

from srkan import SRKAN

N_IN, N_HIDDEN, N_OUT = 700, 256, 20


class GRUReadout(nn.Module):
    """The reference: one GRU layer of 256 units and a linear readout, per-step logits."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(N_IN, N_HIDDEN, batch_first=True)
        self.readout = nn.Linear(N_HIDDEN, N_OUT)

    def forward(self, x):
        return self.readout(self.gru(x.float())[0])


def build(name: str, T: int, checkpoint: bool | str = "auto", **overrides) -> nn.Module:
    torch.manual_seed(0)
    if name == "gru":
        return GRUReadout()
    kwargs = dict(n_in=N_IN, n_hidden=N_HIDDEN, n_out=N_OUT, n_layers=4, T=T,
                  chunk_size=max(1, round(math.sqrt(T))), checkpoint_chunks=checkpoint)
    kwargs.update(overrides)
    return SRKAN(**kwargs)


def logits_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model.readout_membrane(x) if hasattr(model, "readout_membrane") else model(x)
    return out.mean(dim=1)


def spikes(B: int, T: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(B, T, N_IN, generator=g) < 0.05).float()


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def inference_ms_per_sample(model, B, T, repeats):
    model.eval()
    x = spikes(B, T)
    with torch.no_grad():
        return best_time(lambda: logits_of(model, x), repeats) * 1e3 / B


def train_step_ms(model, B, T, repeats):
    model.train()
    x, y = spikes(B, T), torch.randint(0, N_OUT, (B,), generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(logits_of(model, x), y).backward()
        opt.step()

    return best_time(step, repeats) * 1e3


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(name: str, T: int, checkpoint: bool, B: int) -> dict:
    """One forward+backward in this (fresh) process; returns peak-RSS growth in MiB."""
    model = build(name, T, checkpoint).train()
    x, y = spikes(B, T), torch.randint(0, N_OUT, (B,))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    before = _rss_kib("VmRSS")
    nn.functional.cross_entropy(logits_of(model, x), y).backward()
    peak = _rss_kib("VmHWM")
    return {"peak_rss_growth_mib": (peak - before) / 1024}


def memory_mib(name: str, T: int, checkpoint: bool, B: int) -> float:
    code = (f"import json, sys, torch; torch.set_num_threads({torch.get_num_threads()}); "
            f"sys.path.insert(0, {repr(sys.path[0])}); import benchmark_model as b; "
            f"print(json.dumps(b.memory_child({name!r}, {T}, {checkpoint}, {B})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_growth_mib"]


def profile_train_step(B: int, T: int) -> dict:
    """Where one default training step's CPU time goes: self time of matmuls, and the inclusive
    time of each model component (forward, recompute and backward together)."""
    from torch.profiler import profile, record_function

    import srkan.nn.dendrite as dendrite
    import srkan.nn.neuron as neuron
    import srkan.nn.synapse as synapse

    def labelled(fn, label):
        def wrapper(*args, **kwargs):
            with record_function(label):
                return fn(*args, **kwargs)
        return wrapper

    patches = [(synapse.ModalSynapse, "forward", "synapse (trace, norm, curves, mix)"),
               (synapse.ModalSynapse, "curves_at", "  of which spline curves"),
               (dendrite.DendriticGate, "forward", "dendritic gate"),
               (neuron.AdaptiveLIF, "forward", "LIF loop (forward)")]
    originals = [(cls, name, getattr(cls, name)) for cls, name, _ in patches]
    for cls, name, label in patches:
        setattr(cls, name, labelled(getattr(cls, name), label))
    try:
        model = build("srkan", T, True).train()
        x, y = spikes(B, T), torch.randint(0, N_OUT, (B,))

        def step():
            nn.functional.cross_entropy(logits_of(model, x), y).backward()

        step()
        with profile() as prof:
            step()
    finally:
        for cls, name, fn in originals:
            setattr(cls, name, fn)
    events = {e.key: e for e in prof.key_averages()}
    total = sum(e.self_cpu_time_total for e in events.values())
    share = {label: events[label].cpu_time_total / total for _, _, label in patches if label in events}
    share["matmul (mm + addmm, self)"] = sum(events[k].self_cpu_time_total for k in ("aten::mm", "aten::addmm")
                                            if k in events) / total
    share["LIF backward (self + children)"] = events["_LIFChunkBackward"].cpu_time_total / total \
        if "_LIFChunkBackward" in events else 0.0
    return {k: round(v, 3) for k, v in share.items()}


def emit(rows: list, metric: str, srkan: float, gru: float, unit: str, **extra):
    row = {"metric": metric, "srkan": round(srkan, 4), "gru": round(gru, 4),
           "ratio": round(srkan / gru, 3) if gru else None, "unit": unit, **extra}
    rows.append(row)
    print(json.dumps(row), flush=True)


def main(argv=None) -> list:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats; memory at T=100, 400 only")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--memory-T", type=int, nargs="*", default=None, help="sequence lengths for memory")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--profile", action="store_true", help="also print where a training step's time goes")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--chunk-sizes", type=int, nargs="+", default=None, metavar="L",
                        help="only time a training step (checkpointing on) at each chunk size, 0 = one chunk")
    args = parser.parse_args(argv)
    if args.chunk_sizes and any(L < 0 for L in args.chunk_sizes):
        parser.error(f"--chunk-sizes must be >= 0 (0 = whole sequence), got {args.chunk_sizes}")
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = args.repeats or (2 if args.quick else 5)
    Ts = args.memory_T or ([100, 400] if args.quick else [100, 400, 1600])
    B, T = args.batch, 100
    rows: list = []
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "batch": B}), flush=True)

    srkan, gru = build("srkan", T), build("gru", T)
    if args.chunk_sizes:
        gru_step = train_step_ms(gru, B, T, repeats)
        emit(rows, f"train_step_ms_B{B}_checkpoint_off", train_step_ms(build("srkan", T, False), B, T, repeats),
             gru_step, "ms", T=T)
        for L in args.chunk_sizes:
            emit(rows, f"train_step_ms_B{B}_checkpoint_on_L{L}",
                 train_step_ms(build("srkan", T, True, chunk_size=L), B, T, repeats), gru_step, "ms", T=T)
        _print_table(rows, B)
        return rows
    emit(rows, "parameters", sum(p.numel() for p in srkan.parameters()),
         sum(p.numel() for p in gru.parameters()), "count")
    emit(rows, "inference_ms_per_sample_B32", inference_ms_per_sample(srkan, B, T, repeats),
         inference_ms_per_sample(gru, B, T, repeats), "ms", T=T)
    emit(rows, "inference_ms_per_sample_B1", inference_ms_per_sample(srkan, 1, T, repeats * 4),
         inference_ms_per_sample(gru, 1, T, repeats * 4), "ms", T=T)
    gru_step = train_step_ms(gru, B, T, repeats)
    emit(rows, "train_step_ms_B32", train_step_ms(srkan, B, T, repeats), gru_step, "ms", T=T,
         checkpoint_chunks="auto (off: %.0f MiB of activations)" % srkan.activation_mib(B, T))
    emit(rows, "train_step_ms_B32_checkpoint_on", train_step_ms(build("srkan", T, True), B, T, repeats),
         gru_step, "ms", T=T)
    for t in Ts:
        gru_mib = memory_mib("gru", t, True, B)
        for ckpt in (True, False):
            emit(rows, f"peak_rss_growth_T{t}_checkpoint_{'on' if ckpt else 'off'}",
                 memory_mib("srkan", t, ckpt, B), gru_mib, "MiB", T=t,
                 chunk_size=max(1, round(math.sqrt(t))))

    if args.profile:
        print(json.dumps({"metric": "train_step_time_share", **profile_train_step(B, T)}), flush=True)
    _print_table(rows, B)
    return rows


def _print_table(rows: list, B: int) -> None:
    print()
    print(f"| measurement (B={B}) | SRKAN | GRU-256 | SRKAN / GRU |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['metric']} ({r['unit']}) | {r['srkan']:,} | {r['gru']:,} | {r['ratio']} |")


if __name__ == "__main__":
    main()
