"""tools/dist_train.sh on CPU: 2 processes over gloo, DataFreeDDP averages gradients."""
import os
import os.path as osp
import socket
import subprocess

import torch

from tiny_data_free import write_config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

DUMP = '''
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from mmdfkd.registry import HOOKS


@HOOKS.register_module()
class DumpRankHook(Hook):
    """Saves this rank's wrapper type, synthetic batches and final student/generator to rank<r>.pt."""

    def before_train(self, runner):
        self.batches = []
        self.initial = {k: v.detach().clone() for k, v in runner.model.module.student.named_parameters()}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.batches.append(runner.model.module.last_synthetic.clone())

    def after_run(self, runner):
        model = runner.model.module
        # Parameters: BN running statistics are per rank between steps, as with torch's DDP.
        params = {part: {k: v.detach().clone() for k, v in getattr(model, part).named_parameters()}
                  for part in ('student', 'generator')}
        torch.save(dict(wrapper=type(runner.model).__name__, batches=self.batches, initial=self.initial, **params),
                   f'{runner.work_dir}/rank{get_rank()}.pt')
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_dist_train_two_cpu_ranks_synthesise_differently_and_stay_identical(tmp_path):
    (tmp_path / 'dump_rank.py').write_text(DUMP)
    # No model_wrapper_cfg / diff_rank_seed in the file: tools/train.py must supply them.
    config = write_config(tmp_path, max_iters=2, interval=2, extra='''
        randomness = dict(seed=0)
        custom_imports = dict(imports=['dump_rank'], allow_failed_imports=False)
        custom_hooks = [dict(type='DumpRankHook')]
    ''')
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=str(_free_port()),
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get('PYTHONPATH', '')]))
    out = subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), config, '2', '--work-dir',
                          str(tmp_path / 'work')], cwd=str(tmp_path), env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]

    ranks = [torch.load(tmp_path / 'work' / f'rank{r}.pt') for r in (0, 1)]
    assert [r['wrapper'] for r in ranks] == ['DataFreeDDP'] * 2
    # Different seeds per rank: different images in every iteration.
    assert all(not torch.allclose(a, b) for a, b in zip(ranks[0]['batches'], ranks[1]['batches']))
    # Averaged gradients: the same weights everywhere, and they did change.
    for part in ('student', 'generator'):
        assert ranks[0][part].keys() == ranks[1][part].keys()
        different = [k for k in ranks[0][part] if not torch.equal(ranks[0][part][k], ranks[1][part][k])]
        assert not different, f'{part} differs between ranks: {different[:5]}'
    assert any(not torch.equal(ranks[0]['initial'][k], v) for k, v in ranks[0]['student'].items())
    assert all(torch.equal(ranks[0]['initial'][k], ranks[1]['initial'][k]) for k in ranks[0]['initial'])
    # The checkpoint carries both ranks' RNG states.
    ckpt = torch.load(tmp_path / 'work' / 'iter_2.pth')
    assert ckpt['rng_state']['world_size'] == 2 and len(ckpt['rng_state']['ranks']) == 2
