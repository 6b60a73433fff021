"""Model math for srkan (imports torch only)."""
from .model import SRKAN, SRKANBlock, SRKANOutput
from .surrogate import SURROGATES, Surrogate, spike
from .neuron import HOMEOSTASIS, AdaptiveLIF, Homeostasis
from .synapse import BASES, ModalSynapse
from .dendrite import DendriticGate
from .scan import chunked_linear_scan, linear_scan

__all__ = ["SRKAN", "SRKANBlock", "SRKANOutput", "SURROGATES", "Surrogate", "spike", "HOMEOSTASIS",
           "AdaptiveLIF", "Homeostasis", "BASES", "ModalSynapse", "DendriticGate",
           "chunked_linear_scan", "linear_scan"]
