"""Helpers shared by the benchmark / table / plot scripts (scripts import the package, never the reverse)."""
from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
MODEL_NAMES = ("srkan", "kan", "mlp", "rnn", "lif_snn")


def save_figure(fig, path: str | Path, dpi: int = 110) -> None:
    """Write a matplotlib figure to ``path`` (parent folders are created) and close it."""
    import matplotlib.pyplot as plt

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def model_config(name: str, T: int = 100, dt: float = 10.0, n_in: int = 700, n_out: int = 20, **overrides):
    """``configs/model/<name>.yaml`` with the data interpolations (``${data.T}``, ``${data.dt}``) resolved."""
    path = ROOT / "configs" / "model" / f"{name}.yaml"
    if not path.exists():
        raise ValueError(f"no model config {path}; expected one of {MODEL_NAMES}")
    cfg = OmegaConf.merge(OmegaConf.create({"data": {"T": T, "dt": dt}}), {"model": OmegaConf.load(path)})
    model = cfg.model
    model.n_in, model.n_out = n_in, n_out
    for k, v in overrides.items():
        model[k] = v
    return OmegaConf.create(OmegaConf.to_container(model, resolve=True))


def build(name: str, T: int = 100, seed: int = 0, **overrides) -> nn.Module:
    """Instantiate a model from its Hydra config (the same defaults ``train.py model=<name>`` uses)."""
    from srkan.cli import build_model

    torch.manual_seed(seed)
    return build_model(model_config(name, T=T, **overrides))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def per_step_output(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What the training loop reduces to logits: ``readout_membrane`` where it exists, else ``forward``."""
    fn = getattr(model, "readout_membrane", None)
    return fn(x) if callable(fn) else model(x)


def spikes(B: int, T: int, n_in: int = 700, p: float = 0.09, seed: int = 0) -> torch.Tensor:
    """Random binary frames at SHD-like density (~9 % of bins hold an event at 10 ms, 700 channels)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(B, T, n_in, generator=g) < p).to(torch.uint8)


def load_checkpoint_model(ckpt_path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild the model a training run saved (config stored in the checkpoint) and load its weights."""
    from srkan.cli import build_model

    ckpt = torch.load(str(ckpt_path), map_location="cpu", weights_only=True)
    run_cfg = ckpt.get("hyper_parameters", {}).get("run_config", {})
    if not run_cfg or "model" not in run_cfg:
        raise ValueError(f"{ckpt_path}: no run_config.model in the checkpoint's hyper_parameters "
                         "(not written by srkan's train.py?)")
    model = build_model(OmegaConf.create(run_cfg["model"]))
    state = {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    model.load_state_dict(state)
    model.eval()
    return model, run_cfg
