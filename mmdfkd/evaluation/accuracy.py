"""Top-k classification accuracy."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.evaluator import BaseMetric

from mmdfkd.registry import METRICS


@METRICS.register_module()
class ClsAccuracy(BaseMetric):
    """Top-k accuracy of :class:`ClsDataSample` predictions.

    Reads ``gt_label`` and ``pred_label`` (top-1) or ``pred_score`` (top-k,
    k > 1) of each predicted sample. Reports fractions in ``[0, 1]`` under
    ``accuracy/top{k}``.

    Args:
        topk (int | Sequence[int]): the k values. Default: 1.
        collect_device (str): ``'cpu'`` or ``'gpu'``, where results gather in
            distributed evaluation.
        prefix (str, optional): key prefix; default ``'accuracy'``.
    """

    default_prefix = 'accuracy'

    def __init__(self,
                 topk: Union[int, Sequence[int]] = 1,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = (topk, ) if isinstance(topk, int) else tuple(topk)
        if not self.topk or min(self.topk) < 1:
            raise ValueError(f'topk must be positive integers, got {topk}')

    def process(self, data_batch: Optional[dict], data_samples: Sequence[dict]) -> None:
        """Keep, per sample, the ground truth and the k best classes.

        Args:
            data_batch (dict, optional): unused.
            data_samples (Sequence[dict]): predicted samples as dicts (the
                evaluator's ``to_dict`` of each :class:`ClsDataSample`).
        """
        kmax = max(self.topk)
        for sample in data_samples:
            if 'gt_label' not in sample:
                raise KeyError('ClsAccuracy needs gt_label in each predicted sample; '
                               'pack the val data with PackClsInputs')
            if kmax == 1 and 'pred_label' in sample:
                top = torch.as_tensor(sample['pred_label']).reshape(1)
            elif 'pred_score' in sample:
                score = torch.as_tensor(sample['pred_score'])
                if kmax > score.numel():
                    raise ValueError(f'topk={kmax} exceeds the {score.numel()} classes of pred_score')
                top = score.topk(kmax).indices
            else:
                raise KeyError(f"top-{kmax} accuracy needs pred_score (pred_label suffices for top-1); "
                               "run the model with mode='predict'")
            self.results.append(dict(gt_label=int(sample['gt_label']), top=top.cpu()))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Fraction of samples whose label is among their top-k classes.

        Args:
            results (list[dict]): the gathered outputs of :meth:`process`.

        Returns:
            dict[str, float]: ``{'top1': ..., 'top5': ...}`` for the k values.
        """
        if not results:
            raise ValueError('ClsAccuracy got no predictions; check that the val/test dataset is not empty')
        metrics = {}
        for k in self.topk:
            hits = sum(int(r['gt_label'] in r['top'][:k].tolist()) for r in results)
            metrics[f'top{k}'] = hits / len(results)
        return metrics
