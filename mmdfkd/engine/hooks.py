"""Hooks for data-free training."""
import math
import os
import os.path as osp
import time
from typing import Optional

import cv2
import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop

from mmdfkd.models.tasks import normalizer_of
from mmdfkd.registry import HOOKS


def draw_synthetic_grid(pixels: torch.Tensor, teacher: torch.nn.Module, task: str, score_thr: float = 0.3,
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
    pixels = pixels[:max_images].detach().float()
    mean, std = normalizer_of(teacher)
    inputs = (pixels - mean.to(pixels)) / std.to(pixels)
    images = [img.permute(1, 2, 0).clamp(0, 255).byte().cpu().numpy().copy() for img in pixels]
    with torch.no_grad():
        if task == 'det':
            from mmdfkd.models.tasks import DetectionTask
            results = teacher.predict(inputs, DetectionTask.data_samples(inputs), rescale=False)
            for img, res in zip(images, results):
                inst = res.pred_instances[res.pred_instances.scores > score_thr]
                for box, label, score in zip(inst.bboxes.tolist(), inst.labels.tolist(), inst.scores.tolist()):
                    x1, y1, x2, y2 = (int(round(v)) for v in box)
                    cv2.rectangle(img, (x1, y1), (x2, y2), (0, 255, 0), 1)
                    name = classes[label] if classes else str(label)
                    cv2.putText(img, f'{name}:{score:.2f}', (x1, max(y1 - 2, 8)), cv2.FONT_HERSHEY_SIMPLEX,
                                0.3, (255, 255, 0), 1)
        else:
            probs = teacher(inputs, mode='tensor').softmax(-1)
            scores, labels = probs.max(-1)
            for img, label, score in zip(images, labels.tolist(), scores.tolist()):
                name = classes[label] if classes else str(label)
                cv2.putText(img, f'{name}:{score:.2f}', (1, 8), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (255, 255, 0), 1)
    cols = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / cols)
    h, w, _ = images[0].shape
    grid = np.zeros((rows * h, cols * w, 3), dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    return grid


@HOOKS.register_module()
class SyntheticImageHook(Hook):
    """Every ``interval`` iterations, save a grid of the latest synthetic batch.

    The grid goes through the runner's visualizer (``add_image``), so every
    configured backend (local files, TensorBoard, ...) receives it; with the
    local backend it lands in ``<work_dir>/<timestamp>/vis_data/vis_image/``.
    It also writes ``<work_dir>/synthetic/iter_<n>.png`` for quick browsing.

    Args:
        interval (int): iterations between grids.
        score_thr (float): detection score threshold for drawn boxes.
        max_images (int): images per grid.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 50, score_thr: float = 0.3, max_images: int = 16) -> None:
        self.interval = interval
        self.score_thr = score_thr
        self.max_images = max_images

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.every_n_train_iters(runner, self.interval) and not self.is_last_train_iter(runner):
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        pixels = getattr(model, 'last_synthetic', None)
        if pixels is None:
            return
        classes = (runner.train_dataloader.dataset.metainfo or {}).get('classes')
        grid = draw_synthetic_grid(pixels, model.teacher, model.task.name, self.score_thr, self.max_images,
                                   classes)
        runner.visualizer.add_image('synthetic', grid, step=runner.iter + 1)
        out_dir = osp.join(runner.work_dir, 'synthetic')
        os.makedirs(out_dir, exist_ok=True)
        cv2.imwrite(osp.join(out_dir, f'iter_{runner.iter + 1}.png'), grid[..., ::-1])


@HOOKS.register_module()
class TrainTimeHook(Hook):
    """Log, with every validation, how long training has taken so far; optionally stop on a time budget.

    Each validation during ``runner.train()`` gains these metrics (console and
    ``scalars.json``), so "time to reach a given mAP" can be read from a run:

    - ``iter``: training iterations done;
    - ``train_s``: seconds since the run started, minus the time spent in
      validation (checkpointing and logging are included);
    - ``synthetic_images``: images the distiller has drawn from its generator
      (its ``num_synthetic_images``), when the model keeps that count.

    Args:
        budget_s (float, optional): stop training at the first validation
            where ``train_s >= budget_s`` (the run ends with a validation).
    """

    priority = 'NORMAL'  # after RuntimeInfoHook has put the metrics in the message hub, before LoggerHook

    def __init__(self, budget_s: Optional[float] = None) -> None:
        if budget_s is not None and budget_s <= 0:
            raise ValueError(f'TrainTimeHook: budget_s must be positive seconds, got {budget_s}.')
        self.budget_s = budget_s
        self._start: Optional[float] = None
        self._val_s = 0.0
        self._val_start = 0.0

    def before_train(self, runner) -> None:
        self._start = time.perf_counter()
        self._val_s = 0.0

    def before_val_epoch(self, runner) -> None:
        self._val_start = time.perf_counter()

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._start is None or not isinstance(runner._train_loop, BaseLoop):
            return  # a stand-alone runner.val(): no training to time
        train_s = self._val_start - self._start - self._val_s
        self._val_s += time.perf_counter() - self._val_start
        hub = runner.message_hub
        hub.update_scalar('val/iter', runner.iter)
        hub.update_scalar('val/train_s', train_s)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if hasattr(model, 'num_synthetic_images'):
            hub.update_scalar('val/synthetic_images', model.num_synthetic_images)
        if self.budget_s is not None and train_s >= self.budget_s:
            runner.logger.info(f'TrainTimeHook: {train_s:.0f} s of training >= budget {self.budget_s:.0f} s; '
                               f'stopping after iteration {runner.iter}.')
            runner.train_loop.stop_training = True
