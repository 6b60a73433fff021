"""Data path: SHD-layout files written here (with the .h5.zip tonic expects), read through tonic's real
SHD/SSC classes and through the datamodules. No network, nothing from outside tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
import tonic

import srkan.data.datamodule as dmmod
from srkan.data import (
    CountOverflowError,
    DatasetNotFoundError,
    DemoDataModule,
    HSDFileDataModule,
    HSDFormatError,
    SHDDataModule,
    SSCDataModule,
    augment as aug,
    bin_events,
    read_hsd,
    speaker_split,
    write_hsd,
)

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ helpers
def _make_events(n, seed, n_classes=20, n_speakers=6, mean_events=300, max_t=1.3):
    """Random samples; some run past 1 s (dropped at T*dt=1 s), some have repeated (bin, channel)."""
    rng = np.random.default_rng(seed)
    times, units = [], []
    for i in range(n):
        k = int(rng.integers(0, 2 * mean_events)) if i else 0  # sample 0 is empty
        t = np.sort(rng.uniform(0, max_t, k))
        u = rng.integers(0, 700, k)
        if k > 10:  # a burst: many events in one bin of one channel
            t[:8] = t[0]
            u[:8] = 123
        times.append(t)
        units.append(u)
    labels = rng.integers(0, n_classes, n)
    speakers = np.arange(n) % n_speakers
    return times, units, labels, speakers


def shd_write_folder(root: Path, n_train=36, n_test=12, seed=0, with_zip=True, name="SHD", splits=("train", "test")):
    out = {}
    for j, split in enumerate(splits):
        n = n_train if split == "train" else n_test
        ev = _make_events(n, seed + j)
        path = root / name / f"{name.lower()}_{split}.h5"
        write_hsd(path, *ev, class_names=[f"c{i}" for i in range(20)], with_zip=with_zip)
        out[split] = (path, ev)
    return out


def _reference_frames(events, labels_unused=None, dt_ms=10.0, T=100, count=False):
    """Simple per-event loop over tonic's events (t in integer microseconds, x = channel)."""
    ref = np.zeros((T, 700), dtype=np.int64)
    dropped = 0
    for e in events:
        b = int(e["t"]) // int(round(dt_ms * 1000))
        if b >= T:
            dropped += 1
            continue
        ref[b, int(e["x"])] += 1
    return (ref if count else (ref > 0).astype(np.int64)), dropped


def _raw_write(path, times, units, labels, speakers=None, tdtype=np.float16, udtype=np.uint16, skip=()):
    """Write an SHD-layout file with arbitrary dtypes/contents (to make broken files)."""
    with h5py.File(path, "w") as f:
        if "spikes/times" not in skip:
            d = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.dtype(tdtype)))
            for i, t in enumerate(times):
                d[i] = np.asarray(t, tdtype)
        if "spikes/units" not in skip:
            d = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.dtype(udtype)))
            for i, u in enumerate(units):
                d[i] = np.asarray(u, udtype)
        if "labels" not in skip:
            f.create_dataset("labels", data=np.asarray(labels))
        if speakers is not None and "extra/speaker" not in skip:
            f.create_dataset("extra/speaker", data=np.asarray(speakers))


def _dm(root, tmp_path, **kw):
    kw.setdefault("n_classes", 20)
    return HSDFileDataModule(root=str(root), data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"), **kw)


def _cache_files(d: Path):
    return sorted(p.name for p in d.glob("*")) if d.exists() else []


# ------------------------------------------------------------------------------------------ binning
@pytest.mark.parametrize("frames,dt,T", [("binary", 10.0, 100), ("count", 10.0, 100), ("count", 4.0, 60)])
def test_binning_matches_reference_through_tonic(tmp_path, frames, dt, T):
    files = shd_write_folder(tmp_path / "root")
    ds = tonic.datasets.SHD(save_to=str(tmp_path / "root"), train=False)  # the real tonic reader, no download
    assert len(ds) == 12
    dm = _dm(tmp_path / "root", tmp_path, frames=frames, dt=dt, T=T, eval_batch_size=5)
    dm.prepare_data()
    dm.setup("test")
    xs, ys = zip(*dm.test_dataloader())
    x, y = torch.cat(xs), torch.cat(ys)
    assert x.dtype == torch.uint8 and y.dtype == torch.long and x.shape == (12, T, 700)
    total_dropped = 0
    for i in range(len(ds)):
        events, target = ds[i]
        ref, dropped = _reference_frames(events, dt_ms=dt, T=T, count=frames == "count")
        total_dropped += dropped
        np.testing.assert_array_equal(x[i].numpy(), ref)
        assert int(y[i]) == int(target)
    assert dm.stats["test"]["events_dropped"] == total_dropped > 0
    n_events = sum(len(t) for t in files["test"][1][0])
    assert dm.stats["test"]["dropped_fraction"] == pytest.approx(total_dropped / n_events)
    if frames == "count":
        assert int(x.max()) >= 8  # the burst is counted, not clipped to 1


def test_count_overflow_raises_before_cache(tmp_path):
    root = tmp_path / "root"
    t = [np.full(300, 0.0123)] + [np.array([0.1])] * 3
    u = [np.full(300, 5)] + [np.array([1])] * 3
    for s in ("train", "test"):
        write_hsd(root / "SHD" / f"shd_{s}.h5", t, u, np.zeros(4, int), np.arange(4), with_zip=False)
    with pytest.raises(CountOverflowError, match=r"shd_train\.h5.*sample 0 has 300 events in bin 1 of channel 5"):
        _dm(root, tmp_path, frames="count").prepare_data()
    assert _cache_files(tmp_path / "cache") == []
    dm = _dm(root, tmp_path, frames="binary")  # binary frames are fine
    dm.prepare_data()
    dm.setup()
    assert int(dm.test_set.frames.max()) == 1


def test_short_samples_zero_padded_and_empty_sample(tmp_path):
    shd_write_folder(tmp_path / "root")
    ev = read_hsd(tmp_path / "root" / "SHD" / "shd_train.h5")
    b = bin_events(ev, dt=10.0, T=100)
    assert b.frames[0].sum() == 0 and b.n_events[0] == 0
    last = np.flatnonzero(b.frames[1].any(axis=1)).max()
    t_last = ev.times[ev.offsets[1] : ev.offsets[2]]
    t_last = t_last[t_last < 1.0].max()
    assert last == int(int(float(t_last) * 1e6) // 10000)
    assert not b.frames[1, last + 1 :].any()


# ------------------------------------------------------------------------------------------ cache
def test_cache_hit_and_served_from_memory(tmp_path, monkeypatch):
    shd_write_folder(tmp_path / "root")
    dm = _dm(tmp_path / "root", tmp_path)
    dm.setup()  # without prepare_data: setup bins and writes the cache itself
    assert not any(v["hit"] for v in dm.cache_info.values())
    x0, _ = next(iter(dm.test_dataloader()))
    names = _cache_files(tmp_path / "cache")
    assert len(names) == 2 and all(n.endswith(".npz") for n in names)

    def boom(*a, **k):
        raise AssertionError("binned again despite a valid cache")

    monkeypatch.setattr(dmmod, "bin_events", boom)
    monkeypatch.setattr(dmmod, "read_hsd", boom)
    dm2 = _dm(tmp_path / "root", tmp_path)
    dm2.prepare_data()
    dm2.setup()
    assert all(v["hit"] for v in dm2.cache_info.values())
    x1, _ = next(iter(dm2.test_dataloader()))
    assert torch.equal(x0, x1)
    assert _cache_files(tmp_path / "cache") == names


@pytest.mark.parametrize("change", [{"dt": 5.0}, {"T": 50}, {"frames": "count"}])
def test_cache_invalidated_by_binning_parameter(tmp_path, change):
    shd_write_folder(tmp_path / "root")
    _dm(tmp_path / "root", tmp_path).prepare_data()
    before = _cache_files(tmp_path / "cache")
    dm = _dm(tmp_path / "root", tmp_path, **change)
    dm.setup()
    assert not any(v["hit"] for v in dm.cache_info.values())
    after = _cache_files(tmp_path / "cache")
    assert len(after) == 4 and set(before) <= set(after)
    key = {"dt": "dt5000us", "T": "_T50_", "frames": "_count_"}[next(iter(change))]
    assert all(key in Path(v["path"]).name for v in dm.cache_info.values())
    assert dm.test_set.frames.shape[1] == dm.T


def test_cache_invalidated_when_file_changes(tmp_path):
    shd_write_folder(tmp_path / "root", seed=0)
    dm = _dm(tmp_path / "root", tmp_path)
    dm.prepare_data()
    dm.setup()
    old = dm.test_set.frames.copy()
    shd_write_folder(tmp_path / "root", seed=5)  # same names, new contents
    dm2 = _dm(tmp_path / "root", tmp_path)
    dm2.setup()
    assert not any(v["hit"] for v in dm2.cache_info.values())
    assert not np.array_equal(old, dm2.test_set.frames)
    assert dm.cache_info["test"]["path"] != dm2.cache_info["test"]["path"]


def test_interrupted_cache_write_leaves_nothing(tmp_path, monkeypatch):
    shd_write_folder(tmp_path / "root")
    import srkan.data.binning as binning

    def interrupted(f, **arrays):
        f.write(b"PK\x03\x04partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(binning.np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _dm(tmp_path / "root", tmp_path).prepare_data()
    assert _cache_files(tmp_path / "cache") == []  # no cache, no temporary file
    monkeypatch.undo()
    dm = _dm(tmp_path / "root", tmp_path)
    dm.prepare_data()
    dm.setup()
    assert len(dm.test_set) == 12


def test_corrupt_cache_file_is_rebuilt(tmp_path):
    shd_write_folder(tmp_path / "root")
    dm = _dm(tmp_path / "root", tmp_path)
    dm.prepare_data()
    dm.setup()
    Path(dm.cache_info["test"]["path"]).write_bytes(b"garbage")
    dm2 = _dm(tmp_path / "root", tmp_path)
    with pytest.warns(UserWarning, match="unreadable cache"):
        dm2.setup()
    assert not dm2.cache_info["test"]["hit"] and np.array_equal(dm.test_set.frames, dm2.test_set.frames)


# ------------------------------------------------------------------------------------------ errors
def _good(n=4):
    times = [np.array([0.01, 0.02, 0.5])] * n
    units = [np.array([1, 2, 3])] * n
    return times, units, np.zeros(n, int), np.arange(n)


def _case(name):
    t, u, lab, spk = _good()
    if name == "unit_too_large":
        return dict(args=(t, [u[0], np.array([1, 700, 3])] + u[2:], lab, spk), match=r"unit id 700 in sample 1 is outside \[0, 700\)")
    if name == "unit_negative":
        return dict(args=(t, [u[0], np.array([1, -4, 3])] + u[2:], lab, spk), udtype=np.int16, match=r"unit id -4 in sample 1")
    if name == "time_nan":
        return dict(args=([t[0], t[1], np.array([0.1, np.nan, 0.2])] + t[3:], u, lab, spk), match=r"non-finite spike time nan in sample 2")
    if name == "time_inf":
        return dict(args=([t[0], np.array([np.inf, 0.1, 0.2])] + t[2:], u, lab, spk), match=r"non-finite spike time inf in sample 1")
    if name == "time_negative":
        return dict(args=([np.array([0.1, -0.5, 0.2])] + t[1:], u, lab, spk), match=r"negative spike time -0.5 s in sample 0")
    if name == "label_out_of_range":
        return dict(args=(t, u, np.array([0, 1, 20, 3]), spk), match=r"label 20 of sample 2 is outside the class range \[0, 20\)")
    if name == "label_negative":
        return dict(args=(t, u, np.array([0, -1, 2, 3]), spk), match=r"label -1 of sample 1 is outside")
    if name == "per_sample_length_mismatch":
        return dict(args=(t, [u[0], np.array([1, 2])] + u[2:], lab, spk), match=r"length mismatch in sample 1: 3 spike times but 2 spike units")
    if name == "labels_length_mismatch":
        return dict(args=(t, u, lab[:3], spk), match=r"length mismatch: spikes/times has 4 samples, spikes/units 4, labels 3")
    if name == "units_count_mismatch":
        return dict(args=(t, u[:3], lab, spk), match=r"length mismatch: spikes/times has 4 samples, spikes/units 3")
    if name == "speaker_length_mismatch":
        return dict(args=(t, u, lab, spk[:2]), match=r"extra/speaker has shape \(2,\), expected \(4,\)")
    if name == "missing_units":
        return dict(args=(t, u, lab, spk), skip=("spikes/units",), match=r"missing key\(s\) \['spikes/units'\]")
    if name == "missing_labels":
        return dict(args=(t, u, lab, spk), skip=("labels",), match=r"missing key\(s\) \['labels'\]")
    if name == "missing_speaker":
        return dict(args=(t, u, lab, None), match=r"missing key\(s\) \['extra/speaker'\]")
    raise KeyError(name)


CASES = [
    "unit_too_large", "unit_negative", "time_nan", "time_inf", "time_negative", "label_out_of_range",
    "label_negative", "per_sample_length_mismatch", "labels_length_mismatch", "units_count_mismatch",
    "speaker_length_mismatch", "missing_units", "missing_labels", "missing_speaker",
]


@pytest.mark.parametrize("name", CASES)
def test_corrupt_file_errors_name_file_and_problem(tmp_path, name):
    c = _case(name)
    root = tmp_path / "root"
    (root / "SHD").mkdir(parents=True)
    write_hsd(root / "SHD" / "shd_test.h5", *_good(), with_zip=False)
    bad = root / "SHD" / "shd_train.h5"
    _raw_write(bad, *c["args"], tdtype=np.float32, udtype=c.get("udtype", np.uint16), skip=c.get("skip", ()))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "keep.npz").write_bytes(b"untouched")
    with pytest.raises(HSDFormatError, match=c["match"]) as ei:
        dm = _dm(root, tmp_path)
        dm.prepare_data()
    assert str(bad) in str(ei.value)
    assert _cache_files(tmp_path / "cache") == ["keep.npz"]
    assert (tmp_path / "cache" / "keep.npz").read_bytes() == b"untouched"


@pytest.mark.parametrize("kind", ["truncated", "garbage", "empty"])
def test_unreadable_hdf5(tmp_path, kind):
    files = shd_write_folder(tmp_path / "root", with_zip=False)
    path = files["train"][0]
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"\x89HDF not really" * 100, "empty": b""}[kind])
    with pytest.raises(HSDFormatError, match=r"shd_train\.h5.*(truncated or corrupt)"):
        dm = _dm(tmp_path / "root", tmp_path)
        dm.prepare_data()
    assert _cache_files(tmp_path / "cache") == []


def test_wrong_layout_shape(tmp_path):
    p = tmp_path / "x.h5"
    with h5py.File(p, "w") as f:
        f["spikes/times"] = np.zeros((3, 5))
        f["spikes/units"] = np.zeros((3, 5), int)
        f["labels"] = np.zeros(3, int)
        f["extra/speaker"] = np.zeros(3, int)
    with pytest.raises(HSDFormatError, match=r"x\.h5: 'spikes/times' must be a 1-D variable-length dataset"):
        read_hsd(p)


def test_missing_dataset_download_fails_gives_hint(tmp_path, monkeypatch):
    calls = []

    def no_network(self):
        calls.append(self.url)
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(tonic.datasets.SHD, "download", no_network)
    dm = SHDDataModule(data_dir=str(tmp_path / "data"))
    assert (dm.n_classes, dm.n_channels, dm.T, dm.dt) == (20, 700, 100, 10.0)  # known before setup
    with pytest.raises(DatasetNotFoundError, match=r"shd_train\.h5 is missing and tonic could not download.*data=demo.*data=hsd_file data\.root=DIR"):
        dm.prepare_data()
    assert calls and calls[0].endswith("shd_train.h5.zip")
    with pytest.raises(DatasetNotFoundError, match=r"data=demo"):
        _dm(tmp_path / "nowhere", tmp_path).prepare_data()
    with pytest.raises(ValueError, match="data.root is not set.*data=demo"):
        HSDFileDataModule(root=None)


# ------------------------------------------------------------------------------------------ modules
def test_shd_module_uses_tonic_layout_and_hsd_file_without_zip(tmp_path, monkeypatch):
    shd_write_folder(tmp_path / "data")  # data_dir/SHD/shd_*.h5 + .zip = tonic's save_to layout
    monkeypatch.setattr(tonic.datasets.SHD, "download", lambda self: pytest.fail("must not download"))
    dm = SHDDataModule(data_dir=str(tmp_path / "data"), batch_size=8)
    dm.prepare_data()
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 100, 700) and x.dtype == torch.uint8 and y.dtype == torch.long
    # the same files without the zips, addressed as hsd_file (root or root/SHD)
    for z in (tmp_path / "data" / "SHD").glob("*.zip"):
        z.unlink()
    for root in (tmp_path / "data", tmp_path / "data" / "SHD"):
        dm2 = HSDFileDataModule(root=str(root), data_dir=str(tmp_path / "d2"))
        assert dm2.n_classes == 20  # from extra/keys
        dm2.setup()
        assert np.array_equal(dm2.test_set.frames, dm.test_set.frames)


def test_ssc_module_uses_own_validation_split(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("valid", 7), ("test", 9)):
        t = [np.sort(rng.uniform(0, 1, 50)) for _ in range(n)]
        u = [rng.integers(0, 700, 50) for _ in range(n)]
        write_hsd(tmp_path / "SSC" / f"ssc_{split}.h5", t, u, rng.integers(0, 35, n), np.arange(n) % 3,
                  [f"w{i}" for i in range(35)])
    monkeypatch.setattr(tonic.datasets.SSC, "download", lambda self: pytest.fail("must not download"))
    assert len(tonic.datasets.SSC(save_to=str(tmp_path), split="valid")) == 7  # tonic reads what we wrote
    dm = SSCDataModule(data_dir=str(tmp_path))
    assert dm.n_classes == 35
    dm.prepare_data()
    dm.setup()
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (20, 7, 9)
    assert dm.stats["val"]["samples"] == 7


def test_speaker_split_disjoint_deterministic(tmp_path):
    spk = np.repeat(np.arange(10), np.arange(5, 15))
    tr, va = speaker_split(spk, 0.2, seed=3)
    assert set(spk[tr]).isdisjoint(spk[va]) and len(tr) + len(va) == len(spk)
    assert sorted(np.concatenate([tr, va])) == list(range(len(spk)))
    assert abs(len(va) / len(spk) - 0.2) < 0.08
    tr2, va2 = speaker_split(spk, 0.2, seed=3)
    assert np.array_equal(va, va2)
    assert any(not np.array_equal(va, speaker_split(spk, 0.2, seed=s)[1]) for s in range(4, 10))
    assert len(speaker_split(spk, 0.0, 0)[1]) == 0
    with pytest.raises(ValueError, match="speaker"):
        speaker_split(np.zeros(5, int), 0.2, 0)
    # through the datamodule: val speakers never appear in train
    shd_write_folder(tmp_path / "root")
    dm = _dm(tmp_path / "root", tmp_path, val_fraction=0.3, seed=1)
    dm.setup()
    ev = read_hsd(tmp_path / "root" / "SHD" / "shd_train.h5")
    assert len(dm.train_set) + len(dm.val_set) == 36 and len(dm.val_speakers) >= 1
    assert dm.stats["train"]["speakers"] + dm.stats["val"]["speakers"] == len(np.unique(ev.speakers))


# ------------------------------------------------------------------------------------------ augmentation
def _batch(seed=0, B=6, T=40, C=700, p=0.05, count=False):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(B, T, C, generator=g) < p).to(torch.uint8)
    x[:, :, :30] = 0
    x[:, :, -30:] = 0  # keep the edges empty so shifts by <= 30 lose nothing
    if count:
        x = x * torch.randint(1, 4, x.shape, generator=g, dtype=torch.uint8)
    return x


def test_channel_shift_properties():
    x = _batch()
    y = aug.channel_shift(x, 20, torch.Generator().manual_seed(1))
    assert y.dtype == torch.uint8 and y.shape == x.shape
    assert torch.equal(y.sum((1, 2)), x.sum((1, 2)))  # nothing lost away from the edges
    shifts = set()
    for i in range(x.shape[0]):  # each sample is x shifted by one integer in [-20, 20]
        match = [s for s in range(-20, 21) if torch.equal(torch.roll(x[i], s, dims=1), y[i])]
        assert match
        shifts.add(match[0])
    assert len(shifts) > 1
    assert aug.channel_shift(x, 0) is x


@pytest.mark.parametrize("count", [False, True])
def test_event_drop_properties(count):
    x = _batch(count=count, p=0.2)
    y = aug.event_drop(x, 0.3, torch.Generator().manual_seed(0), binary=not count)
    assert y.dtype == torch.uint8 and bool((y <= x).all())
    frac = 1 - y.sum().item() / x.sum().item()
    assert 0.25 < frac < 0.35
    assert torch.equal(aug.event_drop(x, 0.0), x)
    assert aug.event_drop(x, 1.0, binary=not count).sum() == 0


@pytest.mark.parametrize("count", [False, True])
def test_time_jitter_properties(count):
    x = _batch(count=count)
    x[:, :3] = 0
    x[:, -3:] = 0  # nothing can move out of the window
    y = aug.time_jitter(x, 2, torch.Generator().manual_seed(0), binary=not count)
    assert y.dtype == torch.uint8 and y.shape == x.shape and not torch.equal(x, y)
    if count:  # every event kept, in the same channel
        assert torch.equal(y.sum(1), x.sum(1))
    else:  # binary: collisions merge, channels are preserved, every spike lands within 2 bins
        assert bool((y.sum(1) <= x.sum(1)).all()) and torch.equal(y.sum(1) > 0, x.sum(1) > 0)
        near = torch.zeros_like(x)
        for d in range(-2, 3):
            near |= torch.roll(x, d, dims=1)
        assert bool((y <= near).all())
    assert torch.equal(aug.time_jitter(x, 0), x)


def test_augmentations_only_in_training(tmp_path):
    shd_write_folder(tmp_path / "root")
    dm = _dm(tmp_path / "root", tmp_path, channel_shift=10, event_drop=0.5, time_jitter=1, batch_size=36)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    dm.trainer = SimpleNamespace(training=False)  # validating / testing
    assert dm.on_after_batch_transfer(batch, 0)[0] is batch[0]
    dm.trainer = SimpleNamespace(training=True)
    torch.manual_seed(0)
    x2, y2 = dm.on_after_batch_transfer(batch, 0)
    assert x2.dtype == torch.uint8 and torch.equal(y2, batch[1])
    assert x2.sum() < 0.7 * batch[0].sum()  # event_drop=0.5 applied
    off = _dm(tmp_path / "root", tmp_path)  # off by default
    off.trainer = SimpleNamespace(training=True)
    assert not off.augmenting and off.on_after_batch_transfer(batch, 0)[0] is batch[0]


# ------------------------------------------------------------------------------------------ demo
def test_demo_is_synthetic_deterministic_and_learnable(tmp_path):
    dm = DemoDataModule(data_dir=str(tmp_path / "a"), batch_size=64)
    dm.prepare_data()
    dm.setup()
    f = tmp_path / "a" / "demo" / "SHD" / "shd_train.h5"
    with h5py.File(f, "r") as h:
        assert "SYNTHETIC" in h.attrs["description"]
    assert dm.class_names[0].startswith("synthetic")
    assert (tmp_path / "a" / "demo" / "SHD" / "shd_train.h5.zip").is_file()
    assert len(tonic.datasets.SHD(save_to=str(tmp_path / "a" / "demo"), train=True)) == 400  # tonic reads it
    DemoDataModule(data_dir=str(tmp_path / "b")).prepare_data()
    assert f.read_bytes() == (tmp_path / "b" / "demo" / "SHD" / "shd_train.h5").read_bytes()
    assert set(dm.stats["test"]) and dm.stats["test"]["speakers"] == 4

    # a tiny model (linear on coarse time x channel pooling) learns it well above chance (0.1)
    torch.manual_seed(0)

    def feats(x):
        return x.float().reshape(x.shape[0], 10, 10, 70, 10).mean((2, 4)).flatten(1)

    model = torch.nn.Linear(700, dm.n_classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(15):
        for x, y in dm.train_dataloader():
            loss = torch.nn.functional.cross_entropy(model(feats(x)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    correct = total = 0
    with torch.no_grad():
        for x, y in dm.test_dataloader():
            correct += (model(feats(x)).argmax(1) == y).sum().item()
            total += len(y)
    assert correct / total > 0.6


def test_hydra_configs_and_data_stats_script(tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        for name, cls in (("shd", SHDDataModule), ("ssc", SSCDataModule), ("demo", DemoDataModule)):
            cfg = compose("data_stats", overrides=[f"data={name}", f"paths.data_dir={tmp_path}"])
            assert cfg.data.data_dir == str(tmp_path) and cfg.data.dt == 10.0 and cfg.data.T == 100
            dm = instantiate(cfg.data)
            assert type(dm) is cls and dm.n_channels == 700
        cfg = compose("data_stats", overrides=["data=hsd_file", "data.root=/x"])
        assert cfg.data._target_.endswith("HSDFileDataModule") and cfg.data.data_dir == "./data"
    env = dict(os.environ, SRKAN_ROOT=str(tmp_path))
    r = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "data_stats.py"), "data=demo", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert stats["n_classes"] == 20 and stats["T"] == 100 and stats["dt_ms"] == 10.0
    assert stats["splits"]["train"]["samples"] + stats["splits"]["val"]["samples"] == 800
    assert 0 <= stats["dropped_fraction_all"] < 0.01 and stats["splits"]["test"]["speakers"] == 4
    assert (tmp_path / "run" / "raster.png").stat().st_size > 1000
    assert (tmp_path / "data" / "demo" / "SHD" / "shd_train.h5").is_file()  # SRKAN_ROOT moved data_dir
