"""AtomicCheckpointHook: crash-safe files, full disks, exact resume after SIGKILL, deterministic runs."""
import errno
import os
import os.path as osp
import signal
import subprocess
import sys
import uuid

import pytest
import torch
from mmengine.config import Config
from mmengine.fileio.backends.local_backend import LocalBackend
from mmengine.runner import Runner

import mmdfkd  # noqa: F401  (allow-list, loader)
from mmdfkd.engine.checkpoint import load_checkpoint_file
from mmdfkd.engine.checkpoint_hook import AtomicCheckpointHook, DiskFullError
from mmdfkd.engine.launch import apply_resume, build_runner, load_config
from mmdfkd.testing.data_free_config import write_config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _unique_name(work_dir: str) -> str:
    # MMEngine names a Runner's MessageHub/logger by its timestamp: two Runners built in the
    # same second of one process would share them.
    return f'{osp.basename(work_dir)}_{uuid.uuid4().hex[:8]}'


def _run(config: str, work_dir: str, **cfg_options) -> Runner:
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.experiment_name = _unique_name(work_dir)
    cfg.merge_from_dict(cfg_options)
    return Runner.from_cfg(cfg)


def _student_and_generator(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.startswith(('student.', 'generator.'))}


def test_same_seed_gives_identical_synthetic_batches_and_student(tmp_path):
    """Two CPU runs seeded as the Runner seeds them: the same images and weights, step by step."""
    from mmengine.runner import set_random_seed

    from mmdfkd.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
    cfg = Config.fromfile(write_config(tmp_path))
    results = []
    for _ in range(2):
        set_random_seed(0)
        model = MODELS.build(cfg.model)
        optim = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(type=cfg.optim_wrapper.constructor,
                                                      optim_wrapper_cfg=cfg.optim_wrapper))(model)
        model.train()
        batches = []
        for _ in range(3):
            model.train_step(dict(index=[0, 1, 2, 3]), optim)
            batches.append(model.last_synthetic.clone())
        results.append((batches, _student_and_generator(model.state_dict())))
    (batches_a, weights_a), (batches_b, weights_b) = results
    assert all(torch.equal(a, b) for a, b in zip(batches_a, batches_b))
    assert not torch.equal(batches_a[0], batches_a[1]), 'each iteration synthesises new images'
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def test_full_disk_keeps_previous_checkpoint_and_stops_naming_folder_and_space(tmp_path, monkeypatch):
    """max_keep_ckpts=1, a checkpoint every iteration, and the disk fills up while iter_3.pth is written."""
    config = write_config(tmp_path, max_iters=3, interval=1)
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    (work_dir / '.iter_9.pth.tmp').write_bytes(b'partial')  # left by an earlier, killed save
    real_put = LocalBackend.put

    def disk_full_at_iter_3(self, obj, filepath):
        if 'iter_3' in str(filepath):
            with open(filepath, 'wb') as f:  # half the file reaches the disk, then the write fails
                f.write(obj[:len(obj) // 2])
            raise OSError(errno.ENOSPC, 'No space left on device')
        return real_put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', disk_full_at_iter_3)
    runner = _run(config, str(work_dir), **{'default_hooks.checkpoint.max_keep_ckpts': 1})
    with pytest.raises(DiskFullError) as info:
        runner.train()

    # The message names the folder, the space needed (the size of the last checkpoint) and the way on.
    size_mb = f'{os.path.getsize(work_dir / "iter_2.pth") / 2**20:.1f} MB'
    message = str(info.value)
    assert info.value.errno == errno.ENOSPC
    assert f'{work_dir / "iter_3.pth"}: it needs about {size_mb} (the size of iter_2.pth)' in message
    assert f'{work_dir} has ' in message and 'MB free' in message and '--resume' in message
    # iter_1 was deleted once iter_2 was complete; iter_2 survives the failed save of iter_3
    # (MMEngine's CheckpointHook deletes it first); no partial or temporary file is left.
    assert sorted(p for p in os.listdir(work_dir) if p.endswith(('.pth', '.tmp'))) == ['iter_2.pth']
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'iter_2.pth')
    ckpt = load_checkpoint_file(str(work_dir / 'iter_2.pth'))  # complete and loadable, weights_only=True
    assert ckpt['meta']['iter'] == 2 and ckpt['rng_state']['world_size'] == 1
    assert any(k.startswith('student.') for k in ckpt['state_dict'])


def test_full_disk_at_the_first_save_estimates_the_space_from_the_weights(tmp_path, monkeypatch):
    config = write_config(tmp_path, max_iters=1, interval=1)
    real_save = torch.save

    def no_space(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and 'meta' in obj:  # a checkpoint, not the teacher written by write_config
            raise OSError(errno.ENOSPC, 'No space left on device')
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, 'save', no_space)
    with pytest.raises(DiskFullError, match=r'it needs about \d+\.\d MB \(the size of the weights and optimizer '
                                            r'state\) .* No checkpoint was written'):
        _run(config, str(tmp_path / 'work')).train()
    assert not [p for p in os.listdir(tmp_path / 'work') if p.endswith(('.pth', '.tmp'))]


def test_save_best_is_atomic_and_deletes_the_previous_best_only_after(tmp_path, monkeypatch):
    """MMEngine deletes the old best first and writes the new one in place; here a failed save keeps it."""
    config = write_config(tmp_path, max_iters=1, interval=1)
    work_dir = tmp_path / 'work'
    runner = _run(config, str(work_dir), **{'default_hooks.checkpoint.save_best': 'acc',
                                             'default_hooks.checkpoint.rule': 'greater'})
    hook = next(h for h in runner.hooks if isinstance(h, AtomicCheckpointHook))
    hook.before_train(runner)

    def best_at(iteration, acc):
        runner.train_loop._iter = iteration
        hook._save_best_checkpoint(runner, {'acc': acc})

    best_at(1, 0.5)
    best_at(2, 0.4)  # not better: nothing written
    best_at(3, 0.7)
    assert sorted(p for p in os.listdir(work_dir) if p.endswith(('.pth', '.tmp'))) == ['best_acc_iter_3.pth']
    assert load_checkpoint_file(str(work_dir / 'best_acc_iter_3.pth'))['meta']['iter'] == 3

    def disk_full(self, obj, filepath):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(LocalBackend, 'put', disk_full)
    with pytest.raises(DiskFullError, match='the size of best_acc_iter_3.pth'):
        best_at(4, 0.9)
    assert sorted(p for p in os.listdir(work_dir) if p.endswith(('.pth', '.tmp'))) == ['best_acc_iter_3.pth']
    assert load_checkpoint_file(str(work_dir / 'best_acc_iter_3.pth'))['meta']['iter'] == 3


KILLER = '''
import os
import signal

from mmengine.hooks import Hook

from mmdfkd.registry import HOOKS


@HOOKS.register_module()
class KillAfterIterHook(Hook):
    """SIGKILL this process at the end of iteration ``n`` (1-based): no cleanup, no atexit."""

    priority = 'LOWEST'

    def __init__(self, n):
        self.n = n

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.n:
            os.kill(os.getpid(), signal.SIGKILL)
'''


def test_sigkilled_run_resumes_to_the_uninterrupted_weights(tmp_path):
    """tools/train.py SIGKILLed after iteration 3 of 4, resumed: bit-identical to a run never killed.

    With the replay memory on: 6 images, 4 pushed per iteration, so at the iter_2.pth
    checkpoint the ring has wrapped (size 6, next slot 2) and the student's batches of
    iterations 3 and 4 are drawn from remembered images. Exact because the checkpoint
    carries the RNG states (the generator's latent, the augmentation and the memory
    draws come from them) and the memory. The uninterrupted reference and the resume
    run in this process, with the killed subprocess's thread count.
    """
    memory = '''
        model.update(memory_capacity=6)'''
    config = write_config(tmp_path, max_iters=4, interval=2, extra=memory)
    (tmp_path / 'killer.py').write_text(KILLER)
    killed_config = write_config(tmp_path, name='killed', max_iters=4, interval=2, extra=memory + '''
        custom_imports = dict(imports=['killer'], allow_failed_imports=False)
        custom_hooks = [dict(type='KillAfterIterHook', n=3)]
    ''')
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get('PYTHONPATH', '')]))
    work_dir = tmp_path / 'resumed'

    def start(cfg, *args):
        return subprocess.Popen([sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), cfg, '--work-dir',
                                 str(work_dir), *args], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    killed = start(killed_config)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:  # meanwhile, the reference
        reference = _run(config, str(tmp_path / 'reference'))
        reference.train()
    finally:
        torch.set_num_threads(threads)
    expected = _student_and_generator(reference.model.state_dict())
    out_killed, _ = killed.communicate(timeout=600)
    assert killed.returncode == -signal.SIGKILL, out_killed[-3000:]
    assert sorted(p for p in os.listdir(work_dir) if p.endswith('.pth')) == ['iter_2.pth']
    saved = load_checkpoint_file(str(work_dir / 'iter_2.pth'))['synthetic_memory']
    assert saved['world_size'] == 1
    assert {k: saved['ranks'][0][k] for k in ('capacity', 'size', 'next')} == dict(capacity=6, size=6, next=2)
    assert saved['ranks'][0]['images'].dtype == torch.uint8

    # Resume as tools/train.py --resume does (same functions, this process: no second start-up).
    torch.set_num_threads(1)
    try:
        cfg = load_config(config, work_dir=str(work_dir))
        cfg.experiment_name = _unique_name(str(work_dir))
        apply_resume(cfg, 'auto')
        resumed = build_runner(cfg)
        resumed.train()
    finally:
        torch.set_num_threads(threads)
    assert resumed.iter == 4
    assert len(resumed.model.memory) == 6

    final = load_checkpoint_file(str(work_dir / 'iter_4.pth'))
    assert final['meta']['iter'] == 4
    weights = _student_and_generator(final['state_dict'])
    assert weights.keys() == expected.keys() and any(k.startswith('student.') for k in weights)
    different = [k for k in weights if not torch.equal(weights[k], expected[k])]
    assert not different, f'resumed weights differ from the uninterrupted run: {different[:5]}'
