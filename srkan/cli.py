"""Compose config -> instantiate data, model, module, callbacks, loggers -> fit / test.

``train.py`` and ``eval.py`` at the repository root are thin Hydra entry points around
:func:`train_main` and :func:`eval_main`; tests call :func:`train` / :func:`evaluate` directly with a
config from ``hydra.compose``.

Everything that can be refused is refused before training starts, with the config key named
(:class:`ConfigError`): model constructor errors (``model.grid``, ``model.chunk_size``, unknown
``model.homeostasis`` / ``model.surrogate`` / ``model.basis`` ...), ``model.n_in`` / ``model.n_out``
not matching the data, a missing ``ckpt_path``. Unknown override keys are refused by Hydra itself.
"""

from __future__ import annotations

import logging
import netrc
import os
import re
import sys
import warnings
from typing import Any, Optional
from urllib.parse import urlparse

import hydra
import torch
from lightning.pytorch import Callback, LightningDataModule, LightningModule, Trainer, seed_everything
from lightning.pytorch.callbacks import LearningRateMonitor, ModelSummary, ProgressBar
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import nn

import srkan.data  # noqa: F401  (the CLI imports every floor: data, nn, lit)
import srkan.lit  # noqa: F401
import srkan.nn  # noqa: F401

log = logging.getLogger("srkan")

__all__ = [
    "ConfigError",
    "train",
    "evaluate",
    "train_main",
    "eval_main",
    "build_model",
    "load_checkpoint",
    "wandb_api_key_configured",
]


class ConfigError(ValueError):
    """A configuration value was refused; the message starts with the offending config key."""


# --------------------------------------------------------------------------------------------- helpers
def _info(msg: str) -> None:
    """One line for the user (rank zero only), on stdout and in the run's log file."""
    if rank_zero_only.rank == 0:
        if _hydra_initialized():
            log.info(msg)  # Hydra's job logging prints it and keeps it in the run's log file
        else:
            print(msg, flush=True)


def _container(cfg: Any) -> Any:
    if isinstance(cfg, DictConfig) or OmegaConf.is_config(cfg):
        return OmegaConf.to_container(cfg, resolve=True)
    return cfg


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _key_in_message(msg: str, keys: list[str]) -> Optional[str]:
    for key in sorted(keys, key=len, reverse=True):
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(key)}(?![A-Za-z0-9_])", msg):
            return key
    return None


def build_model(model_cfg: DictConfig | dict, prefix: str = "model") -> nn.Module:
    """Instantiate the model; a ``ValueError`` / ``TypeError`` from its constructor becomes a
    :class:`ConfigError` naming the config key (``model.grid: grid must be > 0, got 0``)."""
    if model_cfg is None:
        raise ConfigError(f"{prefix}: no model selected; choose one, e.g. model=srkan")
    cfg = OmegaConf.create(model_cfg) if isinstance(model_cfg, dict) else model_cfg
    if "_target_" not in cfg:
        raise ConfigError(f"{prefix}._target_: missing (the model config must name the class to build)")
    try:
        model = hydra.utils.instantiate(cfg, _convert_="all")
    except Exception as exc:  # noqa: BLE001  (hydra wraps constructor errors)
        cause = _root_cause(exc)
        if isinstance(cause, (ValueError, TypeError)):
            msg = str(cause)
            keys = [k for k in cfg.keys() if not str(k).startswith("_")]
            key = _key_in_message(msg, [str(k) for k in keys])
            where = f"{prefix}.{key}" if key else prefix
            raise ConfigError(f"{where}: {msg}") from cause
        raise
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{prefix}._target_: {cfg._target_} built a {type(model).__name__}, not a torch.nn.Module")
    return model


def _data_dims(dm: LightningDataModule) -> dict[str, Any]:
    """The data's ``n_channels``, ``n_classes``, ``T``; calls ``prepare_data()`` + ``setup("fit")`` only when
    the datamodule does not know them up front."""
    names = ("n_channels", "n_classes", "T")

    def read() -> dict[str, Any]:
        out = {}
        for n in names:
            try:
                out[n] = getattr(dm, n)
            except Exception:  # noqa: BLE001  (properties may raise before setup)
                out[n] = None
        return out

    dims = read()
    if dims["n_channels"] is None or dims["n_classes"] is None:
        dm.prepare_data()
        dm.setup("fit")
        dims = read()
    return dims


def _check_model_vs_data(model_cfg: DictConfig | dict, dims: dict[str, Any], prefix: str = "model") -> None:
    pairs = (("n_in", "n_channels", "input channels"), ("n_out", "n_classes", "classes"), ("T", "T", "time steps"))
    for mkey, dkey, what in pairs:
        mval, dval = model_cfg.get(mkey), dims.get(dkey)
        if mkey == "T" and "MLP" not in str(model_cfg.get("_target_", "")):
            continue  # only the MLP has a hard input length; other models take any T
        if mval is not None and dval is not None and int(mval) != int(dval):
            raise ConfigError(
                f"{prefix}.{mkey}={mval} does not match the data's {dval} {what} "
                f"(data.{dkey}); set {prefix}.{mkey}={dval}"
            )


def wandb_api_key_configured() -> bool:
    """True if W&B credentials exist locally (env var or netrc). Never touches the network or stdin."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    candidates = [os.environ.get("NETRC"), os.path.expanduser("~/.netrc"), os.path.expanduser("~/_netrc")]
    for path in candidates:
        if path and os.path.isfile(path):
            try:
                auth = netrc.netrc(path).authenticators(host)
            except (netrc.NetrcParseError, OSError):
                continue
            if auth and auth[2]:
                return True
    return False


def _is_wandb(cfg: Any) -> bool:
    return isinstance(cfg, DictConfig) and "WandbLogger" in str(cfg.get("_target_", ""))


def _prepare_wandb(logger_cfg: Optional[DictConfig]) -> None:
    """Online with an API key, otherwise offline with one line on how to sync. Never prompts."""
    if not logger_cfg:
        return
    for lg in logger_cfg.values():
        if not _is_wandb(lg):
            continue
        mode = os.environ.get("WANDB_MODE", "").lower()
        save_dir = os.path.join(str(lg.get("save_dir") or "."), "wandb")
        if mode in ("offline", "dryrun") or lg.get("offline"):
            with open_dict(lg):
                lg.offline = True
            _info(f"W&B: logging offline to {save_dir}; upload later with: wandb sync {save_dir}/offline-run-*")
        elif mode == "disabled":
            _info("W&B: disabled by WANDB_MODE=disabled")
        elif not wandb_api_key_configured():
            with open_dict(lg):
                lg.offline = True
            _info(
                f"W&B: no API key configured, logging offline to {save_dir}; "
                f"upload later with: wandb sync {save_dir}/offline-run-*"
            )
        os.makedirs(save_dir, exist_ok=True)


def _finish_wandb(exit_code: int, wandb_mode: Optional[str]) -> None:
    """Finish the job's W&B run (one run per job), with a failing exit code if the job raised, and put
    back WANDB_MODE (Lightning's offline WandbLogger sets it, which would leak into the next job)."""
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=exit_code)
    if wandb_mode is None:
        os.environ.pop("WANDB_MODE", None)
    else:
        os.environ["WANDB_MODE"] = wandb_mode


def _instantiate_group(cfg: Optional[DictConfig]) -> list:
    """Instantiate every ``_target_`` entry of a config group (callbacks, logger) in order."""
    if not cfg:
        return []
    return [hydra.utils.instantiate(entry, _convert_="all")
            for entry in cfg.values() if isinstance(entry, DictConfig) and "_target_" in entry]


def instantiate_callbacks(cfg: Optional[DictConfig]) -> list[Callback]:
    return _instantiate_group(cfg)


def instantiate_loggers(cfg: Optional[DictConfig]) -> list[Logger]:
    return _instantiate_group(cfg)


@rank_zero_only
def print_config_tree(cfg: DictConfig, save_to: Optional[str] = None) -> None:
    """Print the composed config as a rich tree (and save it as text next to the run)."""
    import rich
    import rich.syntax
    import rich.tree

    order = ["data", "model", "module", "callbacks", "logger", "trainer", "paths", "extras"]
    tree = rich.tree.Tree("CONFIG", style="dim", guide_style="dim")
    keys = [k for k in order if k in cfg] + [k for k in cfg if k not in order and k != "hydra"]
    for key in keys:
        branch = tree.add(str(key), style="dim", guide_style="dim")
        value = cfg[key]
        try:
            text = OmegaConf.to_yaml(value, resolve=True) if isinstance(value, DictConfig) else str(value)
        except Exception:  # noqa: BLE001  (e.g. ${hydra:...} outside a Hydra app)
            text = OmegaConf.to_yaml(value) if isinstance(value, DictConfig) else str(value)
        branch.add(rich.syntax.Syntax(text, "yaml"))
    rich.print(tree)
    if save_to:
        with open(save_to, "w", encoding="utf-8") as fh:
            rich.print(tree, file=fh)


@rank_zero_only
def _save_resolved_config(cfg: DictConfig, output_dir: str) -> None:
    os.makedirs(output_dir, exist_ok=True)
    plain = {k: v for k, v in cfg.items() if k != "hydra"}
    OmegaConf.save(OmegaConf.create(_container(OmegaConf.create(plain))), os.path.join(output_dir, "config_resolved.yaml"))


def _extras(cfg: DictConfig) -> None:
    extras = cfg.get("extras") or {}
    if extras.get("ignore_warnings"):
        warnings.filterwarnings("ignore")
    if extras.get("print_config"):
        print_config_tree(cfg, save_to=os.path.join(cfg.paths.output_dir, "config_tree.log"))


def load_checkpoint(path: str) -> dict:
    """``torch.load`` a checkpoint with ``weights_only=True``; if the file holds arbitrary Python objects
    (e.g. written by other code), fall back to a full unpickle with a warning: only for trusted files."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (pickle.UnpicklingError and friends)
        log.warning(
            "checkpoint %s cannot be loaded with weights_only=True (%s); loading it with weights_only=False - "
            "only do this for files you trust",
            path,
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
        return torch.load(path, map_location="cpu", weights_only=False)


def _ckpt_weights_only(path: str) -> bool:
    try:
        torch.load(path, map_location="cpu", weights_only=True)
        return True
    except Exception:  # noqa: BLE001
        log.warning("checkpoint %s is not loadable with weights_only=True; loading it fully (trusted files only)", path)
        return False


def _check_ckpt_path(path: Optional[str], key: str = "ckpt_path") -> Optional[str]:
    if path in (None, ""):
        return None
    path = hydra.utils.to_absolute_path(str(path)) if _hydra_initialized() else os.path.abspath(str(path))
    if not os.path.isfile(path):
        raise ConfigError(f"{key}: checkpoint file not found: {path}")
    return path


def _hydra_initialized() -> bool:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.initialized()


def _n_params(model: nn.Module) -> dict[str, int]:
    return {
        "model/params/total": sum(p.numel() for p in model.parameters()),
        "model/params/trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }


def _build_module(cfg: DictConfig, model: nn.Module, n_classes: int, stored: dict) -> LightningModule:
    module = hydra.utils.instantiate(cfg.module, model=model, num_classes=int(n_classes))
    # set after instantiation: passed through instantiate, the `_target_`s inside would be built
    module.hparams["run_config"] = stored
    return module


def _setup(cfg: DictConfig, model_cfg: Any, data_cfg: Any) -> tuple[LightningDataModule, nn.Module, dict]:
    """Data + model with every refusal checked; nothing is trained yet."""
    if data_cfg is None:
        raise ConfigError("data: no dataset selected; choose one, e.g. data=demo")
    if cfg.get("seed") is not None:
        seed_everything(int(cfg.seed), workers=True)
    datamodule: LightningDataModule = hydra.utils.instantiate(data_cfg)
    model = build_model(model_cfg)
    dims = _data_dims(datamodule)
    _check_model_vs_data(model_cfg, dims)
    # the model is rebuilt after the checks with the seed re-applied, so that its initial weights do
    # not depend on how much randomness the data setup consumed
    if cfg.get("seed") is not None:
        seed_everything(int(cfg.seed), workers=True)
        model = build_model(model_cfg)
    return datamodule, model, dims


# --------------------------------------------------------------------------------------------- train / eval
def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train (and test) as configured. Returns ``(metrics, objects)``; ``metrics`` holds plain floats,
    ``objects`` the datamodule, model, module, trainer and ``best_ckpt`` / ``last_ckpt`` paths."""
    exit_code, wandb_mode = 1, os.environ.get("WANDB_MODE")
    try:
        output_dir = str(cfg.paths.output_dir)
        _extras(cfg)
        _save_resolved_config(cfg, output_dir)
        ckpt_path = _check_ckpt_path(cfg.get("ckpt_path"))

        datamodule, model, dims = _setup(cfg, cfg.get("model"), cfg.get("data"))
        stored = {"model": _container(cfg.model), "data": _container(cfg.data)}
        module = _build_module(cfg, model, dims["n_classes"], stored)

        _prepare_wandb(cfg.get("logger"))
        loggers = instantiate_loggers(cfg.get("logger"))
        callbacks = instantiate_callbacks(cfg.get("callbacks"))
        if not loggers:
            callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
        if cfg.trainer.get("enable_progress_bar") is False:
            callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
        if cfg.trainer.get("enable_model_summary") is False:
            callbacks = [c for c in callbacks if not isinstance(c, ModelSummary)]
        extra = {"num_sanity_val_steps": 0} if ckpt_path else {}  # keep the RNG streams exact on resume
        trainer: Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **extra)

        hparams = {k: v for k, v in _container(OmegaConf.create({k: v for k, v in cfg.items() if k != "hydra"})).items()}
        hparams.update(_n_params(model))
        for lg in loggers:
            lg.log_hyperparams(hparams)
        _info(f"model: {type(model).__name__}, {hparams['model/params/total']:,} parameters; output: {output_dir}")

        if cfg.get("train", True):
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path,
                        weights_only=_ckpt_weights_only(ckpt_path) if ckpt_path else None)
        train_metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}

        best = getattr(trainer.checkpoint_callback, "best_model_path", "") if trainer.checkpoint_callback else ""
        last = ""
        for cb in trainer.checkpoint_callbacks:  # the 'last' checkpoint (callbacks.last_checkpoint), else save_last
            last = (cb.best_model_path if cb.monitor is None else cb.last_model_path) or last
        test_metrics: dict[str, float] = {}
        if cfg.get("test", False):
            if best and cfg.get("train", True):
                trainer.test(module, datamodule=datamodule, ckpt_path=best, weights_only=True)
            else:
                if cfg.get("train", True):
                    log.warning("no best checkpoint found; testing the current weights")
                trainer.test(module, datamodule=datamodule)
            test_metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        if best:
            _info(f"best checkpoint: {best}")
        metrics = {**train_metrics, **test_metrics}
        objects = {"cfg": cfg, "datamodule": datamodule, "model": model, "module": module, "trainer": trainer,
                   "best_ckpt": best, "last_ckpt": last, "output_dir": output_dir}
        exit_code = 0
        return metrics, objects
    finally:
        _finish_wandb(exit_code, wandb_mode)


def evaluate(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Test a checkpoint. ``data`` / ``model`` default to the configuration stored in the checkpoint."""
    exit_code, wandb_mode = 1, os.environ.get("WANDB_MODE")
    try:
        output_dir = str(cfg.paths.output_dir)
        ckpt_path = _check_ckpt_path(cfg.get("ckpt_path"))
        if ckpt_path is None:
            raise ConfigError("ckpt_path: required, e.g. ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt")
        ckpt = load_checkpoint(ckpt_path)
        stored = (ckpt.get("hyper_parameters") or {}).get("run_config") or {}
        model_cfg = cfg.get("model") if cfg.get("model") is not None else stored.get("model")
        data_cfg = cfg.get("data") if cfg.get("data") is not None else stored.get("data")
        if model_cfg is None:
            raise ConfigError("model: the checkpoint stores no model config; choose one, e.g. model=srkan")
        model_cfg = OmegaConf.create(_container(model_cfg))
        data_cfg = OmegaConf.create(_container(data_cfg)) if data_cfg is not None else None
        with open_dict(cfg):
            cfg.model, cfg.data = model_cfg, data_cfg
        _extras(cfg)
        _save_resolved_config(cfg, output_dir)

        datamodule, model, dims = _setup(cfg, model_cfg, data_cfg)
        module = _build_module(cfg, model, dims["n_classes"], {"model": _container(model_cfg), "data": _container(data_cfg)})
        try:
            module.load_state_dict(ckpt["state_dict"])
        except (RuntimeError, KeyError) as exc:
            raise ConfigError(f"ckpt_path: the checkpoint's weights do not fit model={model_cfg.get('_target_')}: {exc}") from exc

        _prepare_wandb(cfg.get("logger"))
        loggers = instantiate_loggers(cfg.get("logger"))
        trainer: Trainer = hydra.utils.instantiate(cfg.trainer, logger=loggers or False, callbacks=[])
        hparams = _container(OmegaConf.create({k: v for k, v in cfg.items() if k != "hydra"}))
        hparams.update(_n_params(model))
        for lg in loggers:
            lg.log_hyperparams(hparams)
        trainer.test(module, datamodule=datamodule)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        exit_code = 0
        return metrics, {"cfg": cfg, "datamodule": datamodule, "model": model, "module": module, "trainer": trainer}
    finally:
        _finish_wandb(exit_code, wandb_mode)


def _metric(metrics: dict[str, Any], name: Optional[str]) -> Optional[float]:
    if not name:
        return None
    if name not in metrics:
        raise ConfigError(
            f"optimized_metric: '{name}' was not logged; available: {', '.join(sorted(metrics)) or 'none'}"
        )
    return float(metrics[name])


def _refuse(exc: ConfigError) -> None:
    """A refused configuration ends the process with exit code 2 and one line naming the key."""
    log.error("refused: %s", exc)
    print(f"srkan: refused: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(2) from exc


def _log_failure(what: str) -> None:
    """Write the traceback of a failing job into its own log (``<run>/<task>.log``). In a multirun the
    launcher only re-raises a job's exception after every job has finished, so without this a job
    that died would leave a log that simply stops."""
    log.exception("%s failed; traceback:", what)


def train_main(cfg: DictConfig) -> Optional[float]:
    """Entry point of ``train.py``: trains and returns ``cfg.optimized_metric`` (for sweepers)."""
    try:
        metrics, _ = train(cfg)
        return _metric(metrics, cfg.get("optimized_metric"))
    except ConfigError as exc:
        _refuse(exc)
    except Exception:
        _log_failure("training")
        raise


def eval_main(cfg: DictConfig) -> dict[str, float]:
    """Entry point of ``eval.py``."""
    try:
        metrics, _ = evaluate(cfg)
        return metrics
    except ConfigError as exc:
        _refuse(exc)
    except Exception:
        _log_failure("evaluation")
        raise
