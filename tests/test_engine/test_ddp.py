"""tools/dist_train.sh on CPU: 2 processes over gloo, DataFreeDDP averages gradients; a dead rank stops the other."""
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time

import torch

from mmdfkd.testing.data_free_config import write_config

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


KILL_RANK = '''
import os
import signal

from mmengine.dist import get_rank
from mmengine.hooks import Hook

from mmdfkd.registry import HOOKS


@HOOKS.register_module()
class KillRankHook(Hook):
    """SIGKILL rank ``rank`` at the end of iteration ``n`` (1-based), after the checkpoint of iteration n - 1."""

    priority = 'VERY_HIGH'

    def __init__(self, rank, n):
        self.rank, self.n = rank, n

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if get_rank() == self.rank and runner.iter + 1 == self.n:
            os.kill(os.getpid(), signal.SIGKILL)
'''


def _start_ranks(config: str, work_dir: str, cwd: str, *args: str) -> list:
    """tools/train.py --launcher pytorch as 2 processes started directly (no torchrun agent to clean up)."""
    port = str(_free_port())
    procs = []
    for rank in (0, 1):
        env = dict(os.environ, OMP_NUM_THREADS='1', MASTER_ADDR='127.0.0.1', MASTER_PORT=port, RANK=str(rank),
                   LOCAL_RANK=str(rank), WORLD_SIZE='2',
                   PYTHONPATH=os.pathsep.join([cwd, os.environ.get('PYTHONPATH', '')]))
        procs.append(subprocess.Popen(
            [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), config, '--work-dir', work_dir, '--launcher',
             'pytorch', *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    return procs


def test_killed_rank_stops_the_other_with_a_clear_message_and_two_ranks_resume(tmp_path):
    """Rank 1 is SIGKILLed at the end of iteration 2 of 3 (iter_1.pth saved): rank 0 exits, then --resume on 2."""
    (tmp_path / 'kill_rank.py').write_text(KILL_RANK)
    killed = write_config(tmp_path, name='killed', max_iters=3, interval=1, extra='''
        custom_imports = dict(imports=['kill_rank'], allow_failed_imports=False)
        custom_hooks = [dict(type='KillRankHook', rank=1, n=2)]
    ''')
    work_dir = str(tmp_path / 'work')
    rank0, rank1 = _start_ranks(killed, work_dir, str(tmp_path), '--cfg-options', 'env_cfg.dist_cfg.timeout=5')
    err1, _ = rank1.communicate(timeout=120)
    died = time.monotonic()
    err0, _ = rank0.communicate(timeout=60)  # bounded by the 5 s collective timeout at worst
    waited = time.monotonic() - died
    assert rank1.returncode == -signal.SIGKILL, err1[-2000:]
    assert rank0.returncode == 2, err0[-3000:]
    last = err0.strip().splitlines()[-1]
    assert last.startswith('error (rank 0): a collective operation with the other 1 process(es) failed ('), last
    assert 'Another rank has probably died' in last and 'Restart all 2 processes with --resume' in last
    assert 'Traceback' not in err0
    assert waited < 10, f'rank 0 took {waited:.1f} s to stop after rank 1 died'
    assert sorted(p for p in os.listdir(work_dir) if p.endswith('.pth')) == ['iter_1.pth']

    # The same config without the killer, resumed on 2 processes, finishes.
    config = write_config(tmp_path, max_iters=3, interval=1)
    procs = _start_ranks(config, work_dir, str(tmp_path), '--resume')
    errors = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors[0][-3000:] + errors[1][-3000:]
    ckpt = torch.load(osp.join(work_dir, 'iter_3.pth'))
    assert ckpt['meta']['iter'] == 3 and ckpt['rng_state']['world_size'] == 2
    assert 'Advance dataloader 1 steps' in errors[0], 'resumed after iteration 1'
