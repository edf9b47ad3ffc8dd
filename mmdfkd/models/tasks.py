"""What differs between detection and classification inside the distiller.

A task knows how to run a model on a synthetic batch and which built-in taps
that produces, how to wrap a sampled layout into data samples, and how to turn
teacher predictions into pseudo ground truth. Everything else in
:class:`~mmdfkd.models.distiller.DataFreeDistiller` is shared.

Built-in taps:

* detection: ``'feats'`` (tuple of neck maps, each (N, C, H_l, W_l)) and, for
  one-stage detectors, ``'head'`` (the raw ``bbox_head.forward`` tuple:
  ``(cls_scores, bbox_preds[, centernesses])``, lists over levels);
* classification: ``'logits'`` (N, K).
"""
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor, nn


@contextmanager
def features_given(model: nn.Module, feats: tuple) -> Iterator[None]:
    """Make ``model.extract_feat`` return ``feats`` (already computed) for the duration.

    MMDetection's ``loss`` / ``predict`` start with ``self.extract_feat(inputs)``;
    with this, a two-stage (or any) detector's own ``loss`` / ``predict`` run
    their heads on the features a step already has, instead of running the
    backbone and neck a second time. The instance attribute shadows the
    method and is removed on exit. ``feats=None`` changes nothing.
    """
    if feats is None:
        yield
        return
    model.extract_feat = lambda inputs: feats
    try:
        yield
    finally:
        del model.extract_feat


def add_box_masks(model: nn.Module, data_samples: list) -> list:
    """Give ``gt_instances`` box-filled masks when ``model`` has a mask head and they have none.

    A sampled layout has boxes only; a Mask R-CNN teacher's ``loss`` needs
    instance masks. Each box's mask is the box itself (``BitmapMasks``, H x W
    of the image): the least the layout says about an object's extent. Samples
    are changed in place and returned.
    """
    if not getattr(getattr(model, 'roi_head', None), 'with_mask', False):
        return data_samples
    from mmdet.structures.mask import BitmapMasks
    for sample in data_samples:
        gt = sample.gt_instances
        if 'masks' in gt:
            continue
        h, w = sample.metainfo['img_shape']
        boxes = gt.bboxes.detach().cpu().numpy()
        masks = np.zeros((len(boxes), h, w), dtype=np.uint8)
        for mask, (x1, y1, x2, y2) in zip(masks, boxes):
            mask[max(int(y1), 0):int(np.ceil(y2)), max(int(x1), 0):int(np.ceil(x2))] = 1
        gt.masks = BitmapMasks(masks, h, w)
    return data_samples


class DetectionTask:
    """Detection models from mmdet (``extract_feat`` / ``bbox_head`` / ``loss`` / ``predict``)."""

    name = 'det'
    #: taps :meth:`forward` returns; the last one is a distillation loss's default.
    builtin_taps = ('feats', 'head')

    def forward(self, model: nn.Module, inputs: Tensor) -> Dict[str, object]:
        """Neck features and, for one-stage detectors, raw dense-head outputs.

        Args:
            model (nn.Module): An mmdet detector.
            inputs (Tensor): (N, 3, H, W) normalised images.
        """
        feats = model.extract_feat(inputs)
        out: Dict[str, object] = {'feats': feats}
        if hasattr(model, 'bbox_head'):
            raw = model.bbox_head(feats)
            out['_head_raw'] = raw  # for predict(): decoding needs the head's own units
            out['head'] = self._train_mode_units(model.bbox_head, raw)
        return out

    def predict(self, model: nn.Module, out: Dict[str, object], inputs: Tensor) -> list:
        """Post-processed detections, decoded from ``forward``'s outputs when possible.

        A one-stage detector's raw head outputs are decoded directly; other
        detectors run ``model.predict`` on ``out['feats']``. Neither runs the
        backbone a second time.

        Args:
            model (nn.Module): The detector ``out`` came from.
            out (dict): :meth:`forward`'s output for ``inputs``.
            inputs (Tensor): (N, 3, H, W) normalised images.

        Returns:
            list[DetDataSample]: ``pred_instances`` in ``inputs``' coordinates.
        """
        samples = self.data_samples(inputs)
        if '_head_raw' not in out or not hasattr(model.bbox_head, 'predict_by_feat'):
            with features_given(model, out.get('feats')):
                return model.predict(inputs, samples, rescale=False)
        results = model.bbox_head.predict_by_feat(
            *out['_head_raw'], batch_img_metas=[s.metainfo for s in samples], rescale=False)
        return model.add_pred_to_datasample(samples, results)

    def loss(self, model: nn.Module, out: Dict[str, object], data_samples: list) -> dict:
        """``model.loss(inputs, data_samples)``, from ``forward``'s outputs when possible.

        A one-stage detector's loss is computed from the raw head outputs
        ``forward`` already has (``bbox_head.loss_by_feat``, exactly what
        ``bbox_head.loss`` does after its own forward), so the network does not
        run a second time; other detectors (two-stage) run ``model.loss`` on
        ``out['feats']`` (:func:`features_given`), with box-filled masks for a
        mask head (:func:`add_box_masks`).

        Args:
            model (nn.Module): The detector ``out`` came from.
            out (dict): :meth:`forward`'s output, with ``'_inputs'`` (N, 3, H, W).
            data_samples (list[DetDataSample]): the targets as ``gt_instances``.

        Returns:
            dict: the detector's loss dict.
        """
        if '_head_raw' not in out or not hasattr(model.bbox_head, 'loss_by_feat'):
            with features_given(model, out.get('feats')):
                return model.loss(out['_inputs'], add_box_masks(model, data_samples))
        from mmdet.models.utils import unpack_gt_instances
        gt_instances, gt_instances_ignore, img_metas = unpack_gt_instances(data_samples)
        return model.bbox_head.loss_by_feat(*out['_head_raw'], gt_instances, img_metas, gt_instances_ignore)

    @staticmethod
    def _train_mode_units(head: nn.Module, outputs: tuple) -> tuple:
        """Give box predictions the same units in eval mode as in train mode.

        ``FCOSHead`` with ``norm_on_bbox=True`` multiplies box distances by
        the stride only in eval mode; the teacher is always in eval, the
        student trains, so the teacher's boxes are divided back here.
        """
        if head.training or not getattr(head, 'norm_on_bbox', False):
            return outputs
        cls_scores, bbox_preds, *rest = outputs
        bbox_preds = [pred / stride for pred, stride in zip(bbox_preds, head.strides)]
        return (cls_scores, bbox_preds, *rest)

    @staticmethod
    def data_samples(inputs: Tensor, layout: Optional[List[dict]] = None) -> list:
        """DetDataSamples for a synthetic batch, with the layout as ``gt_instances``.

        Args:
            inputs (Tensor): (N, 3, H, W) batch, for its shape.
            layout (list[dict], optional): N dicts with 'bboxes' (k, 4) xyxy and 'labels' (k,).
        """
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData
        n, _, h, w = inputs.shape
        samples = []
        for i in range(n):
            sample = DetDataSample(metainfo=dict(
                img_id=i, img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), batch_input_shape=(h, w),
                scale_factor=(1.0, 1.0)))
            gt = InstanceData()
            if layout is not None:
                gt.bboxes = layout[i]['bboxes'].to(inputs.device, torch.float32)
                gt.labels = layout[i]['labels'].to(inputs.device, torch.long)
            else:
                gt.bboxes = inputs.new_zeros((0, 4))
                gt.labels = torch.zeros((0, ), dtype=torch.long, device=inputs.device)
            sample.gt_instances = gt
            samples.append(sample)
        return samples

    @staticmethod
    def num_classes(model: nn.Module) -> Optional[int]:
        head = getattr(model, 'bbox_head', None) or getattr(getattr(model, 'roi_head', None), 'bbox_head', None)
        return getattr(head, 'num_classes', None)


class ClassificationTask:
    """Classifiers whose ``forward(inputs, mode='tensor')`` returns logits (N, K)."""

    name = 'cls'
    builtin_taps = ('logits', )

    def forward(self, model: nn.Module, inputs: Tensor) -> Dict[str, object]:
        return {'logits': model(inputs, mode='tensor')}

    @staticmethod
    def data_samples(inputs: Tensor, layout: Optional[List[dict]] = None) -> None:
        return None

    @staticmethod
    def num_classes(model: nn.Module) -> Optional[int]:
        return getattr(model, 'num_classes', None)


TASKS = {'det': DetectionTask, 'cls': ClassificationTask}


def build_task(name: str):
    """``'det'`` or ``'cls'``."""
    if name not in TASKS:
        raise ValueError(f'Unknown task {name!r}; choose one of {sorted(TASKS)}.')
    return TASKS[name]()


def normalizer_of(model: nn.Module) -> Tuple[Tensor, Tensor]:
    """The (mean, std) a model's data preprocessor applies, each (1, 3, 1, 1).

    Synthetic images are made in pixel range [0, 255]; each model sees them
    normalised its own way.
    """
    pre = getattr(model, 'data_preprocessor', None)
    if pre is not None and getattr(pre, '_enable_normalize', False):
        return pre.mean.view(1, -1, 1, 1), pre.std.view(1, -1, 1, 1)
    return torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1)


def normalise_for(model: nn.Module, pixels: Tensor) -> Tensor:
    """Synthetic ``pixels`` (N, 3, H, W) in [0, 255] normalised as ``model``'s data preprocessor would."""
    mean, std = normalizer_of(model)
    return (pixels - mean.to(pixels)) / std.to(pixels)
