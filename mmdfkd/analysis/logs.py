"""Readers of a Runner's logs: the scalars it wrote and the validations ``TrainTimeHook`` timed."""
import glob
import json
import os.path as osp
from typing import List, Optional, Sequence


def read_scalars(run_dir: str) -> List[dict]:
    """The records of the newest ``vis_data/scalars.json`` under a Runner work dir."""
    files = sorted(glob.glob(osp.join(run_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        return []
    records = []
    with open(files[-1]) as f:
        for line in f:
            line = line.strip()
            if line:
                records.append(json.loads(line))
    return records


def timed_curve(records: Sequence[dict], metric: str) -> List[dict]:
    """The validations of a run logged by ``TrainTimeHook``.

    Args:
        records: the entries of a run's ``scalars.json``.
        metric: the metric key, e.g. ``'coco/bbox_mAP'``.

    Returns:
        list[dict]: ``{'iter', 'train_s', 'metric', 'synthetic_images'}`` per
        validation, in order (``synthetic_images`` is ``None`` when the model
        keeps no count).
    """
    return [dict(iter=int(r['iter']), train_s=float(r['train_s']), metric=float(r[metric]),
                 synthetic_images=r.get('synthetic_images'))
            for r in records if 'train_s' in r and metric in r]


def first_reaching(curve: Sequence[dict], target: float) -> Optional[dict]:
    """The first validation whose metric is >= ``target``; ``None`` if none is."""
    return next((point for point in curve if point['metric'] >= target), None)


def time_to_target(curve: Sequence[dict], target: float) -> Optional[float]:
    """Training seconds at the first validation whose metric is >= ``target``; ``None`` if none is."""
    point = first_reaching(curve, target)
    return None if point is None else point['train_s']


def metric_at(curve: Sequence[dict], seconds: float) -> Optional[dict]:
    """The last validation at or before ``seconds`` of training (the point, not only its metric); ``None`` if none is.

    Reading every run at the same training time compares generators at an equal budget whatever
    their schedules, including runs that trained on past it.
    """
    before = [point for point in curve if point['train_s'] <= seconds]
    return before[-1] if before else None


def images_per_second(curve: Sequence[dict]) -> Optional[float]:
    """Synthetic images drawn per second of training, over the whole run (last validation)."""
    if not curve or curve[-1]['synthetic_images'] is None or curve[-1]['train_s'] <= 0:
        return None
    return curve[-1]['synthetic_images'] / curve[-1]['train_s']

