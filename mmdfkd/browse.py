"""Look at what a data-free run synthesises, through its teacher's eyes.

:func:`browse_synthetic` rebuilds a :class:`~mmdfkd.models.DataFreeDistiller`
from its config (the teacher from the teacher checkpoint the config names),
loads a ``tools/train.py`` checkpoint into it (generator, student,
connectors), draws images from the generator -- with layouts from the
distiller's own layout sampler where it has one -- and writes one PNG per
image with what the teacher sees in it: its detections (box, class, score)
over a score threshold, or its top-k classes (on the image and in the file
name). ``index.json`` lists the same per image.

A pixel-bank generator (model inversion) has no way to draw new images: its
parameters are the last batch it optimised, and that batch is what is written.
"""
import json
import math
import os
import os.path as osp
import re
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import Tensor, nn

from .export import _classes_of, load_distiller_checkpoint, load_distiller_config, load_weights

LAYOUT_COLOUR = (255, 64, 64)      # RGB: the box the generator was asked to fill
DETECTION_COLOUR = (0, 255, 0)     # RGB: what the teacher detects
TEXT_COLOUR = (255, 255, 0)


def load_distiller(config: str, checkpoint: str, cfg_options: Optional[dict] = None,
                   device: str = 'cpu') -> Tuple[nn.Module, Config, Optional[tuple]]:
    """Build the distiller of ``config`` and load ``checkpoint`` into it.

    Returns:
        tuple: the distiller (eval mode), its config and the class names (or None).

    Raises:
        RuntimeError: the checkpoint's weights do not fit the config's distiller.
    """
    from mmdfkd.registry import MODELS
    cfg = load_distiller_config(config, cfg_options)
    state, meta = load_distiller_checkpoint(checkpoint)
    init_default_scope(cfg.get('default_scope', 'mmdfkd'))
    model = MODELS.build(cfg.model)  # the teacher loads from its own checkpoint here
    load_weights(model, state, f'{checkpoint!r} and the distiller of {config!r}',
                 'Was it trained with this config (and the same MMDFKD_GENERATOR / --cfg-options)?')
    return model.to(device).eval(), cfg, _classes_of(cfg, meta)


@torch.no_grad()
def synthesise(model: nn.Module, num: int, batch_size: int = 16) -> Tuple[Tensor, Optional[List[dict]], str]:
    """Draw ``num`` images from the distiller's generator.

    Layouts come from ``model._sample_layout`` (``None`` without a layout
    sampler). A pixel bank returns the batch it holds, at most its size.

    Returns:
        tuple: pixels (n, 3, H, W) in [0, 255], their layouts (list of dicts
        with 'bboxes' (k, 4) and 'labels' (k,)) or None, and a note for the user.
    """
    generator = model.generator
    device = next(generator.parameters()).device
    if generator.reinit_per_batch:
        held = generator.batch_size
        pixels = generator(held)[:num]
        note = (f'{type(generator).__name__} cannot draw new images: it holds only the last batch it optimised '
                f'({held} images, from the checkpoint), so {len(pixels)} of them are written'
                f'{" (not the " + str(num) + " asked for)" if num > held else ""}. Their layouts are not saved.')
        return pixels.nan_to_num().clamp(0, 255), None, note
    chunks, layouts = [], []
    for start in range(0, num, batch_size):
        size = min(batch_size, num - start)
        layout = model._sample_layout(size, device)
        chunks.append(generator(size, layout))
        if layout is not None:
            layouts.extend(layout)
    pixels = torch.cat(chunks).nan_to_num().clamp(0, 255)
    sampler = 'the layout sampler\'s layouts' if layouts else 'no layouts'
    return pixels, layouts or None, f'{num} new images from {type(generator).__name__} ({sampler}).'


@torch.no_grad()
def teacher_view(model: nn.Module, pixels: Tensor, score_thr: float = 0.3, topk: int = 3) -> List[dict]:
    """What the distiller's teacher predicts on each synthetic image.

    Args:
        model (nn.Module): the distiller.
        pixels (Tensor): (N, 3, H, W) in [0, 255].
        score_thr (float): detection: keep boxes scoring above this.
        topk (int): classification: classes kept per image.

    Returns:
        list[dict]: detection: 'bboxes' (k, 4) xyxy, 'labels', 'scores' as
        lists; classification: 'labels' and 'scores' of the top-k classes.
    """
    out = model._run(model.teacher, model.teacher_recorder, pixels)
    views = []
    if model.task.name == 'cls':
        scores, labels = out['logits'].softmax(-1).topk(min(topk, out['logits'].shape[-1]), dim=-1)
        return [dict(labels=lab.tolist(), scores=sc.tolist()) for lab, sc in zip(labels, scores)]
    inputs = out['_inputs']
    results = model.teacher.predict(inputs, model.task.data_samples(inputs), rescale=False)
    for res in results:
        inst = res.pred_instances[res.pred_instances.scores > score_thr]
        views.append(dict(bboxes=inst.bboxes.tolist(), labels=inst.labels.tolist(), scores=inst.scores.tolist()))
    return views


def _name(label: int, classes: Optional[Sequence[str]]) -> str:
    return str(classes[label]) if classes and 0 <= label < len(classes) else str(label)


def draw(pixels: Tensor, view: dict, classes: Optional[Sequence[str]] = None, layout: Optional[dict] = None,
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
            text(f'[{_name(label, classes)}]', x1 + 2, max(y2 - 3, 10), LAYOUT_COLOUR)
    if 'bboxes' in view:
        for box, label, score in zip(view['bboxes'], view['labels'], view['scores']):
            x1, y1, x2, y2 = (int(round(v * scale)) for v in box)
            cv2.rectangle(img, (x1, y1), (x2, y2), DETECTION_COLOUR, 1)
            text(f'{_name(label, classes)} {score:.2f}', x1, max(y1 - 3, 10), DETECTION_COLOUR)
    else:
        for row, (label, score) in enumerate(zip(view['labels'], view['scores'])):
            text(f'{_name(label, classes)} {score:.2f}', 2, 12 + row * int(30 * font + 4), TEXT_COLOUR)
    return img


def _file_name(index: int, view: dict, classes: Optional[Sequence[str]]) -> str:
    if 'bboxes' in view:
        return f'{index:04d}.png'
    parts = [f'{_name(label, classes)}-{score:.2f}' for label, score in zip(view['labels'], view['scores'])]
    return re.sub(r'[^\w.-]+', '_', f'{index:04d}_' + '_'.join(parts)) + '.png'


def browse_synthetic(config: str, checkpoint: str, out_dir: str, num: int = 16, score_thr: float = 0.3,
                     topk: int = 3, batch_size: int = 16, seed: int = 0, scale: Optional[int] = None,
                     cfg_options: Optional[dict] = None, device: str = 'cpu') -> dict:
    """Synthesise ``num`` images from a checkpoint and write them annotated as PNGs.

    Args:
        config (str): the data-free distillation config.
        checkpoint (str): its ``tools/train.py`` checkpoint.
        out_dir (str): created if missing; gets ``<index>[_<top-k>].png``
            files and ``index.json``.
        num (int): images to synthesise.
        score_thr (float): detection score threshold of the drawn boxes.
        topk (int): classification: classes written per image.
        batch_size (int): images per generator call.
        seed (int): torch seed (latents, layouts, backgrounds).
        scale (int, optional): upscaling of the written images; by default
            the smallest factor that makes the longer side >= 256 pixels.
        cfg_options (dict, optional): overrides of ``config``, e.g.
            ``{'model.teacher.checkpoint': PATH}``.
        device (str): 'cpu' or 'cuda'.

    Returns:
        dict: ``files`` (paths written), ``note`` (what was synthesised) and
        ``task``.
    """
    if num < 1:
        raise ValueError(f'num must be >= 1, got {num}')
    model, _, classes = load_distiller(config, checkpoint, cfg_options, device)
    torch.manual_seed(seed)
    pixels, layouts, note = synthesise(model, num, batch_size)
    views = []
    for start in range(0, len(pixels), batch_size):
        views.extend(teacher_view(model, pixels[start:start + batch_size], score_thr, topk))
    if scale is None:
        scale = max(1, math.ceil(256 / max(pixels.shape[-2:])))
    os.makedirs(out_dir, exist_ok=True)
    files, index = [], []
    for i, (image, view) in enumerate(zip(pixels, views)):
        layout = layouts[i] if layouts else None
        path = osp.join(out_dir, _file_name(i, view, classes))
        cv2.imwrite(path, draw(image, view, classes, layout, scale)[..., ::-1])
        files.append(path)
        entry = dict(file=osp.basename(path), teacher=view)
        if layout is not None:
            entry['layout'] = {k: v.tolist() for k, v in layout.items()}
        index.append(entry)
    with open(osp.join(out_dir, 'index.json'), 'w') as f:
        json.dump(dict(config=config, checkpoint=checkpoint, task=model.task.name, note=note, classes=classes,
                       score_thr=score_thr if model.task.name == 'det' else None, scale=scale, images=index),
                  f, indent=1)
    return dict(files=files, note=note, task=model.task.name)
