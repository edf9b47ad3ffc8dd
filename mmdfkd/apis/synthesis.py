"""Look at what a data-free run synthesises, through its teacher's eyes.

:func:`browse_synthetic` rebuilds a :class:`~mmdfkd.models.DataFreeDistiller`
from its config (the teacher from the teacher checkpoint the config names),
loads a ``tools/train.py`` checkpoint into it (generator, student,
connectors), draws images from the generator -- with layouts from the
distiller's own layout sampler where it has one -- and writes one PNG per
image with what the teacher sees in it: its detections (box, class, score)
over a score threshold, or its top-k classes (on the image and in the file
name). ``index.json`` lists the same per image.

A generator that holds its batch (the pixel bank, model inversion) has no way
to draw new images: its parameters are the last batch it optimised, and that
batch is what is written.
"""
import json
import math
import os
import os.path as osp
from typing import List, Optional, Tuple

import cv2
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import Tensor, nn

from mmdfkd.utils.state_dict import load_state_dict_checked
from mmdfkd.visualization import draw_view, teacher_view, view_file_name

from .export import classes_of, load_distiller_checkpoint, load_distiller_config


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
    load_state_dict_checked(model, state, f'{checkpoint!r} and the distiller of {config!r}',
                            'Was it trained with this config (and the same --cfg-options)?')
    return model.to(device).eval(), cfg, classes_of(cfg, meta)


@torch.no_grad()
def synthesise(model: nn.Module, num: int, batch_size: int = 16) -> Tuple[Tensor, Optional[List[dict]], str]:
    """Draw ``num`` images from the distiller's generator, as training draws them.

    Layouts come from :meth:`DataFreeDistiller.sample_layout` (``None``
    without a layout sampler). A generator that holds its batch returns that
    batch, at most its size.

    Returns:
        tuple: pixels (n, 3, H, W) in [0, 255], their layouts (list of dicts
        with 'bboxes' (k, 4) and 'labels' (k,)) or None, and a note for the user.
    """
    generator = model.generator
    device = next(generator.parameters()).device
    if generator.holds_batch:
        held = generator.batch_size
        pixels = model.synthesise(held, None, remember=False)[:num]
        note = (f'{type(generator).__name__} cannot draw new images: it holds only the last batch it optimised '
                f'({held} images, from the checkpoint), so {len(pixels)} of them are written'
                f'{" (not the " + str(num) + " asked for)" if num > held else ""}. Their layouts are not saved.')
        return pixels.nan_to_num().clamp(0, 255), None, note
    chunks, layouts = [], []
    for start in range(0, num, batch_size):
        size = min(batch_size, num - start)
        layout = model.sample_layout(size, device)
        chunks.append(model.synthesise(size, layout, remember=False))
        if layout is not None:
            layouts.extend(layout)
    pixels = torch.cat(chunks).nan_to_num().clamp(0, 255)
    sampler = 'the layout sampler\'s layouts' if layouts else 'no layouts'
    return pixels, layouts or None, f'{num} new images from {type(generator).__name__} ({sampler}).'


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
    task = model.task.name
    views = []
    for start in range(0, len(pixels), batch_size):
        views.extend(teacher_view(model.teacher, task, pixels[start:start + batch_size], score_thr, topk))
    if scale is None:
        scale = max(1, math.ceil(256 / max(pixels.shape[-2:])))
    os.makedirs(out_dir, exist_ok=True)
    files, index = [], []
    for i, (image, view) in enumerate(zip(pixels, views)):
        layout = layouts[i] if layouts else None
        path = osp.join(out_dir, view_file_name(i, view, classes))
        cv2.imwrite(path, draw_view(image, view, classes, layout, scale)[..., ::-1])
        files.append(path)
        entry = dict(file=osp.basename(path), teacher=view)
        if layout is not None:
            entry['layout'] = {k: v.tolist() for k, v in layout.items()}
        index.append(entry)
    with open(osp.join(out_dir, 'index.json'), 'w') as f:
        json.dump(dict(config=config, checkpoint=checkpoint, task=task, note=note, classes=classes,
                       score_thr=score_thr if task == 'det' else None, scale=scale, images=index),
                  f, indent=1)
    return dict(files=files, note=note, task=task)
