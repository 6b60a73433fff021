"""Train a model: ``python train.py model=srkan data=shd [key=value ...]`` (see configs/train.yaml).

Thin entry point: Hydra composes the config, :func:`srkan.cli.train_main` does the work and returns
``optimized_metric`` for sweepers (``python train.py -m ...``, ``hparams_search=optuna``).
"""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="train.yaml")
def main(cfg: DictConfig) -> float | None:
    from srkan.cli import train_main

    return train_main(cfg)


if __name__ == "__main__":
    main()
