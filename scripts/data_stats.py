"""Summarise a dataset exactly as training sees it (same Hydra overrides as train.py).

    python scripts/data_stats.py data=hsd_file data.root=/path/to/folder
    python scripts/data_stats.py data=demo data.dt=5 data.T=200

Prints a JSON summary (samples per split, classes, speakers, T, dt, mean events and frame spikes per
sample, fraction of events dropped after T*dt) and writes it to ``stats.json`` plus ``raster.png`` (one
sample per class) in the run's output directory.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf


def summarise(dm) -> dict:
    out = {
        "datamodule": type(dm).__name__,
        "T": dm.T,
        "dt_ms": dm.dt,
        "window_ms": dm.T * dm.dt,
        "frames": dm.frames,
        "n_channels": dm.n_channels,
        "n_classes": dm.n_classes,
        "class_names": dm.class_names,
        "val_speakers": dm.val_speakers or None,
        "splits": dm.stats,
        "sources": {s: v["source"] for s, v in dm.cache_info.items()},
        "cache": {s: {"path": v["path"], "hit": v["hit"]} for s, v in dm.cache_info.items()},
    }
    tot = sum(v["events"] for v in dm.stats.values())
    out["dropped_fraction_all"] = sum(v["events_dropped"] for v in dm.stats.values()) / tot if tot else 0.0
    return out


def raster(dm, split: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ds = {"train": dm.train_set, "val": dm.val_set, "test": dm.test_set}[split]
    n = dm.n_classes
    cols = min(5, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.4 * rows), sharex=True, sharey=True, squeeze=False)
    names = dm.class_names or [str(i) for i in range(n)]
    for k in range(rows * cols):
        ax = axes[k // cols][k % cols]
        if k >= n:
            ax.axis("off")
            continue
        idx = np.flatnonzero(ds.labels == k)
        ax.set_title(f"{k}: {names[k] if k < len(names) else k}", fontsize=8)
        if idx.size == 0:
            ax.text(0.5, 0.5, "no sample", ha="center", va="center", transform=ax.transAxes)
            continue
        fr = ds[int(idx[0])][0].numpy().T  # [C, T]
        ax.imshow(
            fr > 0, aspect="auto", origin="lower", cmap="Greys", interpolation="nearest",
            extent=(0, dm.T * dm.dt, 0, dm.n_channels),
        )
    for ax in axes[-1]:
        ax.set_xlabel("time (ms)")
    for r in axes:
        r[0].set_ylabel("channel")
    fig.suptitle(f"{type(dm).__name__}: one {split} sample per class (dt={dm.dt} ms, T={dm.T})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@hydra.main(version_base="1.3", config_path="../configs", config_name="data_stats")
def main(cfg: DictConfig) -> dict:
    out_dir = Path(cfg.paths.output_dir)
    dm = hydra.utils.instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    stats = summarise(dm)
    stats["config"] = OmegaConf.to_container(cfg.data, resolve=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2))
    raster(dm, cfg.raster_split, out_dir / "raster.png")
    print(json.dumps(stats))
    print(f"wrote {out_dir / 'stats.json'} and {out_dir / 'raster.png'}")
    return stats


if __name__ == "__main__":
    main()
