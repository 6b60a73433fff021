"""Benchmark the data path on a synthetic file of SHD's full size.

Writes a synthetic SHD-layout folder (train: 8,156 samples, test: 2,264 samples, ~8,000 events each,
float16 seconds / uint16 units as in SHD) into a temporary folder, then measures with
``HSDFileDataModule``:

- ``first_binning_s``: ``prepare_data()`` on an empty cache (checksum, read, validate, bin, write cache),
  for both files; also per file (``first_binning_train_s``);
- ``cached_load_s``: a fresh datamodule's ``prepare_data()`` + ``setup()`` that hits the cache;
- ``serve_samples_per_s``: one pass over the training DataLoader (batch 32, num_workers 0) from memory,
  with and without the augmentations.

Prints one JSON line per measurement and a readable table. Targets (2 CPU cores): first binning <= 60 s,
cached load <= 5 s, serving >= 20,000 samples/s.

    python scripts/benchmark_data.py [--train 8156 --test 2264 --events 8000 --workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from srkan.data.binning import bin_events
from srkan.data.datamodule import HSDFileDataModule
from srkan.data.hsd import file_checksum, read_hsd, write_hsd


def write_synthetic(path: Path, n: int, events: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    times, units = [], []
    for _ in range(n):
        k = int(rng.poisson(events))
        dur = rng.uniform(0.5, 1.3)  # some samples run past T*dt = 1 s, as in SHD
        times.append(np.sort(rng.uniform(0, dur, k)))
        units.append(rng.integers(0, 700, k))
    labels = rng.integers(0, 20, n)
    speakers = rng.integers(0, 12, n)
    write_hsd(path, times, units, labels, speakers, [f"class_{i}" for i in range(20)], with_zip=False,
              description="SYNTHETIC benchmark data (uniform random events), not SHD")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", type=int, default=8156)
    ap.add_argument("--test", type=int, default=2264)
    ap.add_argument("--events", type=int, default=8000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workdir", default=None, help="where to write the synthetic files and cache (default: a temp dir)")
    args = ap.parse_args()
    torch.set_num_threads(2)

    work = Path(args.workdir or tempfile.mkdtemp(prefix="srkan-bench-"))
    root, cache = work / "root", work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    rows = []

    def report(name: str, value: float, unit: str, target: str) -> None:
        rec = {"metric": name, "value": round(value, 4), "unit": unit, "target": target}
        print(json.dumps(rec), flush=True)
        rows.append(rec)

    t0 = time.perf_counter()
    write_synthetic(root / "SHD" / "shd_train.h5", args.train, args.events, 0)
    write_synthetic(root / "SHD" / "shd_test.h5", args.test, args.events, 1)
    report("write_synthetic_files_s", time.perf_counter() - t0, "s", "-")
    mb = sum(p.stat().st_size for p in (root / "SHD").glob("*.h5")) / 2**20
    report("source_files_MiB", mb, "MiB", "-")

    t0 = time.perf_counter()
    ev = read_hsd(root / "SHD" / "shd_train.h5", n_classes=20)
    t1 = time.perf_counter()
    b = bin_events(ev, dt=10.0, T=100)
    t2 = time.perf_counter()
    report("train_events", float(ev.lengths.sum()), "events", "~8000/sample")
    report("read_validate_train_s", t1 - t0, "s", "-")
    report("bin_train_s", t2 - t1, "s", "-")
    report("dropped_fraction_train", b.dropped_fraction, "fraction", "-")
    del ev, b

    kw = dict(root=str(root), data_dir=str(work), cache_dir=str(cache), batch_size=args.batch_size, n_classes=20)
    dm = HSDFileDataModule(**kw)
    t0 = time.perf_counter()
    dm.prepare_data()
    report("first_binning_s", time.perf_counter() - t0, "s", "<= 60 (train+test, incl. checksum + cache write)")
    del dm
    cache_mb = sum(p.stat().st_size for p in cache.glob("*.npz")) / 2**20
    report("cache_MiB", cache_mb, "MiB", "-")

    file_checksum.__defaults__[0].clear()  # as in a fresh process: the files are hashed again
    dm = HSDFileDataModule(**kw)
    t0 = time.perf_counter()
    dm.prepare_data()
    dm.setup("fit")
    report("cached_load_s", time.perf_counter() - t0, "s", "<= 5 (train+test, incl. checksum)")
    assert all(v["hit"] for v in dm.cache_info.values())

    def serve(loader, augment=None) -> float:
        n = 0
        t0 = time.perf_counter()
        for x, y in loader:
            if augment is not None:
                x = augment(x)
            n += x.shape[0]
        return n / (time.perf_counter() - t0)

    report("serve_samples_per_s", serve(dm.train_dataloader()), "samples/s", ">= 20000")
    dm.channel_shift, dm.event_drop, dm.time_jitter = 20, 0.1, 2
    report("serve_aug_samples_per_s", serve(dm.train_dataloader(), dm.augment), "samples/s",
           "- (channel_shift=20, event_drop=0.1, time_jitter=2)")

    print()
    print(f"{'metric':<28} {'value':>14} {'unit':<10} target")
    for r in rows:
        print(f"{r['metric']:<28} {r['value']:>14,.3f} {r['unit']:<10} {r['target']}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
