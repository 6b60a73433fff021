"""LightningDataModules for SHD, SSC, any SHD-layout folder, and a synthetic demo set.

All four share :class:`HSDDataModule`: files are binned once with a fixed time step (``dt`` ms, ``T``
bins; see :mod:`srkan.data.binning`), cached on disk under ``cache_dir`` in a file named after every
binning parameter and the source file's SHA-256, and served from memory as
``(x uint8 [B, T, 700], y int64 [B])``.

Attributes ``n_channels`` (700), ``n_classes``, ``T`` and ``dt`` are set at construction. After
``prepare_data()`` + ``setup()`` the split datasets exist and ``stats`` (per split: samples, speakers,
events, dropped events and their fraction) and ``cache_info`` (per split: cache file and whether it hit)
are filled.

Validation: SHD and SHD-layout files carve it from the training file *by speaker* (``val_fraction`` of
the training samples, rounded to whole speakers; speakers drawn by a ``seed``-ed permutation, so the
split is deterministic), mimicking SHD's unseen test speakers. SSC uses its own ``valid`` file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from . import augment as aug
from .binning import FRAME_MODES, BinnedSplit, bin_events, cache_params, cache_path_for, dt_to_us, load_cache, save_cache
from .hsd import N_CHANNELS, DatasetNotFoundError, file_checksum, read_class_names, read_hsd, read_labels

log = logging.getLogger(__name__)

_HINT = (
    "To try srkan without downloading anything use `data=demo` (a small synthetic set), or point it at a "
    "folder holding SHD/shd_train.h5 and SHD/shd_test.h5 with `data=hsd_file data.root=DIR`."
)


class FrameDataset(Dataset):
    """Frames in memory: ``ds[i] -> (x uint8 [T, C], y int64)``; ``ds.__getitems__(idx)`` returns a whole
    batch ``(x [B, T, C], y [B])`` with one gather (used by the DataLoader with :func:`collate_frames`)."""

    def __init__(self, frames: np.ndarray, labels: np.ndarray, index: np.ndarray | None = None):
        # numpy holds the frames: its fancy-index gather is far faster than torch's index_select on uint8.
        # ``index`` selects a subset of rows without copying the frames (train/val views of one file).
        self._all = np.ascontiguousarray(frames)
        self._labels = np.asarray(labels, dtype=np.int64)
        if self._all.dtype != np.uint8 or self._all.ndim != 3:
            raise ValueError(f"frames must be uint8 [N, T, C], got {self._all.dtype} {self._all.shape}")
        if self._labels.shape != (self._all.shape[0],):
            raise ValueError(f"labels must be [N={self._all.shape[0]}], got {self._labels.shape}")
        self.index = None if index is None else np.asarray(index, dtype=np.int64)
        self.labels = self._labels if self.index is None else self._labels[self.index]

    @property
    def frames(self) -> np.ndarray:
        """All frames of this dataset as one ``uint8 [N, T, C]`` array (a copy for subset views)."""
        return self._all if self.index is None else self._all[self.index]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def _rows(self, idx):
        return idx if self.index is None else self.index[idx]

    def __getitem__(self, i):
        return torch.from_numpy(self._all[self._rows(i)].copy()), torch.tensor(self.labels[i], dtype=torch.long)

    def __getitems__(self, indices):
        idx = np.asarray(indices, dtype=np.int64)
        return torch.from_numpy(self._all[self._rows(idx)]), torch.from_numpy(self.labels[idx])


def collate_frames(batch):
    """Pass through batches built by :meth:`FrameDataset.__getitems__`; stack lists of samples otherwise."""
    if isinstance(batch, tuple) and len(batch) == 2 and isinstance(batch[0], torch.Tensor) and batch[0].dim() == 3:
        return batch
    xs, ys = zip(*batch)
    return torch.stack(xs), torch.stack([torch.as_tensor(y, dtype=torch.long) for y in ys])


def speaker_split(speakers: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)`` with disjoint speakers; val holds about ``val_fraction`` of the samples.

    Speakers are visited in a permutation drawn from ``seed``; the first ``k`` form the validation set,
    with ``k >= 1`` chosen so their sample count is closest to ``val_fraction * N`` (at least one speaker
    always stays in training).
    """
    n = speakers.shape[0]
    if val_fraction <= 0:
        return np.arange(n), np.zeros(0, dtype=np.int64)
    uniq, counts = np.unique(speakers, return_counts=True)
    if uniq.size < 2:
        raise ValueError(
            f"cannot split validation by speaker: the training file has {uniq.size} speaker(s); set data.val_fraction=0"
        )
    perm = np.random.default_rng(seed).permutation(uniq.size)
    cum = np.cumsum(counts[perm])[:-1]  # leave at least one speaker for training
    k = int(np.argmin(np.abs(cum - val_fraction * n))) + 1
    val_spk = uniq[perm[:k]]
    is_val = np.isin(speakers, val_spk)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


class HSDDataModule(L.LightningDataModule):
    """Base class: bins SHD-layout files (``self._files()`` maps split name -> ``.h5`` path)."""

    n_channels: int = N_CHANNELS
    default_n_classes: int | None = None
    #: split names of the files; "val" present means the dataset has its own validation file
    file_splits: tuple[str, ...] = ("train", "test")

    def __init__(
        self,
        data_dir: str = "data",
        dt: float = 10.0,
        T: int = 100,
        frames: str = "binary",
        batch_size: int = 32,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
        cache_dir: str | None = None,
        n_classes: int | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        eval_batch_size: int | None = None,
        channel_shift: int = 0,
        event_drop: float = 0.0,
        time_jitter: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters(logger=False)
        if frames not in FRAME_MODES:
            raise ValueError(f"data.frames must be one of {FRAME_MODES}, got {frames!r}")
        dt_to_us(dt)  # validates dt
        if int(T) <= 0:
            raise ValueError(f"data.T must be positive, got {T}")
        if not 0.0 <= float(val_fraction) < 1.0:
            raise ValueError(f"data.val_fraction must be in [0, 1), got {val_fraction}")
        if not 0.0 <= float(event_drop) <= 1.0:
            raise ValueError(f"data.event_drop must be in [0, 1], got {event_drop}")
        self.data_dir = str(data_dir)
        self.dt = float(dt)
        self.T = int(T)
        self.frames = frames
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.num_workers = int(num_workers)
        self.val_fraction = float(val_fraction)
        self.seed = int(seed)
        self.cache_dir = str(cache_dir) if cache_dir else os.path.join(self.data_dir, "cache")
        self.pin_memory = bool(pin_memory)
        self.drop_last = bool(drop_last)
        self.channel_shift = int(channel_shift)
        self.event_drop = float(event_drop)
        self.time_jitter = int(time_jitter)
        self.n_classes = int(n_classes) if n_classes is not None else self._infer_n_classes()
        self.train_set: FrameDataset | None = None
        self.val_set: FrameDataset | None = None
        self.test_set: FrameDataset | None = None
        self.stats: dict[str, dict] = {}
        self.cache_info: dict[str, dict] = {}
        self.class_names: list[str] | None = None
        self.splits: dict[str, BinnedSplit] = {}
        self.val_speakers: list[int] = []

    # ----------------------------------------------------------------------------- to override
    def _files(self, download: bool) -> dict[str, Path]:
        """Split name -> existing ``.h5`` path (downloading first when ``download`` and missing)."""
        raise NotImplementedError

    def _infer_n_classes(self) -> int:
        if self.default_n_classes is None:
            raise ValueError(f"{type(self).__name__} needs n_classes")
        return self.default_n_classes

    # ----------------------------------------------------------------------------- binning + cache
    def _bin_or_load(self, split: str, path: Path) -> BinnedSplit:
        params = cache_params(file_checksum(path), dt=self.dt, T=self.T, frames=self.frames, n_channels=self.n_channels)
        cpath = cache_path_for(self.cache_dir, path, params)
        binned = load_cache(cpath, params)
        if binned is None:
            ev = read_hsd(path, n_channels=self.n_channels, n_classes=self.n_classes, require_speaker=split == "train" and "val" not in self.file_splits)
            binned = bin_events(ev, dt=self.dt, T=self.T, frames=self.frames, n_channels=self.n_channels)
            save_cache(cpath, binned, params)  # only reached when reading, validating and binning succeeded
            binned.cache_path, binned.cache_hit = str(cpath), False
        elif binned.labels.size and (binned.labels.min() < 0 or binned.labels.max() >= self.n_classes):
            raise ValueError(f"{path}: labels outside [0, {self.n_classes}) (n_classes={self.n_classes})")
        binned.source = str(path)
        return binned

    def prepare_data(self) -> None:
        """Download if needed (shd/ssc via tonic; demo writes its files), then bin and cache every file."""
        for split, path in self._files(download=True).items():
            self._bin_or_load(split, path)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None or self.test_set is not None:
            return
        files = self._files(download=True)
        self.splits = {s: self._bin_or_load(s, p) for s, p in files.items()}
        self.class_names = read_class_names(files["train"])
        tr = self.splits["train"]
        if "val" in self.splits:
            tr_idx, val_idx = np.arange(tr.n_samples), None
            va = self.splits["val"]
            self.val_set = FrameDataset(va.frames, va.labels)
        else:
            if tr.speakers is None:
                raise ValueError(f"{files['train']}: no extra/speaker, needed for the speaker-disjoint validation split")
            tr_idx, val_idx = speaker_split(tr.speakers, self.val_fraction, self.seed)
            self.val_speakers = sorted(int(s) for s in np.unique(tr.speakers[val_idx]))
            self.val_set = FrameDataset(tr.frames, tr.labels, index=val_idx)
        if val_idx is None:
            self.train_set = FrameDataset(tr.frames, tr.labels)
        else:
            self.train_set = FrameDataset(tr.frames, tr.labels, index=tr_idx)
        te = self.splits["test"]
        self.test_set = FrameDataset(te.frames, te.labels)

        def _stats(b: BinnedSplit, idx=None) -> dict:
            sel = slice(None) if idx is None else idx
            ev, dr = b.n_events[sel], b.n_dropped[sel]
            spk = None if b.speakers is None else np.unique(b.speakers[sel]).size
            n_ev = int(ev.sum())
            return dict(
                samples=int(b.labels[sel].shape[0]),
                speakers=spk,
                events=n_ev,
                events_dropped=int(dr.sum()),
                dropped_fraction=float(dr.sum()) / n_ev if n_ev else 0.0,
                mean_events_per_sample=float(ev.mean()) if ev.size else 0.0,
                mean_frame_spikes_per_sample=float(b.frame_spikes[sel].mean()) if ev.size else 0.0,
            )

        self.stats = {"train": _stats(tr, None if val_idx is None else tr_idx)}
        self.stats["val"] = _stats(self.splits["val"]) if val_idx is None else _stats(tr, val_idx)
        self.stats["test"] = _stats(te)
        self.cache_info = {s: {"path": b.cache_path, "hit": b.cache_hit, "source": b.source} for s, b in self.splits.items()}
        for s, st in self.stats.items():
            log.info(
                "data %s: %d samples, %s speakers, %.2f%% events after T*dt=%g ms dropped",
                s, st["samples"], st["speakers"], 100 * st["dropped_fraction"], self.T * self.dt,
            )

    @property
    def dropped_fraction(self) -> float:
        """Fraction of training-file events that fall after ``T * dt`` (after setup)."""
        b = self.splits.get("train")
        return b.dropped_fraction if b is not None else float("nan")

    # ----------------------------------------------------------------------------- loaders
    def _loader(self, ds: FrameDataset | None, train: bool) -> DataLoader:
        if ds is None:
            raise RuntimeError(f"{type(self).__name__}: call prepare_data() and setup() before asking for loaders")
        return DataLoader(
            ds,
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            drop_last=self.drop_last if train else False,
            num_workers=self.num_workers,
            collate_fn=collate_frames,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, False)

    # ----------------------------------------------------------------------------- augmentation
    @property
    def augmenting(self) -> bool:
        return bool(self.channel_shift or self.event_drop or self.time_jitter)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        return aug.augment_batch(
            x,
            channel_shift_max=self.channel_shift,
            event_drop_p=self.event_drop,
            time_jitter_max=self.time_jitter,
            binary=self.frames == "binary",
        )

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Augment training batches only (on the device); validation/test/predict batches pass unchanged."""
        trainer = getattr(self, "trainer", None)
        if self.augmenting and trainer is not None and getattr(trainer, "training", False):
            x, y = batch
            batch = (self.augment(x), y)
        return batch


def _missing(path: Path, what: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(f"{what}: {path} does not exist. {_HINT}")


class SHDDataModule(HSDDataModule):
    """Spiking Heidelberg Digits via ``tonic.datasets.SHD(save_to=data_dir)``: files in
    ``data_dir/SHD/shd_{train,test}.h5``, downloaded (with the ``.h5.zip``) by tonic when missing."""

    default_n_classes = 20
    tonic_name = "SHD"
    file_splits = ("train", "test")

    def _tonic(self, split: str):
        import tonic

        if self.tonic_name == "SHD":
            return tonic.datasets.SHD(save_to=self.data_dir, train=split == "train")
        return tonic.datasets.SSC(save_to=self.data_dir, split={"val": "valid"}.get(split, split))

    def _h5(self, split: str) -> Path:
        stem = {"val": "valid"}.get(split, split)
        return Path(self.data_dir) / self.tonic_name / f"{self.tonic_name.lower()}_{stem}.h5"

    def _files(self, download: bool) -> dict[str, Path]:
        files = {}
        for split in self.file_splits:
            path = self._h5(split)
            if not path.is_file() and download:
                try:
                    self._tonic(split)  # tonic downloads, checks the md5 and extracts
                except Exception as e:  # noqa: BLE001 - any download failure becomes one clear error
                    raise DatasetNotFoundError(
                        f"{self.tonic_name} {split} file {path} is missing and tonic could not download it "
                        f"({type(e).__name__}: {e}). {_HINT}"
                    ) from e
            if not path.is_file():
                raise _missing(path, f"{self.tonic_name} {split} file")
            files[split] = path
        return files


class SSCDataModule(SHDDataModule):
    """Spiking Speech Commands via ``tonic.datasets.SSC``: ``data_dir/SSC/ssc_{train,valid,test}.h5``;
    validation uses SSC's own ``valid`` split (``val_fraction`` is ignored)."""

    default_n_classes = 35
    tonic_name = "SSC"
    file_splits = ("train", "val", "test")


class HSDFileDataModule(HSDDataModule):
    """Any folder ``root`` holding ``SHD/shd_train.h5`` and ``SHD/shd_test.h5`` in SHD's layout (with or
    without the ``.h5.zip`` beside them; ``root`` may also be the ``SHD`` folder itself). Nothing is
    written into ``root``; the cache goes to ``cache_dir`` (default ``data_dir/cache``).

    ``n_classes``: given, or the length of the train file's ``extra/keys``, or ``max(label) + 1`` over both files.
    """

    def __init__(self, root: str, data_dir: str = "data", **kwargs):
        if root is None or str(root) in ("", "???"):
            raise ValueError(f"data.root is not set. {_HINT}")
        self.root = str(root)
        super().__init__(data_dir=data_dir, **kwargs)

    def _h5(self, split: str) -> Path:
        r = Path(self.root)
        for cand in (r / "SHD" / f"shd_{split}.h5", r / f"shd_{split}.h5"):
            if cand.is_file():
                return cand
        raise _missing(r / "SHD" / f"shd_{split}.h5", f"data.root={self.root}: SHD-layout {split} file")

    def _files(self, download: bool) -> dict[str, Path]:
        if not Path(self.root).is_dir():
            raise DatasetNotFoundError(f"data.root={self.root} is not a folder. {_HINT}")
        return {s: self._h5(s) for s in ("train", "test")}

    def _infer_n_classes(self) -> int:
        files = self._files(download=False)
        names = read_class_names(files["train"])
        if names:
            return len(names)
        return int(max(int(read_labels(p).max(initial=-1)) for p in files.values())) + 1


class DemoDataModule(HSDFileDataModule):
    """A small synthetic SHD-layout set (see :mod:`srkan.data.demo`) written to ``data_dir/demo`` on first
    use in seconds, with no network; clearly labelled synthetic. ``n_classes`` defaults to 10."""

    def __init__(
        self,
        data_dir: str = "data",
        n_classes: int = 10,
        n_train_per_class: int = 40,
        n_test_per_class: int = 10,
        demo_seed: int = 0,
        **kwargs,
    ):
        self.demo_kwargs = dict(
            n_classes=int(n_classes),
            n_train_per_class=int(n_train_per_class),
            n_test_per_class=int(n_test_per_class),
            seed=int(demo_seed),
        )
        super().__init__(root=os.path.join(str(data_dir), "demo"), data_dir=data_dir, n_classes=n_classes, **kwargs)

    def _files(self, download: bool) -> dict[str, Path]:
        if download:
            from .demo import make_demo_dataset

            make_demo_dataset(self.root, **self.demo_kwargs)
        return super()._files(download)
