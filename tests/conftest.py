import sys
from pathlib import Path

# Make tests/reference.py importable as `reference` from every test module.
sys.path.insert(0, str(Path(__file__).parent))
