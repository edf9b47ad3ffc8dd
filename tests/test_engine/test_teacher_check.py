"""TeacherCheckHook: a teacher whose outputs are not finite is refused before training starts."""
import os.path as osp
import uuid

import pytest
import torch

import mmdfkd  # noqa: F401  (registries, checkpoint loader)
from mmdfkd.engine.launch import build_runner, load_config
from mmdfkd.testing.data_free_config import write_config


def _runner(config: str, work_dir: str):
    cfg = load_config(config, work_dir=work_dir)
    cfg.experiment_name = f'{osp.basename(work_dir)}_{uuid.uuid4().hex[:8]}'
    return build_runner(cfg)


def test_teacher_with_a_nan_weight_is_refused_before_the_first_iteration(tmp_path):
    config = write_config(tmp_path, max_iters=2, interval=2)
    state = torch.load(tmp_path / 'teacher.pth')['state_dict']
    head = next(k for k in state if k.endswith('head.weight'))
    state[head][0, 0] = float('nan')
    torch.save({'state_dict': state}, tmp_path / 'teacher.pth')
    runner = _runner(config, str(tmp_path / 'work'))
    with pytest.raises(FloatingPointError, match=r"The teacher \(TimmClassifier\) outputs NaN/Inf on a probe batch "
                                                 r"of random images \(2, 3, 32, 32\): outputs\['logits'\] \(2, 10\)"
                                                 r".*model\.teacher\.checkpoint"):
        runner.train()
    assert runner.iter == 0 and not (tmp_path / 'work' / 'iter_2.pth').exists()


def test_finite_teacher_passes_and_the_probe_leaves_the_rng_alone(tmp_path):
    config = write_config(tmp_path, max_iters=1, interval=1)
    runner = _runner(config, str(tmp_path / 'work'))
    hook = next(h for h in runner.hooks if type(h).__name__ == 'TeacherCheckHook')
    torch.manual_seed(3)
    before = torch.get_rng_state()
    hook.before_train(runner)
    assert torch.equal(before, torch.get_rng_state())
    assert not runner.model.teacher.training
