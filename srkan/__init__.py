"""srkan: Spiking Recurrent Kolmogorov-Arnold Networks (model library + experiment framework)."""
from .nn import SRKAN

__version__ = "0.1.0"
__all__ = ["SRKAN", "__version__"]
