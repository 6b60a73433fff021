"""A small SYNTHETIC dataset in SHD's file layout, written in seconds with no network.

It is not speech and not SHD: every class is a pair of "formant" tracks across the 700 channels
(class-dependent channel positions, direction of movement and duration) plus background noise events;
every "speaker" shifts the channels and stretches time, and the test speakers are unseen in training,
as in SHD. A small model learns it well above chance in a few epochs. The files carry
``attrs["description"]`` saying they are synthetic, and class names ``synthetic_class_XX``.

Deterministic: the same parameters give byte-identical files (so the binning cache keeps hitting).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from .hsd import N_CHANNELS, write_hsd

DEMO_VERSION = 1
DESCRIPTION = (
    "SYNTHETIC srkan demo data - NOT the Spiking Heidelberg Digits and not speech. Class-dependent formant "
    "tracks over 700 channels with speaker shifts; times in seconds. Made by srkan.data.demo for smoke tests."
)


def _sample(rng: np.random.Generator, cls: dict, spk: dict) -> tuple[np.ndarray, np.ndarray]:
    onset = rng.uniform(0.02, 0.12)
    dur = cls["dur"] * spk["speed"] * rng.uniform(0.92, 1.08)
    n1 = rng.poisson(700 * spk["gain"])
    n2 = rng.poisson(450 * spk["gain"])
    n0 = rng.poisson(150)
    tau1, tau2 = rng.uniform(0, 1, n1), rng.uniform(0, 1, n2)
    c1 = cls["f1"] + spk["shift"] + cls["bend"] * np.sin(np.pi * tau1) + rng.normal(0, 5, n1)
    c2 = cls["f2"] + spk["shift"] + cls["slope"] * (tau2 - 0.5) + rng.normal(0, 5, n2)
    t0 = rng.uniform(0, onset + dur + 0.05, n0)
    c0 = rng.uniform(0, N_CHANNELS, n0)
    t = np.concatenate([onset + tau1 * dur, onset + tau2 * dur, t0])
    c = np.floor(np.concatenate([c1, c2, c0]))
    ok = (c >= 0) & (c < N_CHANNELS)
    t, c = t[ok], c[ok].astype(np.uint16)
    order = np.argsort(t, kind="stable")
    return t[order], c[order]


def make_demo_dataset(
    root: str | Path,
    *,
    n_classes: int = 10,
    n_train_per_class: int = 40,
    n_test_per_class: int = 10,
    n_train_speakers: int = 12,
    n_test_speakers: int = 4,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write ``root/SHD/shd_{train,test}.h5`` (and the ``.h5.zip`` tonic expects); return ``root``.

    Existing files written with the same parameters are kept (regenerated otherwise).
    """
    root = Path(root)
    params = dict(
        version=DEMO_VERSION,
        n_classes=n_classes,
        n_train_per_class=n_train_per_class,
        n_test_per_class=n_test_per_class,
        n_train_speakers=n_train_speakers,
        n_test_speakers=n_test_speakers,
        seed=seed,
    )
    tag = json.dumps(params, sort_keys=True)
    files = {s: root / "SHD" / f"shd_{s}.h5" for s in ("train", "test")}
    if not overwrite and all(f.is_file() and f.with_name(f.name + ".zip").is_file() for f in files.values()):
        try:
            ok = True
            for f in files.values():
                with h5py.File(f, "r") as h:
                    ok = ok and h.attrs.get("srkan_demo_params") == tag
            if ok:
                return root
        except OSError:
            pass

    rng = np.random.default_rng(seed)
    classes = []
    centres = np.linspace(120, 560, n_classes)
    perm = rng.permutation(n_classes)
    for k in range(n_classes):
        classes.append(
            dict(
                f1=centres[k],
                f2=centres[perm[k]] + 90,
                bend=(40.0 if k % 2 else -40.0),
                slope=(-1) ** (k // 2) * 120.0,
                dur=0.45 + 0.3 * ((k * 7) % n_classes) / max(n_classes - 1, 1),
            )
        )
    n_spk = n_train_speakers + n_test_speakers
    speakers = [
        dict(shift=rng.uniform(-18, 18), speed=rng.uniform(0.85, 1.15), gain=rng.uniform(0.8, 1.2)) for _ in range(n_spk)
    ]
    names = [f"synthetic_class_{k:02d}" for k in range(n_classes)]
    for split, per_class, spk_ids in (
        ("train", n_train_per_class, np.arange(n_train_speakers)),
        ("test", n_test_per_class, np.arange(n_train_speakers, n_spk)),
    ):
        labels = np.repeat(np.arange(n_classes), per_class)
        spk = spk_ids[np.arange(labels.size) % spk_ids.size]
        order = rng.permutation(labels.size)
        labels, spk = labels[order], spk[order]
        times, units = [], []
        for lab, s in zip(labels, spk):
            t, c = _sample(rng, classes[lab], speakers[s])
            times.append(t)
            units.append(c)
        write_hsd(
            files[split], times, units, labels, spk, names, description=DESCRIPTION, attrs={"srkan_demo_params": tag}
        )
    return root
