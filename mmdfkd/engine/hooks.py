"""Hooks for data-free training."""
import os
import os.path as osp
import time
from typing import Optional

import cv2
import torch
from mmengine.hooks import Hook
from mmengine.runner import BaseLoop

from mmdfkd.registry import HOOKS
from mmdfkd.visualization import draw_synthetic_grid

from .ddp import unwrap_model


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
        model = unwrap_model(runner.model)
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
        model = unwrap_model(runner.model)
        if hasattr(model, 'num_synthetic_images'):
            hub.update_scalar('val/synthetic_images', model.num_synthetic_images)
        if self.budget_s is not None and train_s >= self.budget_s:
            runner.logger.info(f'TrainTimeHook: {train_s:.0f} s of training >= budget {self.budget_s:.0f} s; '
                               f'stopping after iteration {runner.iter}.')
            runner.train_loop.stop_training = True


@HOOKS.register_module()
class DiversityHook(Hook):
    """Every ``interval`` iterations, log how varied the synthetic images are and what drives the generator.

    Scalars (``diversity/...``, in the log and every visualizer backend):
    ``pairwise_dist``, ``classes``, ``top_class_share`` and ``confidence`` of
    the latest batch (:func:`mmdfkd.analysis.diversity.batch_diversity`, from
    the teacher's logits; classification), and ``grad_<prior>``: each active
    prior's gradient norm with respect to a fresh batch's pixels
    (:func:`~mmdfkd.analysis.diversity.prior_grad_norms`). Costs one extra
    generator and teacher forward and one backward per prior, every
    ``interval`` iterations.

    Args:
        interval (int): iterations between measurements.
        grad_norms (bool): also measure the priors' gradient norms.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 50, grad_norms: bool = True) -> None:
        self.interval = interval
        self.grad_norms = grad_norms

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.every_n_train_iters(runner, self.interval):
            return
        from mmdfkd.analysis.diversity import batch_diversity, prior_grad_norms
        model = unwrap_model(runner.model)
        pixels = getattr(model, 'last_synthetic', None)
        if pixels is None or pixels.shape[0] < 2:
            return
        logits = None
        if model.task.name == 'cls':
            with torch.no_grad():
                logits = model.run_model(model.teacher, model.teacher_recorder, pixels)['logits']
        scalars = {f'diversity/{k}': v for k, v in batch_diversity(pixels, logits).items()}
        if self.grad_norms and not model.generator.holds_batch:
            scalars.update({f'diversity/grad_{k}': v for k, v in prior_grad_norms(model, pixels.shape[0]).items()})
        for key, value in scalars.items():
            runner.message_hub.update_scalar(f'train/{key}', value)
        runner.logger.info('DiversityHook: ' + ', '.join(f'{k.split("/", 1)[1]}={v:.4g}' for k, v in scalars.items()))


def rss_mb() -> float:
    """This process's resident memory now, in MiB (``VmRSS`` of ``/proc/self/status``; 0 where unavailable)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@HOOKS.register_module()
class MemoryUsageHook(Hook):
    """Every ``interval`` iterations, log the process's resident memory and the replay memory's fill.

    Logs ``rss_mb`` (now), ``peak_rss_mb`` (``ru_maxrss``) and, for a
    distiller, ``replay_images`` (images held by its replay memory), so a
    long run shows whether its memory stays flat once the replay memory is
    full.

    Args:
        interval (int): iterations between measurements.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 50) -> None:
        self.interval = interval

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.every_n_train_iters(runner, self.interval):
            return
        import resource
        model = unwrap_model(runner.model)
        scalars = dict(rss_mb=rss_mb(), peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        if hasattr(model, 'memory'):
            scalars['replay_images'] = len(model.memory)
        for key, value in scalars.items():
            runner.message_hub.update_scalar(f'train/memory/{key}', value)
        runner.logger.info(f'MemoryUsageHook: iteration {runner.iter + 1}: '
                           + ', '.join(f'{k}={v:.1f}' for k, v in scalars.items()))
