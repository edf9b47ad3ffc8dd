"""Draw what the teacher sees in synthetic images: its detections or its top classes.

One drawing path for every place that shows synthetic images:
:class:`~mmdfkd.engine.hooks.SyntheticImageHook` (grids during training) and
:func:`~mmdfkd.apis.synthesis.browse_synthetic` (one PNG per image).
"""
import math
import re
from typing import List, Optional, Sequence

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from mmdfkd.models.tasks import build_task, normalise_for

LAYOUT_COLOUR = (255, 64, 64)      # RGB: the box the generator was asked to fill
DETECTION_COLOUR = (0, 255, 0)     # RGB: what the teacher detects
TEXT_COLOUR = (255, 255, 0)


@torch.no_grad()
def teacher_view(teacher: nn.Module, task: str, pixels: Tensor, score_thr: float = 0.3,
                 topk: int = 3) -> List[dict]:
    """What ``teacher`` predicts on each synthetic image.

    Args:
        teacher (nn.Module): an mmdet detector (``task='det'``) or a classifier
            whose ``mode='tensor'`` forward returns logits (``task='cls'``).
        task (str): ``'det'`` or ``'cls'``.
        pixels (Tensor): (N, 3, H, W) in [0, 255], RGB.
        score_thr (float): detection: keep boxes scoring above this.
        topk (int): classification: classes kept per image.

    Returns:
        list[dict]: detection: 'bboxes' (k, 4) xyxy, 'labels', 'scores' as
        lists; classification: 'labels' and 'scores' of the top-k classes.
    """
    inputs = normalise_for(teacher, pixels.detach().float())
    task_impl = build_task(task)
    if task == 'cls':
        logits = task_impl.forward(teacher, inputs)['logits']
        scores, labels = logits.softmax(-1).topk(min(topk, logits.shape[-1]), dim=-1)
        return [dict(labels=lab.tolist(), scores=sc.tolist()) for lab, sc in zip(labels, scores)]
    views = []
    for res in teacher.predict(inputs, task_impl.data_samples(inputs), rescale=False):
        inst = res.pred_instances[res.pred_instances.scores > score_thr]
        views.append(dict(bboxes=inst.bboxes.tolist(), labels=inst.labels.tolist(), scores=inst.scores.tolist()))
    return views


def class_name(label: int, classes: Optional[Sequence[str]]) -> str:
    """``classes[label]``, or the label itself when there are no (or too few) names."""
    return str(classes[label]) if classes and 0 <= label < len(classes) else str(label)


def draw_view(pixels: Tensor, view: dict, classes: Optional[Sequence[str]] = None, layout: Optional[dict] = None,
              scale: int = 1) -> np.ndarray:
    """One synthetic image with the teacher's view drawn on it.

    Args:
        pixels (Tensor): (3, H, W) in [0, 255], RGB.
        view (dict): one entry of :func:`teacher_view`.
        classes (Sequence[str], optional): class names.
        layout (dict, optional): the layout the image was made for, drawn
            in red (teacher detections in green).
        scale (int): nearest-neighbour upscaling first, so text is readable.

    Returns:
        np.ndarray: (H*scale, W*scale, 3) uint8 RGB.
    """
    img = pixels.detach().permute(1, 2, 0).clamp(0, 255).round().byte().cpu().numpy()
    if scale > 1:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    img = np.ascontiguousarray(img)
    font = 0.35 if img.shape[0] < 200 else 0.5

    def text(s: str, x: int, y: int, colour) -> None:
        cv2.putText(img, s, (x, y), cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), 2, cv2.LINE_AA)
        cv2.putText(img, s, (x, y), cv2.FONT_HERSHEY_SIMPLEX, font, colour, 1, cv2.LINE_AA)

    if layout is not None:
        for box, label in zip(layout['bboxes'].tolist(), layout['labels'].tolist()):
            x1, y1, x2, y2 = (int(round(v * scale)) for v in box)
            cv2.rectangle(img, (x1, y1), (x2, y2), LAYOUT_COLOUR, 1)
            text(f'[{class_name(label, classes)}]', x1 + 2, max(y2 - 3, 10), LAYOUT_COLOUR)
    if 'bboxes' in view:
        for box, label, score in zip(view['bboxes'], view['labels'], view['scores']):
            x1, y1, x2, y2 = (int(round(v * scale)) for v in box)
            cv2.rectangle(img, (x1, y1), (x2, y2), DETECTION_COLOUR, 1)
            text(f'{class_name(label, classes)} {score:.2f}', x1, max(y1 - 3, 10), DETECTION_COLOUR)
    else:
        for row, (label, score) in enumerate(zip(view['labels'], view['scores'])):
            text(f'{class_name(label, classes)} {score:.2f}', 2, 12 + row * int(30 * font + 4), TEXT_COLOUR)
    return img


def view_file_name(index: int, view: dict, classes: Optional[Sequence[str]]) -> str:
    """``0003.png`` for detection, ``0003_<class>-<score>_....png`` (top-k) for classification."""
    if 'bboxes' in view:
        return f'{index:04d}.png'
    parts = [f'{class_name(label, classes)}-{score:.2f}' for label, score in zip(view['labels'], view['scores'])]
    return re.sub(r'[^\w.-]+', '_', f'{index:04d}_' + '_'.join(parts)) + '.png'


def tile(images: Sequence[np.ndarray]) -> np.ndarray:
    """Images of one size (H, W, 3) in a near-square grid: (rows*H, cols*W, 3), black where empty."""
    cols = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / cols)
    h, w, _ = images[0].shape
    grid = np.zeros((rows * h, cols * w, 3), dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    return grid


def draw_synthetic_grid(pixels: Tensor, teacher: nn.Module, task: str, score_thr: float = 0.3,
                        max_images: int = 16, classes: Optional[tuple] = None) -> np.ndarray:
    """A grid of synthetic images annotated with what the teacher sees in them.

    Args:
        pixels (Tensor): (N, 3, H, W) synthetic images in [0, 255], RGB.
        teacher (nn.Module): the frozen teacher.
        task (str): 'det' draws the teacher's boxes above ``score_thr``; 'cls'
            writes its top-1 class and score.
        max_images (int): at most this many images, laid out in a square grid.
        classes (tuple, optional): class names for the labels.

    Returns:
        np.ndarray: (rows*H, cols*W, 3) uint8 RGB image.
    """
    pixels = pixels[:max_images]
    views = teacher_view(teacher, task, pixels, score_thr, topk=1)
    return tile([draw_view(img, view, classes) for img, view in zip(pixels, views)])
