"""Fixed-time-step binning of SHD-layout events into ``uint8`` frames, and the on-disk cache.

Binning rule (identical to binning tonic's events, which tonic builds as ``int(t_seconds * 1e6)``
microseconds): an event at ``t`` seconds on channel ``u`` falls in bin ``floor(int(t * 1e6) / dt_us)``
with ``dt_us = dt_ms * 1000``. Bins ``>= T`` (events after ``T * dt``) are dropped and counted; samples
shorter than ``T * dt`` are zero-padded. ``frames="binary"`` stores 1 where a (bin, channel) has at
least one event; ``frames="count"`` stores the number of events, and a count above 255 raises (it would
not fit the ``uint8`` frame) instead of being clipped.

The work is vectorised over the concatenated events of a chunk of samples (one ``np.bincount`` on
flattened ``(sample, bin, channel)`` indices per chunk); there is no Python loop over events.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .hsd import N_CHANNELS, HSDEvents

FRAME_MODES = ("binary", "count")
CACHE_VERSION = 2


class CountOverflowError(ValueError):
    """A (bin, channel) holds more events than a uint8 count frame can store."""


def dt_to_us(dt: float) -> int:
    """Bin width in integer microseconds; ``dt`` is in milliseconds and must be a whole number of µs."""
    dt_us = int(round(float(dt) * 1000.0))
    if dt_us <= 0 or abs(float(dt) * 1000.0 - dt_us) > 1e-6:
        raise ValueError(f"dt must be a positive whole number of microseconds (given in ms), got dt={dt!r}")
    return dt_us


@dataclass
class BinnedSplit:
    """Frames of one file: ``frames`` uint8 ``[N, T, C]``, ``labels`` int64 ``[N]`` and bookkeeping."""

    frames: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray | None
    n_events: np.ndarray  # events per sample in the file
    n_dropped: np.ndarray  # events per sample after T*dt (dropped)
    frame_spikes: np.ndarray | None = None  # sum of each sample's frame (non-zero entries for binary)
    source: str = ""
    cache_path: str | None = None
    cache_hit: bool = False
    meta: dict = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(self.labels.shape[0])

    @property
    def dropped_fraction(self) -> float:
        tot = int(self.n_events.sum())
        return float(self.n_dropped.sum()) / tot if tot else 0.0


def bin_events(
    ev: HSDEvents,
    *,
    dt: float = 10.0,
    T: int = 100,
    frames: str = "binary",
    n_channels: int = N_CHANNELS,
    chunk_events: int = 1 << 22,
) -> BinnedSplit:
    """Bin validated events (see module docstring). Memory stays bounded by processing chunks of samples."""
    if frames not in FRAME_MODES:
        raise ValueError(f"frames must be one of {FRAME_MODES}, got {frames!r}")
    T = int(T)
    if T <= 0:
        raise ValueError(f"T must be a positive number of bins, got {T}")
    dt_us = dt_to_us(dt)
    n = ev.n_samples
    C = int(n_channels)
    TC = T * C
    out = np.zeros((n, T, C), dtype=np.uint8)
    n_dropped = np.zeros(n, dtype=np.int64)
    frame_spikes = np.zeros(n, dtype=np.int64)
    off = ev.offsets
    # chunk boundaries: consecutive samples holding about chunk_events events (at least one sample)
    s0 = 0
    while s0 < n:
        target = off[s0] + chunk_events
        s1 = int(np.searchsorted(off, target, side="right")) - 1
        s1 = min(max(s1, s0 + 1), n)
        s1 = min(s1, s0 + max(1, (64 << 20) // max(TC * 8, 1)))  # bincount buffer <= 64 MiB
        e0, e1 = int(off[s0]), int(off[s1])
        ns = s1 - s0
        if e1 > e0:
            sample = np.repeat(np.arange(ns, dtype=np.int64), ev.lengths[s0:s1])
            t_us = (ev.times[e0:e1].astype(np.float64) * 1e6).astype(np.int64)
            b = t_us // dt_us
            keep = b < T
            if not keep.all():
                n_dropped[s0:s1] = np.bincount(sample[~keep], minlength=ns)
                sample, b, u = sample[keep], b[keep], ev.units[e0:e1][keep]
            else:
                u = ev.units[e0:e1]
            flat = (sample * T + b) * C + u
            counts = np.bincount(flat, minlength=ns * TC)
            if frames == "count":
                m = int(counts.max(initial=0))
                if m > 255:
                    j = int(np.argmax(counts))
                    si, rem = divmod(j, TC)
                    raise CountOverflowError(
                        f"{ev.path}: sample {s0 + si} has {m} events in bin {rem // C} of channel {rem % C} "
                        f"(dt={dt} ms); a uint8 count frame holds at most 255 - use frames=binary or a smaller dt"
                    )
                out[s0:s1] = counts.reshape(ns, T, C)
                frame_spikes[s0:s1] = np.bincount(sample, minlength=ns)
            else:
                out[s0:s1] = (counts > 0).reshape(ns, T, C)
                frame_spikes[s0:s1] = np.count_nonzero(out[s0:s1].reshape(ns, T * C), axis=1)
        s0 = s1
    return BinnedSplit(
        frames=out,
        labels=ev.labels.astype(np.int64),
        speakers=None if ev.speakers is None else ev.speakers.astype(np.int64),
        n_events=ev.lengths.astype(np.int64),
        n_dropped=n_dropped,
        frame_spikes=frame_spikes,
        source=ev.path,
    )


# --------------------------------------------------------------------------------------------- cache


def cache_params(source_sha256: str, *, dt: float, T: int, frames: str, n_channels: int = N_CHANNELS) -> dict:
    """Everything the cached frames depend on."""
    return {
        "cache_version": CACHE_VERSION,
        "source_sha256": source_sha256,
        "dt_us": dt_to_us(dt),
        "T": int(T),
        "frames": str(frames),
        "n_channels": int(n_channels),
        "time_rule": "floor(int(t_s*1e6)/dt_us)",
    }


def cache_path_for(cache_dir: str | os.PathLike, source: str | os.PathLike, params: dict) -> Path:
    """Readable file name that encodes every binning parameter and the source checksum."""
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    stem = Path(source).name.replace(".h5", "").replace(".", "_")
    name = (
        f"{stem}_sha{params['source_sha256'][:12]}_dt{params['dt_us']}us_T{params['T']}_"
        f"{params['frames']}_c{params['n_channels']}_v{params['cache_version']}_{h}.npz"
    )
    return Path(cache_dir) / name


def save_cache(path: str | os.PathLike, split: BinnedSplit, params: dict) -> Path:
    """Write the frames (binary: bit-packed; count: sparse per sample) atomically: temp file, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n, T, C = split.frames.shape
    flat = split.frames.reshape(n, T * C)
    arrays = {
        "shape": np.array([n, T, C], dtype=np.int64),
        "labels": split.labels,
        "n_events": split.n_events,
        "n_dropped": split.n_dropped,
        "frame_spikes": split.frame_spikes,
        "params": np.array(json.dumps(params, sort_keys=True)),
    }
    if params["frames"] == "binary":  # dense bit-packed: 8x smaller than the frames, unpacked fast
        arrays["bits"] = np.packbits(flat, axis=1)
    else:  # counts: per-sample sparse (flat index within the sample, value)
        nnz = np.zeros(n, dtype=np.int64)
        idx_parts, val_parts = [], []
        step = max(1, (32 << 20) // max(T * C, 1))
        for s in range(0, n, step):
            rows, cols = np.nonzero(flat[s : s + step])
            nnz[s : s + step] = np.bincount(rows, minlength=min(step, n - s))
            idx_parts.append(cols.astype(np.int32))
            val_parts.append(flat[s : s + step][rows, cols])
        arrays["nnz"] = nnz
        arrays["idx"] = np.concatenate(idx_parts) if idx_parts else np.zeros(0, np.int32)
        arrays["val"] = np.concatenate(val_parts) if val_parts else np.zeros(0, np.uint8)
    if split.speakers is not None:
        arrays["speakers"] = split.speakers
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_cache(path: str | os.PathLike, params: dict) -> BinnedSplit | None:
    """Load a cache file, or None when it is absent, unreadable or was written for other parameters."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if json.loads(str(z["params"])) != params:
                return None
            n, T, C = (int(v) for v in z["shape"])
            if "bits" in z.files:
                frames = np.unpackbits(z["bits"], axis=1, count=T * C)
            else:
                nnz, idx, val = z["nnz"], z["idx"], z["val"]
                frames = np.zeros((n, T * C), dtype=np.uint8)
                flat = np.repeat(np.arange(n, dtype=np.int64) * (T * C), nnz)
                flat += idx
                frames.reshape(-1)[flat] = val
                del flat
            split = BinnedSplit(
                frames=frames.reshape(n, T, C),
                labels=z["labels"],
                speakers=z["speakers"] if "speakers" in z.files else None,
                n_events=z["n_events"],
                n_dropped=z["n_dropped"],
                frame_spikes=z["frame_spikes"],
                cache_path=str(path),
                cache_hit=True,
            )
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        warnings.warn(f"ignoring unreadable cache file {path} ({e}); it will be rebuilt", stacklevel=2)
        return None
    return split
