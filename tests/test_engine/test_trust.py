"""Checkpoint trust model: weights_only=True everywhere, refusals that say why and how to allow."""
import pytest
import torch
from mmengine.runner.checkpoint import CheckpointLoader

import mmdfkd  # noqa: F401  (registers the loader)
from mmdfkd.engine.checkpoint import (
    CorruptCheckpointError,
    UntrustedCheckpointError,
    env_safe_globals,
    load_checkpoint_file,
)


class Payload:
    """A type no allow-list holds: loading it by pickle could run its code."""

    def __init__(self) -> None:
        self.note = 'training args'


def _custom_checkpoint(path) -> str:
    torch.save({'state_dict': {'w': torch.ones(1)}, 'args': Payload()}, path)
    return str(path)


def test_custom_class_is_refused_with_reason_and_opt_in(tmp_path, monkeypatch):
    path = _custom_checkpoint(tmp_path / 'custom.pth')
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')  # torch's global escape hatch must not apply
    for load in (load_checkpoint_file, lambda p: CheckpointLoader.load_checkpoint(p, map_location='cpu')):
        with pytest.raises(UntrustedCheckpointError) as info:
            load(path)
        message = str(info.value)
        assert f'{Payload.__module__}.Payload' in message and 'not on the allow-list' in message
        assert 'never falls back to weights_only=False' in message
        assert 'torch.serialization.safe_globals' in message and 'MMDFKD_SAFE_GLOBALS=' in message
    with torch.serialization.safe_globals([Payload]):  # the documented way to allow a trusted file
        assert isinstance(load_checkpoint_file(path)['args'], Payload)


def test_teacher_checkpoint_with_custom_class_is_refused_by_the_distiller(tmp_path):
    from mmengine.config import Config

    from mmdfkd.registry import MODELS
    from mmdfkd.testing.data_free_config import write_config  # noqa: F401  (also builds a teacher checkpoint)
    config = Config.fromfile(write_config(tmp_path, max_iters=1, interval=1))
    teacher = torch.load(tmp_path / 'teacher.pth')
    torch.save(dict(teacher, args=Payload()), tmp_path / 'teacher_args.pth')
    config.model.teacher.checkpoint = str(tmp_path / 'teacher_args.pth')
    with pytest.raises(UntrustedCheckpointError, match='Payload, which is not on the allow-list'):
        MODELS.build(config.model)


def test_truncated_checkpoint_is_reported_as_such(tmp_path):
    path = tmp_path / 'cut.pth'
    torch.save({'state_dict': {'w': torch.ones(100)}}, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CorruptCheckpointError, match='truncated or damaged'):
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')


def test_env_opt_in_names_exact_types_and_refuses_code_runners(monkeypatch):
    monkeypatch.setenv('MMDFKD_SAFE_GLOBALS', f'{Payload.__module__}.Payload')
    assert env_safe_globals() == [Payload]
    for dangerous in ('builtins.eval', 'os.system', 'subprocess.Popen', 'functools.partial'):
        monkeypatch.setenv('MMDFKD_SAFE_GLOBALS', dangerous)
        with pytest.raises(ValueError, match='cannot be allow-listed'):
            env_safe_globals()
    monkeypatch.setenv('MMDFKD_SAFE_GLOBALS', 'no_such_module.Thing')
    with pytest.raises(ValueError, match='cannot import'):
        env_safe_globals()


def test_url_checkpoints_are_weights_only_too(tmp_path):
    """MMEngine's http(s)://, torchvision://, open-mmlab:// loaders call torch's URL loader (weights_only=False)."""
    from mmengine.runner.checkpoint import load_from_http
    url = (tmp_path / 'custom.pth').as_uri()  # file:// goes through the same download-and-load code
    _custom_checkpoint(tmp_path / 'custom.pth')
    with pytest.raises(UntrustedCheckpointError, match='Payload, which is not on the allow-list'):
        load_from_http(url, map_location='cpu', model_dir=str(tmp_path / 'hub'))
    torch.save({'state_dict': {'w': torch.ones(1)}}, tmp_path / 'plain.pth')
    assert torch.equal(load_from_http((tmp_path / 'plain.pth').as_uri(), map_location='cpu',
                                      model_dir=str(tmp_path / 'hub2'))['state_dict']['w'], torch.ones(1))
