"""Data: SHD/SSC via tonic, any SHD-layout HDF5 file, and a synthetic demo set, binned with a fixed
time step into cached ``uint8 [B, T, 700]`` batches. Never imports ``srkan.nn``/``srkan.lit``/``srkan.cli``."""

from .augment import augment_batch, channel_shift, event_drop, time_jitter
from .binning import BinnedSplit, CountOverflowError, bin_events
from .datamodule import (
    DemoDataModule,
    FrameDataset,
    HSDDataModule,
    HSDFileDataModule,
    SHDDataModule,
    SSCDataModule,
    speaker_split,
)
from .demo import make_demo_dataset
from .hsd import DatasetNotFoundError, HSDFormatError, read_hsd, write_hsd

__all__ = [
    "BinnedSplit",
    "CountOverflowError",
    "DatasetNotFoundError",
    "DemoDataModule",
    "FrameDataset",
    "HSDDataModule",
    "HSDFileDataModule",
    "HSDFormatError",
    "SHDDataModule",
    "SSCDataModule",
    "augment_batch",
    "bin_events",
    "channel_shift",
    "event_drop",
    "make_demo_dataset",
    "read_hsd",
    "speaker_split",
    "time_jitter",
    "write_hsd",
]
