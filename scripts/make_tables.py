"""Markdown tables and PNG plots from training run / multirun folders.

    # accuracy table: one row per run folder (python train.py -m experiment=acc_srkan,acc_kan,... data.root=DIR)
    python scripts/make_tables.py accuracy logs/acc_*/runs/* [--test-last] [--out logs/tables]
    # an ablation multirun, grouped by a swept key (mean ± std over seeds) + accuracy and firing-rate plots
    python scripts/make_tables.py homeostasis logs/homeostasis_ablation/multiruns/<date_time> [--test-last]
    python scripts/make_tables.py surrogate  logs/surrogate_ablation/multiruns/<date_time>
    python scripts/make_tables.py sweep      logs/grid_sweep/multiruns/<date_time> --key model.grid

Per run it reads ``config_resolved.yaml`` (model, parameter count by instantiating it),
``.hydra/overrides.yaml``, ``csv/version_*/metrics.csv`` (``val/acc`` per epoch, ``test/acc`` of the
best-``val/acc`` checkpoint that train.py tests) and ``firing_rates.jsonl``. Columns:
*best val* / *final val* = highest / last-epoch ``val/acc``; *test (best ckpt)* = train.py's
``test/acc``; with ``--test-last`` also *test (final)* = the test accuracy of ``checkpoints/last.ckpt``,
computed here on the run's own test split; *s/epoch (train)* = the median of ``time/train_epoch_s``
(the ``EpochTimer`` callback; wall time, so only comparable between runs on the same machine load).
Writes ``<out>/<kind>.md`` (+ PNGs) and prints the table.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _metrics(run: Path) -> dict:
    files = sorted(run.glob("csv/version_*/metrics.csv"))
    if not files:
        raise FileNotFoundError(f"{run}: no csv/version_*/metrics.csv (was the run logged with logger=csv?)")
    val, test, train, epoch_s = {}, None, {}, {}
    for f in files:
        for r in csv.DictReader(open(f)):
            if r.get("time/train_epoch_s"):
                epoch_s[int(r["epoch"])] = float(r["time/train_epoch_s"])
            if r.get("val/acc"):
                val[int(r["epoch"])] = float(r["val/acc"])
            if r.get("train/acc"):
                train[int(r["epoch"])] = float(r["train/acc"])
            if r.get("test/acc"):
                test = float(r["test/acc"])
    curve = [val[e] for e in sorted(val)]
    return {"val_curve": curve, "best_val": max(curve) if curve else None, "final_val": curve[-1] if curve else None,
            "epochs": len(curve), "test_best_ckpt": test, "train_final": train[max(train)] if train else None,
            # median over epochs: robust to the first epoch's warm-up and to a neighbour job's bursts
            "epoch_s": statistics.median(epoch_s.values()) if epoch_s else None}


def _rates(run: Path) -> list[dict]:
    f = run / "firing_rates.jsonl"
    return [json.loads(line) for line in f.read_text().splitlines() if line.strip()] if f.exists() else []


def _get(cfg: dict, dotted: str):
    cur = cfg
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _n_params(model_cfg: dict) -> int:
    from omegaconf import OmegaConf

    from srkan.cli import build_model

    return sum(p.numel() for p in build_model(OmegaConf.create(model_cfg)).parameters())


def test_last(run: Path, cfg: dict) -> float:
    """Test accuracy of ``checkpoints/last.ckpt`` on the run's own test split (its data config)."""
    import hydra
    import torch
    from omegaconf import OmegaConf

    from _common import load_checkpoint_model, per_step_output

    model, _ = load_checkpoint_model(run / "checkpoints" / "last.ckpt")
    dm = hydra.utils.instantiate(OmegaConf.create(cfg["data"]), _convert_="all")
    dm.prepare_data()
    dm.setup("test")
    reduce = (_get(cfg, "module.time_reduce") or "mean")
    correct = total = 0
    with torch.inference_mode():
        for x, y in dm.test_dataloader():
            out = per_step_output(model, x)
            logits = out.mean(1) if reduce == "mean" else out.amax(1)
            correct += int((logits.argmax(-1) == y).sum())
            total += len(y)
    return correct / total


def collect(run: Path, with_test_last: bool = False) -> dict:
    cfg = yaml.safe_load((run / "config_resolved.yaml").read_text())
    ov = run / ".hydra" / "overrides.yaml"
    row = {"run": str(run), "cfg": cfg, "overrides": yaml.safe_load(ov.read_text()) if ov.exists() else [],
           "model": str(_get(cfg, "model._target_")).rsplit(".", 1)[-1], "seed": cfg.get("seed"),
           "params": _n_params(cfg["model"]), **_metrics(run), "rates": _rates(run)}
    if with_test_last and (run / "checkpoints" / "last.ckpt").exists():
        row["test_final"] = test_last(run, cfg)
    return row


def find_runs(paths: list[str]) -> list[Path]:
    runs = []
    for p in map(Path, paths):
        if (p / "config_resolved.yaml").exists():
            runs.append(p)
        else:  # a multirun folder: its numbered job folders
            runs += sorted((d for d in p.iterdir() if (d / "config_resolved.yaml").exists()),
                           key=lambda d: (len(d.name), d.name))
    if not runs:
        raise FileNotFoundError(f"no run folders (with config_resolved.yaml) under {paths}")
    return runs


def _fmt(x, pct=True):
    return "—" if x is None else (f"{100 * x:.1f}" if pct else f"{x:,}")


def _ms(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "—"
    if len(vals) == 1:
        return f"{100 * vals[0]:.1f}"
    return f"{100 * statistics.mean(vals):.1f} ± {100 * statistics.stdev(vals):.1f}"


def _seconds(vals):
    vals = [v for v in vals if v is not None]
    return f"{statistics.median(vals):.1f}" if vals else "—"


def accuracy_table(rows: list[dict]) -> str:
    has_last = any("test_final" in r for r in rows)
    head = "| model | params | epochs | seed | best val | final val | test (best ckpt) |" + (" test (final) |" if has_last else "")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if has_last else "")]
    for r in rows:
        line = (f"| {r['model']} | {r['params']:,} | {r['epochs']} | {r['seed']} | {_fmt(r['best_val'])} | "
                f"{_fmt(r['final_val'])} | {_fmt(r['test_best_ckpt'])} |")
        if has_last:
            line += f" {_fmt(r.get('test_final'))} |"
        lines.append(line)
    return "\n".join(lines)


def grouped_table(rows: list[dict], key: str) -> str:
    groups: dict = {}
    for r in rows:
        groups.setdefault(str(_get(r["cfg"], key)), []).append(r)
    has_last = any("test_final" in r for r in rows)
    has_time = any(r.get("epoch_s") is not None for r in rows)
    lines = [f"| {key} | runs (seeds) | params | best val | final val | drop best→final | test (best ckpt) |"
             + (" test (final) |" if has_last else "") + (" s/epoch (train) |" if has_time else ""),
             "|---|---|---:|---:|---:|---:|---:|" + ("---:|" if has_last else "") + ("---:|" if has_time else "")]
    for g, rs in groups.items():
        drop = [r["best_val"] - r["final_val"] for r in rs if r["best_val"] is not None]
        line = (f"| {g} | {len(rs)} ({', '.join(str(r['seed']) for r in rs)}) | {rs[0]['params']:,} | "
                f"{_ms([r['best_val'] for r in rs])} | {_ms([r['final_val'] for r in rs])} | {_ms(drop)} | "
                f"{_ms([r['test_best_ckpt'] for r in rs])} |")
        if has_last:
            line += f" {_ms([r.get('test_final') for r in rs])} |"
        if has_time:
            line += f" {_seconds([r.get('epoch_s') for r in rs])} |"
        lines.append(line)
    return "\n".join(lines)


def plot_group(rows: list[dict], key: str, png: Path) -> None:
    """Validation accuracy per epoch and per-layer firing rate per epoch, one colour per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(str(_get(r["cfg"], key)) for r in rows))
    layers = sorted({k.split("/")[2] for r in rows for e in r["rates"] for k in e if k.startswith("val/layers/") and k.endswith("/rate")})
    n = 1 + len(layers)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.6), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for gi, g in enumerate(groups):
        c = colors[gi % len(colors)]
        for k, r in enumerate(x for x in rows if str(_get(x["cfg"], key)) == g):
            lab = g if k == 0 else None
            axes[0, 0].plot(range(1, len(r["val_curve"]) + 1), r["val_curve"], color=c, alpha=0.8, label=lab)
            for li, layer in enumerate(layers):
                ys = [e.get(f"val/layers/{layer}/rate") for e in r["rates"]]
                axes[0, li + 1].plot(range(1, len(ys) + 1), ys, color=c, alpha=0.8, label=lab)
    axes[0, 0].set_title("val accuracy")
    for li, layer in enumerate(layers):
        axes[0, li + 1].set_title(f"{layer}: firing rate (spikes/step)")
    for ax in axes[0]:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(title=key)
    fig.tight_layout()
    from _common import save_figure

    save_figure(fig, png)


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["accuracy", "homeostasis", "surrogate", "sweep"])
    ap.add_argument("paths", nargs="+", help="run folders and/or multirun folders")
    ap.add_argument("--key", default=None, help="config key to group by (sweep; default per kind)")
    ap.add_argument("--test-last", action="store_true", help="also test checkpoints/last.ckpt (final accuracy)")
    ap.add_argument("--out", default="logs/tables")
    args = ap.parse_args(argv)
    rows = [collect(r, args.test_last) for r in find_runs(args.paths)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.kind == "accuracy":
        table = accuracy_table(rows)
    else:
        key = args.key or {"homeostasis": "model.homeostasis", "surrogate": "model.surrogate"}.get(args.kind)
        if key is None:
            ap.error("sweep needs --key (e.g. --key model.grid)")
        table = grouped_table(rows, key)
        plot_group(rows, key, out / f"{args.kind}.png")
    (out / f"{args.kind}.md").write_text(table + "\n")
    (out / f"{args.kind}.jsonl").write_text("".join(
        json.dumps({k: v for k, v in r.items() if k not in ("cfg", "rates")}) + "\n" for r in rows))
    print(table)
    print(f"\nwritten: {out / (args.kind + '.md')}" + ("" if args.kind == "accuracy" else f", {out / (args.kind + '.png')}"))
    return table


if __name__ == "__main__":
    main()
