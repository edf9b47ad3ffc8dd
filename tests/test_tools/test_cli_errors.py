"""run_cli: one-line errors for user mistakes, tracebacks for bugs and with --debug, closest config keys."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmdfkd.engine.cli import run_cli
from mmdfkd.registry import MODELS
from mmdfkd.testing.data_free_config import write_config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _exit_code_and_stderr(main, capsys, monkeypatch, argv=('tool', )):
    monkeypatch.setattr(sys, 'argv', list(argv))
    with pytest.raises(SystemExit) as info:
        run_cli(main)
    return info.value.code, capsys.readouterr().err


def test_user_error_is_one_line_and_exit_2(capsys, monkeypatch):
    def main():
        raise FileNotFoundError('Checkpoint x.pth does not exist;\ntrain one first.')

    code, err = _exit_code_and_stderr(main, capsys, monkeypatch)
    assert code == 2
    assert err == ('error: Checkpoint x.pth does not exist; train one first. '
                   '[--debug or MMDFKD_DEBUG=1 shows the traceback]\n')


def test_debug_flag_or_env_shows_the_traceback_and_is_removed_from_argv(monkeypatch):
    seen = []

    def main():
        seen.append(list(sys.argv))
        raise ValueError('bad image size')

    monkeypatch.setattr(sys, 'argv', ['tool', 'det', '--debug', '--out', 'x'])
    with pytest.raises(ValueError, match='bad image size'):
        run_cli(main)
    assert seen == [['tool', 'det', '--out', 'x']]
    monkeypatch.setattr(sys, 'argv', ['tool'])
    monkeypatch.setenv('MMDFKD_DEBUG', '1')
    with pytest.raises(ValueError, match='bad image size'):
        run_cli(main)


def test_errors_raised_inside_torch_are_bugs_and_keep_their_traceback(monkeypatch):
    def main():
        torch.zeros(2, 3) @ torch.zeros(2, 3)  # RuntimeError raised by torch, not by us

    monkeypatch.setattr(sys, 'argv', ['tool'])
    with pytest.raises(RuntimeError, match='cannot be multiplied'):
        run_cli(main)


def test_unknown_config_key_names_the_closest_valid_keys(capsys, monkeypatch):
    code, err = _exit_code_and_stderr(
        lambda: MODELS.build(dict(type='ConvGenerator', img_sze=32, latent_dim=8)), capsys, monkeypatch)
    assert code == 2
    assert err.startswith("error: ConvGenerator has no config key 'img_sze': did you mean 'img_size'?")


def test_value_error_raised_by_mmdfkd_while_building_is_one_line(capsys, monkeypatch):
    code, err = _exit_code_and_stderr(
        lambda: MODELS.build(dict(type='ConvGenerator', img_size=30, latent_dim=8)), capsys, monkeypatch)
    assert code == 2
    assert err.startswith('error: img_size (30, 30) must be a multiple of 8') and err.count('\n') == 1


def _tool(*args, env_extra=None):
    env = dict(os.environ, OMP_NUM_THREADS='1', **(env_extra or {}))
    env.pop('MMDFKD_DEBUG', None)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=300,
                          cwd=REPO_ROOT)


def test_train_missing_config_one_line_and_debug_traceback(tmp_path):
    missing = str(tmp_path / 'nope.py')
    out = _tool('tools/train.py', missing)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [f'error: Config file {missing!r} does not exist. Configs ship in the '
                                       'repository under configs/, e.g. configs/teachers/vitdet_digits-det.py. '
                                       '[--debug or MMDFKD_DEBUG=1 shows the traceback]']
    debug = _tool('tools/train.py', missing, '--debug')
    assert debug.returncode == 1 and 'Traceback (most recent call last)' in debug.stderr
    assert debug.stderr.rstrip().splitlines()[-1].startswith('FileNotFoundError: Config file')


def test_train_typo_in_cfg_options_suggests_the_key(tmp_path):
    config = write_config(tmp_path)
    out = _tool('tools/train.py', config, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                'model.genertor.img_size=64')
    assert out.returncode == 2, out.stderr[-3000:]
    assert out.stderr.splitlines()[-1].startswith(
        "error: DataFreeDistiller has no config key 'genertor': did you mean 'generator'")
    assert 'Traceback' not in out.stderr
