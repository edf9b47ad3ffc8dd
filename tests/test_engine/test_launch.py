"""tools/train.py and tools/test.py config steps: data checks and distributed defaults."""
import os.path as osp

import pytest

from mmdfkd.engine.launch import load_config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DFKD = osp.join(REPO_ROOT, 'configs', 'dfkd_vitdet_tiny.py')
TEACHER = osp.join(REPO_ROOT, 'configs', 'teachers', 'vitdet_digits-det.py')


def _data_root_options(root: str) -> dict:
    return {'val_dataloader.dataset.data_root': root, 'test_dataloader.dataset.data_root': root,
            'val_evaluator.ann_file': root + 'annotations/instances_val.json',
            'test_evaluator.ann_file': root + 'annotations/instances_val.json'}


def test_missing_val_data_fails_before_anything_is_built_and_names_the_prepare_command(tmp_path):
    root = str(tmp_path / 'digits-det') + '/'
    with pytest.raises(FileNotFoundError) as info:
        load_config(DFKD, _data_root_options(root), check_data=('train', 'val'))
    message = str(info.value)
    assert message.startswith(f'val data not found: {root}annotations/instances_val.json')
    assert f'python tools/prepare_data.py digits-det --out {root.rstrip("/")}' in message
    with pytest.raises(FileNotFoundError, match='test data not found'):
        load_config(DFKD, _data_root_options(root), check_data=('test', ))

    # Present files pass; the data-free train set (LatentDataset) needs none.
    (tmp_path / 'digits-det' / 'annotations').mkdir(parents=True)
    (tmp_path / 'digits-det' / 'annotations' / 'instances_val.json').write_text('{}')
    (tmp_path / 'digits-det' / 'images' / 'val').mkdir(parents=True)
    load_config(DFKD, _data_root_options(root), check_data=('train', 'val', 'test'))


def test_other_datasets_get_the_cfg_options_hint(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'train data not found: .*instances_train\.json .*'
                                                r'--cfg-options train_dataloader\.dataset\.data_root=DIR/'):
        load_config(TEACHER, {'train_dataloader.dataset.data_root': str(tmp_path / 'mine') + '/'},
                    check_data=('train', ))


def test_distributed_distiller_gets_data_free_ddp_and_a_seed_per_rank(tmp_path):
    (tmp_path / 'plain.py').write_text(f"_base_ = [{DFKD!r}]\nmodel_wrapper_cfg = None\nrandomness = dict(seed=3)\n")
    cfg = load_config(str(tmp_path / 'plain.py'), launcher='pytorch')
    assert cfg.model_wrapper_cfg == dict(type='DataFreeDDP')
    assert cfg.randomness == dict(seed=3, diff_rank_seed=True)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'  # this machine has no CUDA
    assert load_config(str(tmp_path / 'plain.py')).get('model_wrapper_cfg') is None  # not distributed
    assert load_config(TEACHER, launcher='pytorch').get('model_wrapper_cfg') is None  # not a distiller


def test_distributed_runs_get_a_collective_timeout_that_the_config_can_set(tmp_path):
    from mmdfkd.engine.launch import DEFAULT_DIST_TIMEOUT_S
    assert load_config(TEACHER, launcher='pytorch').env_cfg.dist_cfg.timeout == DEFAULT_DIST_TIMEOUT_S == 120
    cfg = load_config(TEACHER, {'env_cfg.dist_cfg.timeout': 7}, launcher='pytorch')
    assert cfg.env_cfg.dist_cfg.timeout == 7
    assert 'timeout' not in load_config(TEACHER).env_cfg.dist_cfg  # one process: no collectives
