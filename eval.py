"""Evaluate a checkpoint on the test set: ``python eval.py ckpt_path=PATH [data=...]`` (see configs/eval.yaml).

Thin entry point: Hydra composes the config, :func:`srkan.cli.eval_main` does the work. Model and data
default to the configuration stored in the checkpoint.
"""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="eval.yaml")
def main(cfg: DictConfig) -> None:
    from srkan.cli import eval_main

    eval_main(cfg)


if __name__ == "__main__":
    main()
