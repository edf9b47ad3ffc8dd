"""Cheaper validation during training: a fixed subset of the val split, the whole split at the end."""
import math
from typing import Dict, List, Union

from mmengine.dataset import DefaultSampler
from mmengine.evaluator import Evaluator
from mmengine.logging import print_log
from mmengine.runner import ValLoop
from torch.utils.data import DataLoader, Subset

from mmdfkd.registry import LOOPS


@LOOPS.register_module()
class SubsetValLoop(ValLoop):
    """Validate on ``num_samples`` images of the val split during training, on all of it at the end.

    The subset is fixed (evenly spaced indices over the split, the same at
    every validation), so the curve it draws is comparable across iterations
    and costs ``num_samples / len(split)`` of a full pass. The validation after
    the last training iteration, and any validation outside training, use the
    whole split, so the final metric (and ``tools/test.py``, which runs the
    test loop) is never a subset's. Metrics of subset validations are logged
    under the same keys; the log line before each says which it is.

    A metric that scores against its own ground-truth file (MMDetection's
    ``CocoMetric``, whose ``img_ids`` default to every image of the file) is
    restricted to the subset's images for a subset validation; otherwise
    the images left out would count as missed objects.

    Args:
        runner (Runner): the runner.
        dataloader (DataLoader | dict): the val dataloader.
        evaluator (Evaluator | dict | list): the val evaluator.
        num_samples (int): images per validation during training; a split
            this size or smaller is always validated whole.
        fp16 (bool): as MMEngine's ``ValLoop``.
    """

    def __init__(self, runner, dataloader: Union[DataLoader, Dict], evaluator: Union[Evaluator, Dict, List],
                 num_samples: int = 100, fp16: bool = False) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        if num_samples < 1:
            raise ValueError(f'SubsetValLoop num_samples must be >= 1, got {num_samples}; '
                             "use val_cfg=dict(type='ValLoop') to validate on the whole split.")
        self.num_samples = num_samples
        self.full_dataloader = self.dataloader
        self.subset_img_ids = None
        dataset = self.full_dataloader.dataset
        total = len(dataset)
        if num_samples >= total:
            self.subset_dataloader = self.full_dataloader
            return
        step = total / num_samples
        indices = sorted({min(total - 1, math.floor(i * step)) for i in range(num_samples)})
        self.subset_img_ids = [dataset.get_data_info(i).get('img_id') for i in indices] \
            if hasattr(dataset, 'get_data_info') else None
        subset = Subset(dataset, indices)
        subset.metainfo = getattr(dataset, 'metainfo', None)
        self.subset_dataloader = DataLoader(
            subset, batch_size=self.full_dataloader.batch_size, sampler=DefaultSampler(subset, shuffle=False),
            num_workers=self.full_dataloader.num_workers, collate_fn=self.full_dataloader.collate_fn)

    def _in_training(self) -> bool:
        """Whether this validation runs between training iterations (not after the last one)."""
        train_loop = getattr(self.runner, '_train_loop', None)
        if train_loop is None or isinstance(train_loop, dict):
            return False
        return train_loop.iter < train_loop.max_iters

    def run(self) -> dict:
        """Validate on the subset while training, on the whole split otherwise."""
        subset = self._in_training() and self.subset_dataloader is not self.full_dataloader
        self.dataloader = self.subset_dataloader if subset else self.full_dataloader
        total = len(self.full_dataloader.dataset)
        print_log(f'Validating on {len(self.dataloader.dataset)} of {total} val images'
                  + (' (a fixed subset; the whole split runs after the last iteration)' if subset else ''),
                  logger='current')
        known_ids = self.subset_img_ids is not None and None not in self.subset_img_ids
        scoped = [m for m in self.evaluator.metrics if hasattr(m, 'img_ids')] if subset and known_ids else []
        for metric in scoped:
            metric.img_ids = list(self.subset_img_ids)
        try:
            return super().run()
        finally:
            self.dataloader = self.full_dataloader
            for metric in scoped:
                metric.img_ids = None  # CocoMetric's lazy default: every image of its file
