import sys
from pathlib import Path

# Make tests/reference.py importable as `reference` from every test module.
sys.path.insert(0, str(Path(__file__).parent))


import pytest  # noqa: E402


@pytest.fixture
def offline_wandb(monkeypatch):
    """W&B without an API key, offline and quiet (no test may reach the network)."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
