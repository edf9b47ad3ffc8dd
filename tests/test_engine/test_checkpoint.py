"""Runner checkpoints load and resume under torch >= 2.6 (weights_only=True)."""
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mmdfkd  # noqa: F401  (registers the allow-list)
from mmdfkd.engine.checkpoint import _history_buffer_statistic


class _PairDataset(Dataset):
    """Eight fixed (x, y) pairs."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(i)
        return dict(inputs=torch.randn(3, generator=g), label=torch.tensor(i % 2))


class _TinyModel(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, inputs, label, mode='tensor'):
        logits = self.fc(inputs)
        if mode == 'loss':
            return dict(loss=nn.functional.cross_entropy(logits, label))
        return logits


def _runner(work_dir, max_iters, **kwargs) -> Runner:
    return Runner(
        model=_TinyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=_PairDataset(), sampler=dict(type='DefaultSampler', shuffle=True),
                              batch_size=4, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01)),
        param_scheduler=dict(type='MultiStepLR', milestones=[2], by_epoch=False),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
        default_scope='mmdfkd', randomness=dict(seed=1), **kwargs)


def test_runner_checkpoint_resumes_with_weights_only_default(tmp_path):
    _runner(tmp_path / 'a', max_iters=2).train()
    ckpt = tmp_path / 'a' / 'iter_2.pth'
    # The file really needs the allow-list: a plain process without mmdfkd refuses it.
    plain = subprocess.run([sys.executable, '-c', f'import torch; torch.load({str(ckpt)!r})'],
                           capture_output=True, text=True)
    assert plain.returncode != 0 and 'HistoryBuffer' in plain.stderr

    resumed = _runner(tmp_path / 'b', max_iters=4, resume=True, load_from=str(ckpt))
    resumed.train()
    assert resumed.iter == 4
    hub = resumed.message_hub.get_scalar('train/loss')
    assert len(hub.data[0]) == 4, 'the resumed message hub carries the 2 earlier losses'
    final = torch.load(tmp_path / 'b' / 'iter_4.pth')
    assert final['meta']['iter'] == 4 and 'optimizer' in final


def test_load_from_and_weights_only_stay_true(tmp_path):
    _runner(tmp_path / 'a', max_iters=2).train()
    trained = torch.load(tmp_path / 'a' / 'iter_2.pth', weights_only=True)['state_dict']
    runner = _runner(tmp_path / 'c', max_iters=0, load_from=str(tmp_path / 'a' / 'iter_2.pth'))
    runner.load_or_resume()
    assert torch.equal(runner.model.fc.weight, trained['fc.weight'])


def test_getattr_stand_in_only_resolves_history_buffer_statistics():
    assert _history_buffer_statistic(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(RuntimeError, match='only the statistics methods'):
        _history_buffer_statistic(HistoryBuffer, '__init__')
    with pytest.raises(RuntimeError, match='only the statistics methods'):
        _history_buffer_statistic(torch.nn.Module, 'mean')
