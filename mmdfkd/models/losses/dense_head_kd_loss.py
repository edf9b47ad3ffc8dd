"""Distillation of one-stage dense detection heads (FCOS, ATSS, RetinaNet)."""
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdfkd.registry import MODELS

_FIELDS = ('cls_scores', 'bbox_preds', 'centernesses')


@MODELS.register_module()
class DenseHeadKDLoss(nn.Module):
    """Teacher-confidence-weighted KD of the raw outputs of a dense head.

    Inputs are what ``bbox_head.forward(feats)`` returns: a tuple
    ``(cls_scores, bbox_preds[, centernesses])``, each a list over FPN levels.
    At every location the teacher's confidence ``w = max_k sigmoid(cls_T)``
    (N, 1, H, W), detached, weights the terms, so the student learns most
    where the teacher sees an object. With ``d`` an element-wise distance, a
    weighted mean is ``sum(w * mean_c d) / (sum(w) + eps)``: the distance is
    averaged over the channels ``c`` of a location, then weighted over all
    locations of all levels and images. Every term is thus a mean, O(1)
    whatever the batch, image size, number of classes or levels.

    - cls: binary KL divergence between ``sigmoid(cls_T)`` and
      ``sigmoid(cls_S)`` per class (BCE with the teacher's soft targets minus
      the targets' entropy: same gradient, zero when the heads agree), as a
      weighted mean, plus ``bg_weight`` times its plain mean over every
      element, so that locations the teacher calls background (w near 0)
      still teach the student to stay silent there.
    - bbox: L1 between ``bbox_S`` and ``bbox_T``, weighted mean. It compares
      the head's own regression units (deltas for RetinaNet/ATSS, distances
      for FCOS). Caution: ``FCOSHead`` with ``norm_on_bbox=True`` multiplies
      its bbox predictions by the stride when the head is in eval mode, so
      run both heads in the same mode (a frozen teacher's head is usually in
      eval mode while the student trains).
    - centerness: binary KL between the sigmoids, weighted mean; used when
      both heads return centerness (FCOS, ATSS).

    Both heads must have the same ``num_classes``, anchors per location and
    strides (same number of levels with the same H x W each).
    Teacher outputs other than the weights are not detached, so the loss can
    also serve as the generator's adversarial discrepancy.

    Args:
        cls_weight (float): Weight of the classification term. Default: 1.0.
        bbox_weight (float): Weight of the box term. Default: 1.0.
        centerness_weight (float): Weight of the centerness term.
            Default: 1.0.
        bg_weight (float): Weight of the unweighted classification mean
            (background supervision) inside the cls term. Default: 0.1.
        eps (float): Added to the sum of the weights. Default: 1e-6.
        loss_weight (float): Multiplier of the total. Default: 1.0.
    """

    def __init__(self,
                 cls_weight: float = 1.0,
                 bbox_weight: float = 1.0,
                 centerness_weight: float = 1.0,
                 bg_weight: float = 0.1,
                 eps: float = 1e-6,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.cls_weight = cls_weight
        self.bbox_weight = bbox_weight
        self.centerness_weight = centerness_weight
        self.bg_weight = bg_weight
        self.eps = eps
        self.loss_weight = loss_weight

    def forward(self, preds_S: Sequence[List[torch.Tensor]], preds_T: Sequence[List[torch.Tensor]]) -> torch.Tensor:
        """Compute the loss.

        Args:
            preds_S (tuple[list[Tensor]]): Student ``(cls_scores, bbox_preds[,
                centernesses])``; per level (N, A*K, H, W), (N, A*4, H, W),
                (N, A, H, W) raw outputs (logits, regression).
            preds_T (tuple[list[Tensor]]): Teacher outputs, same structure and
                shapes.

        Returns:
            Tensor: Scalar loss, multiplied by ``loss_weight``.
        """
        _check_shapes(preds_S, preds_T)
        cls_S, cls_T = preds_S[0], preds_T[0]
        weights = [torch.sigmoid(c.detach()).amax(dim=1, keepdim=True) for c in cls_T]
        weight_sum = sum(w.sum() for w in weights) + self.eps

        cls_dist = [_binary_kl(s, t) for s, t in zip(cls_S, cls_T)]
        loss_cls = _weighted_mean(cls_dist, weights, weight_sum)
        loss_cls = loss_cls + self.bg_weight * sum(d.sum() for d in cls_dist) / sum(d.numel() for d in cls_dist)
        bbox_dist = [(s - t).abs() for s, t in zip(preds_S[1], preds_T[1])]
        loss = self.cls_weight * loss_cls + self.bbox_weight * _weighted_mean(bbox_dist, weights, weight_sum)
        if len(preds_S) > 2:
            ctr_dist = [_binary_kl(s, t) for s, t in zip(preds_S[2], preds_T[2])]
            loss = loss + self.centerness_weight * _weighted_mean(ctr_dist, weights, weight_sum)
        return self.loss_weight * loss


def _binary_kl(logits_S: torch.Tensor, logits_T: torch.Tensor) -> torch.Tensor:
    """Element-wise KL(Bernoulli(sigmoid(T)) || Bernoulli(sigmoid(S)))."""
    target = torch.sigmoid(logits_T)
    return (F.binary_cross_entropy_with_logits(logits_S, target, reduction='none') -
            F.binary_cross_entropy_with_logits(logits_T, target, reduction='none'))


def _weighted_mean(dists: List[torch.Tensor], weights: List[torch.Tensor], weight_sum: torch.Tensor) -> torch.Tensor:
    """``sum_l sum(w_l * mean_c d_l) / weight_sum`` over levels ``l``."""
    return sum((w * d.mean(dim=1, keepdim=True)).sum() for d, w in zip(dists, weights)) / weight_sum


def _check_shapes(preds_S: Sequence[List[torch.Tensor]], preds_T: Sequence[List[torch.Tensor]]) -> None:
    """Raise a ValueError that says what differs between the two heads."""
    if not 2 <= len(preds_T) <= 3 or len(preds_S) != len(preds_T):
        raise ValueError(
            f'DenseHeadKDLoss expects (cls_scores, bbox_preds[, centernesses]) from bbox_head.forward(feats); got '
            f'{len(preds_S)} student and {len(preds_T)} teacher outputs. Both heads must be of a kind that '
            'returns the same outputs (e.g. FCOS/ATSS with centerness, RetinaNet without).')
    num_levels_S, num_levels_T = len(preds_S[0]), len(preds_T[0])
    if num_levels_S != num_levels_T:
        raise ValueError(f'DenseHeadKDLoss: teacher head has {num_levels_T} FPN levels, student head has '
                         f'{num_levels_S}: use the same strides (neck num_outs and the head\'s strides / '
                         'anchor_generator.strides) in both configs.')
    num_cls_S, num_cls_T = preds_S[0][0].shape[1], preds_T[0][0].shape[1]
    if num_cls_S != num_cls_T:
        raise ValueError(f'DenseHeadKDLoss: teacher head has {num_cls_T} classes, student head has {num_cls_S} '
                         '(class channels: anchors per location x num_classes): DenseHeadKDLoss needs the same '
                         'num_classes (and anchor_generator) in both bbox_head configs.')
    for field, outs_S, outs_T in zip(_FIELDS, preds_S, preds_T):
        if len(outs_S) != num_levels_S or len(outs_T) != num_levels_T:
            raise ValueError(f'DenseHeadKDLoss: {field} has {len(outs_S)} student / {len(outs_T)} teacher levels '
                             f'while cls_scores has {num_levels_S}.')
        for level, (out_S, out_T) in enumerate(zip(outs_S, outs_T)):
            if out_S.shape != out_T.shape:
                raise ValueError(
                    f'DenseHeadKDLoss: {field} level {level} is {tuple(out_S.shape)} in the student and '
                    f'{tuple(out_T.shape)} in the teacher. Channels must match (same num_classes and anchors per '
                    'location: same anchor_generator scales/ratios), and H x W must match: both models need the '
                    'same input size and the same strides per level.')
