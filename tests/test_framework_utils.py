"""Helpers shared by the framework tests (no tests here): tiny demo data, config composition, runs.

All runs use ``data=demo`` shrunk to 4 classes x 12 training samples, T=20 bins, and tiny models, so
that one training epoch takes about a second on a CPU core.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = str(ROOT / "configs")

N_CLASSES = 4
TINY_DATA = [
    "data=demo",
    f"data.n_classes={N_CLASSES}",
    "data.n_train_per_class=12",
    "data.n_test_per_class=4",
    "data.T=20",
    "data.batch_size=16",
    "data.num_workers=0",
]
QUIET = ["extras.print_config=false", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]

# tiny settings for each model config (applied only where the key exists in that config)
TINY_MODEL = {"n_hidden": 8, "n_layers": 1, "grid": 3, "chunk_size": 5, "n_proj": 16, "hidden": [16], "T": 20}

_DATA_DIR: list[str] = []


def data_dir() -> str:
    """One temporary data folder per test process (demo files and binning cache are written once)."""
    if not _DATA_DIR:
        d = tempfile.mkdtemp(prefix="srkan_fw_data_")
        atexit.register(shutil.rmtree, d, True)
        _DATA_DIR.append(d)
    return _DATA_DIR[0]


def tiny_overrides(model: str = "rnn", *extra: str) -> list[str]:
    """Overrides for a tiny run on demo data (model-size keys are set in :func:`compose_cfg`)."""
    return [*TINY_DATA, f"model={model}", f"model.n_out={N_CLASSES}", f"paths.data_dir={data_dir()}", *QUIET, *extra]


def compose_cfg(out_dir: Path, overrides: list[str], config_name: str = "train.yaml", tiny_model: bool = True) -> DictConfig:
    """Compose a config as ``train.py`` / ``eval.py`` would, with its output folder at ``out_dir``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out_dir)
        cfg.paths.log_dir = str(out_dir / "logs")
        cfg.hydra.runtime.output_dir = str(out_dir)
        cfg.hydra.job.num = 0
        cfg.hydra.job.id = "0"
        if tiny_model and cfg.get("model") is not None:
            explicit = {o.split("=", 1)[0] for o in overrides}
            for key, val in TINY_MODEL.items():
                if key in cfg.model and f"model.{key}" not in explicit:
                    cfg.model[key] = val
    HydraConfig().set_config(cfg)
    return cfg


def run_script(script: str, args: list[str], cwd: Path, timeout: float = 240, env: dict | None = None,
               stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    """Run ``python train.py|eval.py ARGS`` as a user would (used only where a subprocess is essential)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=str(cwd), env=full_env, stdin=stdin, capture_output=True, text=True, timeout=timeout,
    )
