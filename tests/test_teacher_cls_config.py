"""The Digits-Cls teacher config trains and evaluates end to end (tiny model, tiny fixture)."""
import os.path as osp

from mmengine.config import Config
from mmengine.runner import Runner

from mmdfkd.registry import MODELS
from mmdfkd.testing import write_digits_cls_fixture

CONFIG = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs', 'teachers', 'deit_digits-cls.py')


def test_teacher_config_trains_two_iters_and_reports_top1(tmp_path):
    root = write_digits_cls_fixture(str(tmp_path / 'digits-cls'), num_train=8, num_val=4)
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict({
        'work_dir': str(tmp_path / 'work_dir'),
        'model.model_kwargs': dict(embed_dim=16, depth=1, num_heads=2),
        'train_cfg.max_iters': 2,
        'train_cfg.val_interval': 2,
        'default_hooks.checkpoint.interval': 2,
        'default_hooks.logger.interval': 1,
    })
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.update(batch_size=4, num_workers=0, persistent_workers=False)
        loader.dataset.data_root = root
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_2.pth'))
    metrics = runner.test()
    assert 0.0 <= metrics['accuracy/top1'] <= 1.0


def test_student_has_at_most_a_quarter_of_teacher_params():
    configs = osp.join(osp.dirname(CONFIG), '..', '_base_', 'models')
    teacher = MODELS.build(Config.fromfile(CONFIG).model)
    student = MODELS.build(Config.fromfile(osp.join(configs, 'deit-pico_cls.py')).model)
    num_t, num_s = (sum(p.numel() for p in m.parameters()) for m in (teacher, student))
    assert num_s * 4 <= num_t
    assert student.model.patch_embed.patch_size == teacher.model.patch_embed.patch_size
