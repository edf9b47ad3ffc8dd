"""Configs and scores for benchmark runs: a timed variant of a distillation config, the teacher's score."""
import copy
from typing import Optional

from mmengine.config import Config


def with_train_timer(cfg: Config, val_interval: int, budget_s: Optional[float]) -> Config:
    """A copy of a distillation config that logs training time with every validation.

    Adds a :class:`~mmdfkd.engine.TrainTimeHook` (stopping at ``budget_s``
    seconds of training, if given), validates every ``val_interval``
    iterations on the whole val split (a ``SubsetValLoop`` would score a
    subset, not comparable with the teacher's score) and logs validations by
    iteration.
    """
    if val_interval < 1:
        raise ValueError(f'val_interval must be >= 1 iteration, got {val_interval}.')
    cfg = copy.deepcopy(cfg)
    hooks = [h for h in (cfg.get('custom_hooks') or []) if h.get('type') != 'TrainTimeHook']
    cfg.custom_hooks = hooks + [dict(type='TrainTimeHook', budget_s=budget_s)]
    cfg.train_cfg.val_interval = val_interval
    cfg.val_cfg = dict(type='ValLoop')
    cfg.default_hooks.setdefault('logger', dict(type='LoggerHook'))
    cfg.default_hooks.logger.log_metric_by_epoch = False
    return cfg



def teacher_score(config: str, work_dir: str, metric: str) -> float:
    """Score a distillation config's teacher on the split its student is validated on.

    Args:
        config (str): a data-free distillation config whose ``model.teacher``
            names a ``config`` and a ``checkpoint``.
        work_dir (str): the test run's work dir.
        metric (str): the key to return, e.g. ``'coco/bbox_mAP'``.
    """
    from mmengine.runner import Runner

    import mmdfkd  # noqa: F401  (registries, checkpoint allow-list)
    cfg = Config.fromfile(config)
    teacher = cfg.model.teacher
    if 'config' not in teacher:
        raise ValueError(f'{config}: the teacher is scored from teacher.config, and this one has none.')
    teacher_cfg = Config.fromfile(teacher.config)
    teacher_cfg.load_from = teacher.checkpoint
    teacher_cfg.work_dir = work_dir
    teacher_cfg.test_dataloader = cfg.val_dataloader  # the split the student is scored on
    teacher_cfg.test_evaluator = cfg.val_evaluator
    return float(Runner.from_cfg(teacher_cfg).test()[metric])
