"""The training loop's concerns: loss, metrics, logging, monitors (imports ``srkan.nn``, never ``srkan.data``)."""

from srkan.lit.callbacks import FiringRateMonitor
from srkan.lit.module import NonFiniteLossError, SpikeClassifier, layer_summary

__all__ = ["SpikeClassifier", "NonFiniteLossError", "FiringRateMonitor", "layer_summary"]
