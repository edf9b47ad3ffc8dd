"""How well the sprites alone can be made visible to the teacher: a generator-only probe.

Runs only the distiller's generator step (the warm-up phase of a sprite recipe) for a number of
steps and reads the layout sampler's re-detection rates, which it updates from the teacher's own
detections on every batch. A recipe whose priors the teacher cannot see objects under shows here
in minutes, before a whole distillation run.
"""
from typing import Dict, List

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import init_default_scope

from mmdfkd.engine.optim import DataFreeOptimWrapperConstructor
from mmdfkd.registry import MODELS


def probe_redetection(cfg: Config, steps: int, every: int = 20, seed: int = 0) -> List[Dict[str, object]]:
    """Train only the generator of a distillation config and record what the teacher re-detects.

    Args:
        cfg (Config): a data-free detection config whose layout sampler
            ``observe``s (``TeacherLayoutSampler``).
        steps (int): generator steps.
        every (int): record every ``every`` steps.
        seed (int): torch seed.

    Returns:
        list[dict]: per record ``step``, ``loss_task`` (the generator's last
        task loss), ``size_rates`` and ``style_rates`` (the sampler's moving
        re-detection rates per size bin / appearance style) and ``mean_rate``
        (their mean over size bins).
    """
    init_default_scope(cfg.get('default_scope', 'mmdfkd'))
    torch.manual_seed(seed)
    model_cfg = cfg.model.to_dict()
    model = MODELS.build(model_cfg)
    if not hasattr(model.layout_sampler, 'observe'):
        raise ValueError('probe_redetection reads the layout sampler\'s re-detection rates: the config needs '
                         "layout_sampler=dict(type='TeacherLayoutSampler', ...).")
    optim = DataFreeOptimWrapperConstructor(cfg.optim_wrapper.to_dict())(model)
    batch_size = cfg.train_dataloader.batch_size
    records = []
    for step in range(1, steps + 1):
        layout = model.start_batch(batch_size, optim['generator'])
        log = model.generator_step(batch_size, optim['generator'], layout)
        if step % every == 0 or step == steps:
            sampler = model.layout_sampler
            records.append(dict(step=step, loss_task=round(float(log.get('G.loss_task', float('nan'))), 4),
                                size_rates=[round(float(r), 3) for r in sampler.rates],
                                style_rates=[round(float(r), 3) for r in sampler.style_rates],
                                mean_rate=round(float(sampler.rates.mean()), 3)))
            print_log(f'probe step {step}: {records[-1]}', logger='current')
    return records
