"""Detection distillation through the student's own loss on teacher pseudo-labels."""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmdfkd.registry import MODELS

from .loss_dict import sum_loss_dict


@MODELS.register_module()
class PseudoLabelDetLoss(nn.Module):
    """Train a detector on the teacher's confident detections as ground truth.

    Used in two steps by the distiller rather than as ``forward(preds_S,
    preds_T)``:

    1. :meth:`make_targets` turns the teacher's predictions on a synthetic
       batch into data samples whose ``gt_instances`` are the confident
       teacher boxes;
    2. the distiller calls ``student.loss(images, targets)`` and passes the
       returned loss dict to :meth:`forward`, which sums it.

    Because the supervision goes through the student's own ``loss``, any
    MMDetection student works unchanged: one-stage (RetinaNet, FCOS, ATSS),
    two-stage (Faster R-CNN) or DETR-like, and teacher and student may have
    different heads, strides or anchors. Each loss of the student's dict is
    normalised by that detector as usual (per positive sample or per box), so
    the sum is O(1) whatever the batch.

    Args:
        score_thr (float): Teacher detections scoring below are dropped.
            Default: 0.3.
        max_per_img (int): At most this many highest-scoring detections per
            image are kept. Default: 20.
        loss_weight (float): Multiplier of the summed student losses.
            Default: 1.0.
    """

    def __init__(self, score_thr: float = 0.3, max_per_img: int = 20, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.score_thr = score_thr
        self.max_per_img = max_per_img
        self.loss_weight = loss_weight

    def make_targets(self,
                     teacher_results: Sequence[DetDataSample],
                     score_thr: Optional[float] = None,
                     max_per_img: Optional[int] = None) -> List[DetDataSample]:
        """Turn teacher predictions into ground-truth data samples.

        The boxes must be in the coordinates of the images the student sees:
        run the teacher with ``predict(..., rescale=False)``, and keep its
        ``test_cfg.score_thr`` at or below ``score_thr``. An image without a
        confident detection gets empty ``gt_instances`` (bboxes (0, 4)), which
        MMDetection's losses treat as all background.

        Args:
            teacher_results (Sequence[DetDataSample]): The teacher's
                ``predict`` output, one per image, each with
                ``pred_instances`` holding ``bboxes`` (K, 4), ``scores`` (K,)
                and ``labels`` (K,).
            score_thr (float, optional): Overrides ``self.score_thr``.
            max_per_img (int, optional): Overrides ``self.max_per_img``.

        Returns:
            list[DetDataSample]: One per image with the same metainfo and
            ``gt_instances`` (bboxes (K', 4), labels (K',)), detached, sorted
            by decreasing teacher score.
        """
        score_thr = self.score_thr if score_thr is None else score_thr
        max_per_img = self.max_per_img if max_per_img is None else max_per_img
        targets = []
        for result in teacher_results:
            if 'pred_instances' not in result:
                raise ValueError('PseudoLabelDetLoss.make_targets needs DetDataSamples with pred_instances: pass the '
                                 'output of teacher.predict(images, data_samples, rescale=False).')
            pred = result.pred_instances
            keep = torch.nonzero(pred.scores >= score_thr).squeeze(1)
            keep = keep[pred.scores[keep].argsort(descending=True)[:max_per_img]]
            target = DetDataSample(metainfo=result.metainfo)
            target.gt_instances = InstanceData(bboxes=pred.bboxes[keep].detach(),
                                               labels=pred.labels[keep].detach())
            targets.append(target)
        return targets

    def forward(self, student_losses: Dict[str, Union[torch.Tensor, List[torch.Tensor]]]) -> torch.Tensor:
        """Sum the student's losses on the pseudo-labels.

        As ``BaseModel.parse_losses`` does, every entry whose key contains
        ``'loss'`` counts (``loss_cls``, ``loss_rpn_bbox``, DETR's per-decoder
        ``d0.loss_cls``); a tensor counts by its mean, a list by the sum of
        its items' means; other entries (``acc``) are ignored.

        Args:
            student_losses (dict[str, Tensor | list[Tensor]]): The dict that
                ``student.loss(images, targets)`` returns.

        Returns:
            Tensor: Scalar, the sum times ``loss_weight``.
        """
        return self.loss_weight * sum_loss_dict(student_losses, 'PseudoLabelDetLoss', 'student.loss(images, targets)')
