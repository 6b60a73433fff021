"""srkan: Spiking Recurrent Kolmogorov-Arnold Networks (model library + experiment framework)."""

__version__ = "0.1.0"
