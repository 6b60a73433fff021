"""Reading, validating and writing files in the Heidelberg Spiking Datasets (SHD/SSC) HDF5 layout.

The layout (as in the real SHD/SSC files and as ``tonic.datasets.SHD`` reads it)::

    spikes/times   1-D variable-length float (float16 in SHD), one array per sample, in SECONDS
    spikes/units   1-D variable-length unsigned int (uint16), one array per sample, channel ids 0..699
    labels         1-D int (uint8/uint16), one label per sample
    extra/speaker  1-D int, one speaker id per sample (needed for the speaker-disjoint validation split)
    extra/keys     1-D bytes, one name per class (optional here; tonic's SHD class reads it)

Everything is read in bulk with h5py (tonic's reader opens the file once per item, which is slow for
binning a whole split). Every problem raises :class:`HSDFormatError` (a ``ValueError``) naming the file
and what is wrong, before anything is written anywhere.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

N_CHANNELS = 700

REQUIRED_KEYS = ("spikes/times", "spikes/units", "labels")
SPEAKER_KEY = "extra/speaker"
CLASS_NAMES_KEY = "extra/keys"


class HSDFormatError(ValueError):
    """An SHD-layout HDF5 file is unreadable, truncated or does not hold what the layout requires."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset file is missing and could not be downloaded."""


@dataclass
class HSDEvents:
    """All events of one file, concatenated over samples (validated).

    ``times`` keeps the file's float dtype (seconds); ``units`` is int64; ``lengths[i]`` is the number
    of events of sample ``i``; ``offsets`` = ``[0, cumsum(lengths)]``.
    """

    path: str
    times: np.ndarray
    units: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray | None
    class_names: list[str] | None

    @property
    def n_samples(self) -> int:
        return int(self.labels.shape[0])

    @property
    def offsets(self) -> np.ndarray:
        off = np.zeros(self.n_samples + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=off[1:])
        return off


def file_checksum(path: str | os.PathLike, _memo: dict = {}) -> str:  # noqa: B006 (intentional memo)
    """SHA-256 of a file's bytes (memoised per process on path, size and mtime)."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _memo:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        _memo[key] = h.hexdigest()
    return _memo[key]


def _sample_of_event(event: int, lengths: np.ndarray) -> int:
    """Index of the sample that holds flat event ``event``, given per-sample event counts."""
    return int(np.searchsorted(np.cumsum(lengths), event, side="right"))


def _as_integers(values: np.ndarray, path, what: str) -> np.ndarray:
    """``values`` as int64 if they are integers (or integer-valued floats), else a clear error."""
    if values.dtype.kind not in "iu":
        if values.dtype.kind == "f" and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
            return values.astype(np.int64)
        raise HSDFormatError(f"{path}: {what}, got dtype {values.dtype}")
    return values.astype(np.int64, copy=False)


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def read_class_names(path: str | os.PathLike) -> list[str] | None:
    """``extra/keys`` decoded, or None when the file has none (no validation beyond opening)."""
    try:
        with h5py.File(path, "r") as f:
            if CLASS_NAMES_KEY not in f:
                return None
            return [k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k) for k in f[CLASS_NAMES_KEY][()]]
    except OSError as e:
        raise HSDFormatError(f"{path}: cannot be opened as an HDF5 file ({e}); it is truncated or corrupt") from e


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """Only the ``labels`` dataset (cheap), with the same errors as :func:`read_hsd`."""
    try:
        with h5py.File(path, "r") as f:
            if "labels" not in f:
                raise HSDFormatError(f"{path}: missing key 'labels' (SHD layout needs {', '.join(REQUIRED_KEYS)})")
            return np.asarray(f["labels"][()])
    except OSError as e:
        raise HSDFormatError(f"{path}: cannot be opened as an HDF5 file ({e}); it is truncated or corrupt") from e


def read_hsd(
    path: str | os.PathLike,
    *,
    n_channels: int = N_CHANNELS,
    n_classes: int | None = None,
    require_speaker: bool = True,
) -> HSDEvents:
    """Read and validate a whole SHD-layout file.

    Raises ``FileNotFoundError`` when the file does not exist and :class:`HSDFormatError` for: a file
    that h5py cannot open (truncated/corrupt); missing keys; datasets of the wrong shape; times, units,
    labels (and speakers) of different lengths; unit ids outside ``[0, n_channels)``; non-finite or
    negative times; labels outside ``[0, n_classes)`` (when ``n_classes`` is given).
    """
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise HSDFormatError(f"{path}: cannot be opened as an HDF5 file ({e}); it is truncated or corrupt") from e
    with f:
        keys = list(REQUIRED_KEYS) + ([SPEAKER_KEY] if require_speaker else [])
        missing = [k for k in keys if k not in f]
        if missing:
            raise HSDFormatError(
                f"{path}: missing key(s) {missing}; an SHD-layout file needs "
                f"{', '.join(REQUIRED_KEYS)}" + (f" and {SPEAKER_KEY} (speaker id per sample)" if require_speaker else "")
            )
        for k in ("spikes/times", "spikes/units"):
            ds = f[k]
            if not isinstance(ds, h5py.Dataset) or ds.ndim != 1 or h5py.check_vlen_dtype(ds.dtype) is None:
                raise HSDFormatError(
                    f"{path}: '{k}' must be a 1-D variable-length dataset (one array per sample), "
                    f"got {getattr(ds, 'shape', '?')} {getattr(ds, 'dtype', type(ds).__name__)}"
                )
        try:
            times_obj = f["spikes/times"][()]
            units_obj = f["spikes/units"][()]
            labels = np.asarray(f["labels"][()])
            speakers = np.asarray(f[SPEAKER_KEY][()]) if SPEAKER_KEY in f else None
            class_names = None
            if CLASS_NAMES_KEY in f:
                class_names = [
                    k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k) for k in f[CLASS_NAMES_KEY][()]
                ]
        except (OSError, RuntimeError, KeyError) as e:
            raise HSDFormatError(f"{path}: data cannot be read ({e}); the file is truncated or corrupt") from e

    n = len(times_obj)
    if labels.ndim != 1:
        raise HSDFormatError(f"{path}: 'labels' must be 1-D (one label per sample), got shape {labels.shape}")
    if len(units_obj) != n or labels.shape[0] != n:
        raise HSDFormatError(
            f"{path}: length mismatch: spikes/times has {n} samples, spikes/units {len(units_obj)}, labels {labels.shape[0]}"
        )
    if speakers is not None and (speakers.ndim != 1 or speakers.shape[0] != n):
        raise HSDFormatError(f"{path}: length mismatch: {SPEAKER_KEY} has shape {speakers.shape}, expected ({n},)")

    lengths = np.fromiter((a.shape[0] for a in times_obj), dtype=np.int64, count=n)
    ulengths = np.fromiter((a.shape[0] for a in units_obj), dtype=np.int64, count=n)
    if not np.array_equal(lengths, ulengths):
        i = _first_bad(lengths != ulengths)
        raise HSDFormatError(
            f"{path}: length mismatch in sample {i}: {lengths[i]} spike times but {ulengths[i]} spike units"
        )
    if n:
        times = np.concatenate(list(times_obj))
        units = np.concatenate(list(units_obj))
    else:
        times = np.zeros(0, np.float32)
        units = np.zeros(0, np.int64)

    if times.dtype.kind != "f":
        if times.dtype.kind not in "iu":
            raise HSDFormatError(f"{path}: spikes/times must be numbers (seconds), got dtype {times.dtype}")
    units = _as_integers(units, path, "spikes/units must be integer channel ids")

    if units.size:
        bad = (units < 0) | (units >= n_channels)
        if bad.any():
            j = _first_bad(bad)
            raise HSDFormatError(
                f"{path}: unit id {units[j]} in sample {_sample_of_event(j, lengths)} is outside [0, {n_channels}) "
                f"({int(bad.sum())} bad unit ids in total)"
            )
    if times.size:
        bad = ~np.isfinite(times)
        if bad.any():
            j = _first_bad(bad)
            s = _sample_of_event(j, lengths)
            raise HSDFormatError(f"{path}: non-finite spike time {times[j]} in sample {s} ({int(bad.sum())} in total)")
        bad = times < 0
        if bad.any():
            j = _first_bad(bad)
            s = _sample_of_event(j, lengths)
            raise HSDFormatError(f"{path}: negative spike time {times[j]} s in sample {s} ({int(bad.sum())} in total)")

    labels = _as_integers(labels, path, "labels must be integers")
    if n:
        hi = n_classes if n_classes is not None else np.iinfo(np.int64).max
        bad = (labels < 0) | (labels >= hi)
        if bad.any():
            i = _first_bad(bad)
            rng = f"[0, {n_classes})" if n_classes is not None else ">= 0"
            raise HSDFormatError(f"{path}: label {labels[i]} of sample {i} is outside the class range {rng}")
    if speakers is not None:
        if speakers.dtype.kind not in "iu":
            raise HSDFormatError(f"{path}: {SPEAKER_KEY} must be integer ids, got dtype {speakers.dtype}")
        speakers = speakers.astype(np.int64)

    return HSDEvents(path, times, units, lengths, labels, speakers, class_names)


def write_hsd(
    path: str | os.PathLike,
    times: list[np.ndarray],
    units: list[np.ndarray],
    labels: np.ndarray,
    speakers: np.ndarray | None = None,
    class_names: list[str] | None = None,
    *,
    description: str | None = None,
    with_zip: bool = True,
    time_dtype=np.float16,
    attrs: dict | None = None,
) -> Path:
    """Write an SHD-layout HDF5 file (times in seconds), atomically (temporary file, then rename).

    With ``with_zip`` a ``<name>.zip`` holding the file is written beside it, as tonic's SHD/SSC classes
    expect it next to the extracted ``.h5`` (otherwise they try to download).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            n = len(times)
            td = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.dtype(time_dtype)))
            ud = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.dtype(np.uint16)))
            tarr = np.empty(n, dtype=object)
            uarr = np.empty(n, dtype=object)
            for i in range(n):
                tarr[i] = np.asarray(times[i], dtype=time_dtype)
                uarr[i] = np.asarray(units[i], dtype=np.uint16)
            if n:
                try:
                    td[...] = tarr
                    ud[...] = uarr
                except TypeError:  # h5py cannot bulk-write equal-length rows: write them one by one
                    for i in range(n):
                        td[i] = tarr[i]
                        ud[i] = uarr[i]
            labels = np.asarray(labels)
            f.create_dataset("labels", data=labels.astype(np.uint16 if labels.max(initial=0) > 255 else np.uint8))
            if speakers is not None:
                f.create_dataset(SPEAKER_KEY, data=np.asarray(speakers, dtype=np.uint16))
            if class_names is not None:
                f.create_dataset(CLASS_NAMES_KEY, data=np.array([c.encode() for c in class_names]))
            if description:
                f.attrs["description"] = description
            for k, v in (attrs or {}).items():
                f.attrs[k] = v
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if with_zip:
        zpath = path.with_name(path.name + ".zip")
        ztmp = zpath.with_name(f".{zpath.name}.tmp-{os.getpid()}")
        try:
            with zipfile.ZipFile(ztmp, "w", compression=zipfile.ZIP_STORED) as z:
                z.write(path, arcname=path.name)
            os.replace(ztmp, zpath)
        finally:
            if ztmp.exists():
                ztmp.unlink()
    return path
