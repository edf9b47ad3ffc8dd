"""The training set of data-free distillation: indices, never images."""
from typing import Optional

from torch.utils.data import Dataset

from mmdfkd.registry import DATASETS


@DATASETS.register_module()
class LatentDataset(Dataset):
    """Yields ``dict(index=i)`` and nothing else.

    The distiller synthesises its own images, so the train loader only paces
    the loop (one batch per iteration) and never opens a file. ``metainfo``
    carries the class names into checkpoints (``dataset_meta``), as a real
    dataset would.

    Args:
        num_samples (int): Length of one "epoch"; an infinite sampler makes it
            irrelevant for iteration-based training.
        metainfo (dict, optional): e.g. ``dict(classes=('0', ..., '9'))``.
    """

    def __init__(self, num_samples: int = 100000, metainfo: Optional[dict] = None) -> None:
        if num_samples <= 0:
            raise ValueError(f'LatentDataset needs num_samples > 0, got {num_samples}.')
        self.num_samples = num_samples
        self.metainfo = dict(metainfo or {})

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> dict:
        return dict(index=index)
