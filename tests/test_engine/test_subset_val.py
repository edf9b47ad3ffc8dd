"""SubsetValLoop (a fixed val subset while training, the whole split after the last iteration), MemoryUsageHook."""
import pytest
from mmengine.config import Config
from mmengine.hooks import Hook

from mmdfkd.engine.launch import build_runner
from mmdfkd.testing import write_tiny_cls_benchmark


class _ValSizes(Hook):
    def __init__(self) -> None:
        self.sizes, self.indices = [], []

    def before_val_epoch(self, runner) -> None:
        dataset = runner.val_loop.dataloader.dataset
        self.sizes.append(len(dataset))
        self.indices.append(list(getattr(dataset, 'indices', range(len(dataset)))))


def _runner(tmp_path, num_samples: int, max_iters: int = 3):
    cfg = Config.fromfile(write_tiny_cls_benchmark(tmp_path, max_iters=max_iters, num_val=4)['config'])
    cfg.val_cfg = dict(type='SubsetValLoop', num_samples=num_samples)
    cfg.work_dir = str(tmp_path / 'run')
    runner = build_runner(cfg)
    sizes = _ValSizes()
    runner.register_hook(sizes)
    return runner, sizes


def test_training_validates_a_fixed_subset_then_the_whole_split(tmp_path):
    runner, seen = _runner(tmp_path, num_samples=2)
    runner.train()
    assert seen.sizes == [2, 2, 4], 'iterations 1 and 2 on the subset, the last one on all 4 images'
    assert seen.indices[0] == seen.indices[1] == [0, 2], 'the same evenly spaced images every time'
    assert runner.val_loop.dataloader.dataset is runner.val_loop.full_dataloader.dataset
    metrics = runner.val_loop.run()  # outside training: the whole split
    assert seen.sizes[-1] == 4 and 'accuracy/top1' in metrics


def test_a_subset_as_large_as_the_split_is_the_split_and_zero_is_refused(tmp_path):
    runner, seen = _runner(tmp_path, num_samples=10, max_iters=2)
    runner.train()
    assert seen.sizes == [4, 4]
    with pytest.raises(ValueError, match="num_samples must be >= 1.*type='ValLoop'"):
        _runner(tmp_path / 'zero', num_samples=0)[0].val_loop


def test_memory_usage_hook_logs_resident_memory_and_the_replay_fill(tmp_path):
    from mmdfkd.engine.hooks import MemoryUsageHook, rss_mb
    cfg = Config.fromfile(write_tiny_cls_benchmark(tmp_path, max_iters=2)['config'])
    cfg.work_dir = str(tmp_path / 'run')
    cfg.model.memory_capacity = 3
    runner = build_runner(cfg)
    runner.register_hook(MemoryUsageHook(interval=1))
    runner.train()
    hub = runner.message_hub
    assert hub.get_scalar('train/memory/rss_mb').current() > 0 and rss_mb() > 0
    # the kernel updates ru_maxrss lazily: the peak may trail the current RSS by a few pages
    rss = hub.get_scalar('train/memory/rss_mb').current()
    assert hub.get_scalar('train/memory/peak_rss_mb').current() >= 0.95 * rss
    assert hub.get_scalar('train/memory/replay_images').current() == 3, 'two batches of 2 into a memory of 3'


def test_a_coco_subset_is_scored_on_its_own_images(tmp_path):
    from mmdfkd.testing import write_tiny_benchmark
    paths = write_tiny_benchmark(tmp_path, max_iters=2)
    cfg = Config.fromfile(paths['config'])
    cfg.val_cfg = dict(type='SubsetValLoop', num_samples=1)
    cfg.train_cfg.val_interval = 1
    cfg.work_dir = str(tmp_path / 'run')
    runner = build_runner(cfg)
    loop = runner.val_loop
    coco = [m for m in loop.evaluator.metrics if hasattr(m, 'img_ids')]
    assert coco and len(loop.subset_img_ids) == 1
    seen = []
    original = coco[0].compute_metrics

    def record(results):
        seen.append(None if coco[0].img_ids is None else list(coco[0].img_ids))
        return original(results)

    coco[0].compute_metrics = record
    runner.train()
    assert seen[0] == loop.subset_img_ids, 'the subset validation scores only its image'
    assert seen[-1] is None and coco[0].img_ids is not None  # the last one: every image of the file
