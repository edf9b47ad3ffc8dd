"""Config bases: the shared classification method, the COCO chain free of Digits constants, class
names from the datasets' metainfo rather than literals."""
import ast
import os.path as osp

from mmengine.config import Config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs')
DIGITS_CLS = 'dfkd_deit-nano_deit-pico_digits-cls.py'
CIFAR10 = 'dfkd_deit-s_deit-ti_cifar10.py'
IMAGENET = 'dfkd_deit-b_deit-ti_imagenet.py'
COCO_CHAIN = ('dfkd_vitdet-b_vit-s_coco.py', 'teachers/vitdet-b_coco.py', '_base_/datasets/coco-det_lsj-1024.py')


def load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def base_files(path: str) -> list:
    """Every file ``path`` inherits from, recursively (classic ``_base_ = ...`` configs)."""
    for node in ast.parse(open(path).read()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) == '_base_':
            bases = ast.literal_eval(node.value)
            bases = [bases] if isinstance(bases, str) else bases
            files = [osp.normpath(osp.join(osp.dirname(path), b)) for b in bases]
            return [f for b in files for f in [b] + base_files(b)]
    return []


def test_cls_scales_inherit_the_shared_method_base():
    method = Config.fromfile(osp.join(CONFIG_DIR, '_base_', 'dfkd_cls.py'))
    for name in (DIGITS_CLS, CIFAR10, IMAGENET):
        cfg = load(name)
        assert cfg.model.generator.type == 'TransformerGenerator'  # the seed paper's, at every scale
        for key in ('type', 'task', 'priors'):
            assert cfg.model[key] == method.model[key], (name, key)
        for loss, loss_cfg in method.model.distill_losses.items():
            assert {k: v for k, v in cfg.model.distill_losses[loss].items() if k != 'tau'} == loss_cfg


def test_digits_cls_student_is_the_deit_pico_base():
    # restated in the config (it cannot inherit that file's `model` next to the distiller's); they must agree
    pico = Config.fromfile(osp.join(CONFIG_DIR, '_base_', 'models', 'deit-pico_cls.py')).model.to_dict()
    assert load(DIGITS_CLS).model.student.to_dict() == dict(pico, expose_attention=True, stem='teacher',
                                                            stem_channels=8)


def test_synthetic_loaders_take_class_names_from_the_datasets():
    from mmdet.datasets import CocoDataset

    from mmdfkd.datasets.cifar import CIFAR10Dataset
    from mmdfkd.datasets.digits_cls_dataset import DigitsClsDataset
    expected = {DIGITS_CLS: DigitsClsDataset, CIFAR10: CIFAR10Dataset, 'dfkd_vitdet-b_vit-s_coco.py': CocoDataset}
    for name, dataset in expected.items():
        classes = load(name).train_dataloader.dataset.metainfo.classes
        assert tuple(classes) == tuple(dataset.METAINFO['classes']), name
    digits = load('dfkd_vitdet_tiny.py')
    assert tuple(digits.train_dataloader.dataset.metainfo.classes) == tuple(str(i) for i in range(10))
    assert digits.val_dataloader.dataset.metainfo == digits.train_dataloader.dataset.metainfo


def test_coco_chain_inherits_no_digits_config_and_holds_no_digits_constant():
    for name in COCO_CHAIN:
        path = osp.join(CONFIG_DIR, name)
        assert all('digits' not in osp.basename(f) and 'tiny' not in osp.basename(f) for f in base_files(path)), name
        text = str(load(name).to_dict())
        assert 'digits' not in text and 'img_scale' not in text and "'0', '1', '2'" not in text, name
    teacher, student = load(COCO_CHAIN[1]).model, load(COCO_CHAIN[0]).model.student
    for vit, width in ((teacher.backbone, 768), (student.backbone, 384)):  # ViT-B/16 and ViT-S/16 at 1024 px
        assert (vit.img_size, vit.patch_size, vit.embed_dim, vit.depth) == (1024, 16, width, 12)
        assert vit.window_size == 14 and tuple(vit.global_attn_indexes) == (2, 5, 8, 11)
    assert teacher.bbox_head.num_classes == student.bbox_head.num_classes == 80
