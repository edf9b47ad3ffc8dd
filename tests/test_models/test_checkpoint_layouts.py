"""MMDetection and detectron2 ViTDet checkpoints load into our ViT + SimpleFPN + mmdet Mask R-CNN.

The reference state dicts are written here from those projects' model code, name by name, for a
tiny ViTDet (embed 32, depth 2, 2 heads, 256 px, window 4, global block 1; 16-channel pyramid and
heads, 3 classes), independently of mmdfkd.models.checkpoint_layouts: every tensor has a random
value, and each must land in our teacher under the name the test states. 256 px makes a 16x16 grid,
so the checkpoints' 14x14 pretraining position embedding is upsampled, as for ViTDet's 1024 px.
"""
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdfkd.models.checkpoint_layouts import LAYOUTS, convert_state_dict, detect_layout
from mmdfkd.models.distiller import DataFreeDistiller
from mmdfkd.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TEACHER_CONFIG = osp.join(REPO_ROOT, 'configs', 'teachers', 'vitdet-b_mask-rcnn_coco.py')

C, DEPTH, HEADS, IMG, PATCH, WINDOW, GLOBAL = 32, 2, 2, 256, 16, 4, 1
GRID = IMG // PATCH
NECK, FC, K = 16, 32, 3
# (stride-4, stride-8, stride-16, stride-32) levels: scale 4, 2, 1, 0.5 of the stride-16 map
LEVEL_IN = (C // 4, C // 2, C, C)
TINY = {
    'model.backbone.img_size': IMG, 'model.backbone.embed_dim': C, 'model.backbone.depth': DEPTH,
    'model.backbone.num_heads': HEADS, 'model.backbone.window_size': WINDOW,
    'model.backbone.global_attn_indexes': (GLOBAL, ), 'model.backbone.init_cfg': None,
    'model.neck.in_channels': C, 'model.neck.out_channels': NECK,
    'model.rpn_head.in_channels': NECK, 'model.rpn_head.feat_channels': NECK,
    'model.roi_head.bbox_roi_extractor.out_channels': NECK, 'model.roi_head.mask_roi_extractor.out_channels': NECK,
    'model.roi_head.bbox_head.in_channels': NECK, 'model.roi_head.bbox_head.conv_out_channels': NECK,
    'model.roi_head.bbox_head.fc_out_channels': FC, 'model.roi_head.bbox_head.num_classes': K,
    'model.roi_head.mask_head.in_channels': NECK, 'model.roi_head.mask_head.conv_out_channels': NECK,
    'model.roi_head.mask_head.num_classes': K,
}


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('mmdfkd')


def tiny_teacher():
    cfg = Config.fromfile(TEACHER_CONFIG)
    cfg.merge_from_dict(TINY)
    return MODELS.build(cfg.model)


def vit_blocks(prefix: str, rel_size) -> dict:
    """``{name: shape}`` of ViTDet's blocks (mmdet's and detectron2's Block: timm's names)."""
    shapes = {}
    for i in range(DEPTH):
        b = f'{prefix}blocks.{i}.'
        size = GRID if i == GLOBAL else WINDOW
        shapes.update({
            b + 'norm1.weight': (C, ), b + 'norm1.bias': (C, ),
            b + 'attn.qkv.weight': (3 * C, C), b + 'attn.qkv.bias': (3 * C, ),
            b + 'attn.proj.weight': (C, C), b + 'attn.proj.bias': (C, ),
            b + 'attn.rel_pos_h': (rel_size(size), C // HEADS), b + 'attn.rel_pos_w': (rel_size(size), C // HEADS),
            b + 'norm2.weight': (C, ), b + 'norm2.bias': (C, ),
            b + 'mlp.fc1.weight': (4 * C, C), b + 'mlp.fc1.bias': (4 * C, ),
            b + 'mlp.fc2.weight': (C, 4 * C), b + 'mlp.fc2.bias': (C, ),
        })
    return shapes


def backbone_names(prefix: str) -> dict:
    """Their backbone name -> ours, for names kept as timm's."""
    names = [f'patch_embed.proj.{p}' for p in ('weight', 'bias')] + [
        k[len(prefix):] for k in vit_blocks(prefix, lambda s: 2 * s - 1)]
    return {prefix + n: 'backbone.' + n for n in names}


def mmdet_reference() -> tuple:
    """MMDetection projects/ViTDet Mask R-CNN: (state, their name -> our name)."""
    shapes = {'backbone.patch_embed.proj.weight': (C, 3, PATCH, PATCH), 'backbone.patch_embed.proj.bias': (C, ),
              # pretrain_img_size 224 at patch 16 with pretrain_use_cls_token: 1 + 14 * 14 positions
              'backbone.pos_embed': (1, 1 + 14 * 14, C)}
    shapes.update(vit_blocks('backbone.', lambda s: 2 * s - 1))
    names = backbone_names('backbone.')
    neck = {'neck.fpn1.0.weight': ((C, C // 2, 2, 2), 'neck.stages.0.0.0.weight'),
            'neck.fpn1.0.bias': ((C // 2, ), 'neck.stages.0.0.0.bias'),
            'neck.fpn1.1.weight': ((C // 2, ), 'neck.stages.0.0.1.weight'),
            'neck.fpn1.1.bias': ((C // 2, ), 'neck.stages.0.0.1.bias'),
            'neck.fpn1.3.weight': ((C // 2, C // 4, 2, 2), 'neck.stages.0.0.3.weight'),
            'neck.fpn1.3.bias': ((C // 4, ), 'neck.stages.0.0.3.bias'),
            'neck.fpn2.0.weight': ((C, C // 2, 2, 2), 'neck.stages.1.0.weight'),
            'neck.fpn2.0.bias': ((C // 2, ), 'neck.stages.1.0.bias')}
    for i, width in enumerate(LEVEL_IN):  # mmcv ConvModule(norm_cfg=LN2d): conv without bias, 'norm_layer'
        neck.update({
            f'neck.lateral_convs.{i}.conv.weight': ((NECK, width, 1, 1), f'neck.stages.{i}.1.weight'),
            f'neck.lateral_convs.{i}.norm_layer.weight': ((NECK, ), f'neck.stages.{i}.2.weight'),
            f'neck.lateral_convs.{i}.norm_layer.bias': ((NECK, ), f'neck.stages.{i}.2.bias'),
            f'neck.fpn_convs.{i}.conv.weight': ((NECK, NECK, 3, 3), f'neck.stages.{i}.3.weight'),
            f'neck.fpn_convs.{i}.norm_layer.weight': ((NECK, ), f'neck.stages.{i}.4.weight'),
            f'neck.fpn_convs.{i}.norm_layer.bias': ((NECK, ), f'neck.stages.{i}.4.bias')})
    shapes.update({k: s for k, (s, _) in neck.items()})
    names.update({k: n for k, (_, n) in neck.items()})
    names['backbone.pos_embed'] = 'backbone.pos_embed'
    # rpn_head / roi_head: plain mmdet RPNHead(num_convs=2) and StandardRoIHead, as ours
    heads = {k: tuple(v.shape) for k, v in tiny_teacher().state_dict().items()
             if k.startswith(('rpn_head.', 'roi_head.'))}
    shapes.update(heads)
    names.update({k: k for k in heads})
    return random_state(shapes), names


def detectron2_reference() -> tuple:
    """detectron2 projects/ViTDet mask_rcnn_vitdet_b: (state, their name -> our name)."""
    shapes = {'backbone.net.patch_embed.proj.weight': (C, 3, PATCH, PATCH),
              'backbone.net.patch_embed.proj.bias': (C, ),
              'backbone.net.pos_embed': (1, 1 + 14 * 14, C)}
    shapes.update(vit_blocks('backbone.net.', lambda s: 2 * s - 1))
    names = backbone_names('backbone.net.')
    names['backbone.net.pos_embed'] = 'backbone.pos_embed'
    table = {}
    # SimpleFeaturePyramid(scale_factors=(4, 2, 1, 0.5), norm='LN'): simfp_{log2 stride}; detectron2's
    # Conv2d(bias=False, norm=LayerNorm) holds its norm as `.norm`
    for i, (level, first) in enumerate(((2, 4), (3, 1), (4, 0), (5, 1))):
        head = f'backbone.simfp_{level}.'
        table.update({
            f'{head}{first}.weight': ((NECK, LEVEL_IN[i], 1, 1), f'neck.stages.{i}.1.weight'),
            f'{head}{first}.norm.weight': ((NECK, ), f'neck.stages.{i}.2.weight'),
            f'{head}{first}.norm.bias': ((NECK, ), f'neck.stages.{i}.2.bias'),
            f'{head}{first + 1}.weight': ((NECK, NECK, 3, 3), f'neck.stages.{i}.3.weight'),
            f'{head}{first + 1}.norm.weight': ((NECK, ), f'neck.stages.{i}.4.weight'),
            f'{head}{first + 1}.norm.bias': ((NECK, ), f'neck.stages.{i}.4.bias')})
    table.update({
        'backbone.simfp_2.0.weight': ((C, C // 2, 2, 2), 'neck.stages.0.0.0.weight'),
        'backbone.simfp_2.0.bias': ((C // 2, ), 'neck.stages.0.0.0.bias'),
        'backbone.simfp_2.1.weight': ((C // 2, ), 'neck.stages.0.0.1.weight'),
        'backbone.simfp_2.1.bias': ((C // 2, ), 'neck.stages.0.0.1.bias'),
        'backbone.simfp_2.3.weight': ((C // 2, C // 4, 2, 2), 'neck.stages.0.0.3.weight'),
        'backbone.simfp_2.3.bias': ((C // 4, ), 'neck.stages.0.0.3.bias'),
        'backbone.simfp_3.0.weight': ((C, C // 2, 2, 2), 'neck.stages.1.0.weight'),
        'backbone.simfp_3.0.bias': ((C // 2, ), 'neck.stages.1.0.bias'),
    })
    # StandardRPNHead(conv_dims=[-1, -1]), 3 anchors per position
    rpn = 'proposal_generator.rpn_head.'
    for k in range(2):
        table[f'{rpn}conv.conv{k}.weight'] = ((NECK, NECK, 3, 3), f'rpn_head.rpn_conv.{k}.conv.weight')
        table[f'{rpn}conv.conv{k}.bias'] = ((NECK, ), f'rpn_head.rpn_conv.{k}.conv.bias')
    table.update({
        f'{rpn}objectness_logits.weight': ((3, NECK, 1, 1), 'rpn_head.rpn_cls.weight'),
        f'{rpn}objectness_logits.bias': ((3, ), 'rpn_head.rpn_cls.bias'),
        f'{rpn}anchor_deltas.weight': ((12, NECK, 1, 1), 'rpn_head.rpn_reg.weight'),
        f'{rpn}anchor_deltas.bias': ((12, ), 'rpn_head.rpn_reg.bias')})
    # FastRCNNConvFCHead(conv_dims=[256] * 4, fc_dims=[1024], conv_norm='LN') + FastRCNNOutputLayers
    for k in range(1, 5):
        ours = f'roi_head.bbox_head.shared_convs.{k - 1}.'
        table[f'roi_heads.box_head.conv{k}.weight'] = ((NECK, NECK, 3, 3), ours + 'conv.weight')
        table[f'roi_heads.box_head.conv{k}.norm.weight'] = ((NECK, ), ours + 'norm_layer.weight')
        table[f'roi_heads.box_head.conv{k}.norm.bias'] = ((NECK, ), ours + 'norm_layer.bias')
    table.update({
        'roi_heads.box_head.fc1.weight': ((FC, NECK * 7 * 7), 'roi_head.bbox_head.shared_fcs.0.weight'),
        'roi_heads.box_head.fc1.bias': ((FC, ), 'roi_head.bbox_head.shared_fcs.0.bias'),
        'roi_heads.box_predictor.cls_score.weight': ((K + 1, FC), 'roi_head.bbox_head.fc_cls.weight'),
        'roi_heads.box_predictor.cls_score.bias': ((K + 1, ), 'roi_head.bbox_head.fc_cls.bias'),
        'roi_heads.box_predictor.bbox_pred.weight': ((K * 4, FC), 'roi_head.bbox_head.fc_reg.weight'),
        'roi_heads.box_predictor.bbox_pred.bias': ((K * 4, ), 'roi_head.bbox_head.fc_reg.bias')})
    # MaskRCNNConvUpsampleHead(conv_dims=[256] * 5, conv_norm='LN'): 4 convs, a deconv, the predictor
    for k in range(1, 5):
        ours = f'roi_head.mask_head.convs.{k - 1}.'
        table[f'roi_heads.mask_head.mask_fcn{k}.weight'] = ((NECK, NECK, 3, 3), ours + 'conv.weight')
        table[f'roi_heads.mask_head.mask_fcn{k}.norm.weight'] = ((NECK, ), ours + 'norm_layer.weight')
        table[f'roi_heads.mask_head.mask_fcn{k}.norm.bias'] = ((NECK, ), ours + 'norm_layer.bias')
    table.update({
        'roi_heads.mask_head.deconv.weight': ((NECK, NECK, 2, 2), 'roi_head.mask_head.upsample.weight'),
        'roi_heads.mask_head.deconv.bias': ((NECK, ), 'roi_head.mask_head.upsample.bias'),
        'roi_heads.mask_head.predictor.weight': ((K, NECK, 1, 1), 'roi_head.mask_head.conv_logits.weight'),
        'roi_heads.mask_head.predictor.bias': ((K, ), 'roi_head.mask_head.conv_logits.bias')})
    shapes.update({k: s for k, (s, _) in table.items()})
    names.update({k: n for k, (_, n) in table.items()})
    return random_state(shapes), names


def random_state(shapes: dict) -> dict:
    gen = torch.Generator().manual_seed(0)
    return {k: torch.randn(s, generator=gen) for k, s in shapes.items()}


def vitdet_abs_pos(pos_embed: torch.Tensor, hw) -> torch.Tensor:
    """ViTDet's get_abs_pos (both projects): drop the class token, bicubic to (1, h, w, C)."""
    tokens = pos_embed[:, 1:]
    side = int(math.sqrt(tokens.shape[1]))
    grid = tokens.reshape(1, side, side, -1).permute(0, 3, 1, 2)
    return F.interpolate(grid, size=hw, mode='bicubic', align_corners=False).permute(0, 2, 3, 1)


def vitdet_rel_pos(rel_pos: torch.Tensor, length: int) -> torch.Tensor:
    """ViTDet's get_rel_pos table resize: (L0, C) -> (length, C), linear."""
    return F.interpolate(rel_pos.reshape(1, rel_pos.shape[0], -1).permute(0, 2, 1), size=length,
                         mode='linear').reshape(-1, length).permute(1, 0)


@pytest.mark.parametrize('layout, reference, wrapper', [('mmdet-vitdet', mmdet_reference, 'state_dict'),
                                                        ('detectron2-vitdet', detectron2_reference, 'model')])
@pytest.mark.parametrize('given', ['auto', 'named'])
def test_every_tensor_lands_with_its_value(layout, reference, wrapper, given, tmp_path):
    state, names = reference()
    assert detect_layout(state) == layout
    teacher = tiny_teacher()
    assert set(names.values()) == set(teacher.state_dict())  # the reference covers every tensor of ours
    path = str(tmp_path / 'ref.pth')
    torch.save({wrapper: state, 'meta': {}}, path)

    DataFreeDistiller.load_teacher_weights(teacher, path, layout='auto' if given == 'auto' else layout)

    ours = teacher.state_dict()
    for theirs, name in names.items():
        expected = state[theirs]
        if theirs.endswith('pos_embed'):  # (1, 1 + 14*14, C) -> (1, 16, 16, C) as ViTDet's forward does
            expected = vitdet_abs_pos(expected, (GRID, GRID))
        torch.testing.assert_close(ours[name], expected, rtol=0, atol=1e-6, msg=name)


def test_position_embedding_at_the_same_grid_is_only_reshaped():
    state, _ = detectron2_reference()
    pos = torch.randn(1, 1 + GRID * GRID, C)
    state['backbone.net.pos_embed'] = pos
    converted, layout = convert_state_dict(state, tiny_teacher())
    assert layout == 'detectron2-vitdet'
    assert torch.equal(converted['backbone.pos_embed'].reshape(1, GRID * GRID, C), pos[:, 1:])


def test_relative_position_tables_of_another_size_are_resized_as_vitdet():
    # a teacher trained at 128 px: its global block's tables are 2 * 8 - 1 = 15 long, ours 2 * 16 - 1 = 31
    state, _ = mmdet_reference()
    key = f'backbone.blocks.{GLOBAL}.attn.rel_pos_h'
    state[key] = torch.randn(15, C // HEADS)
    converted, _ = convert_state_dict(state, tiny_teacher(), 'mmdet-vitdet')
    assert converted[key].shape == (2 * GRID - 1, C // HEADS)
    torch.testing.assert_close(converted[key], vitdet_rel_pos(state[key], 2 * GRID - 1))


def test_an_unmapped_key_is_an_error_that_names_it(tmp_path):
    state, _ = detectron2_reference()
    state['roi_heads.box_head.0.conv1.weight'] = torch.zeros(1)  # a Cascade R-CNN stage
    path = str(tmp_path / 'cascade.pth')
    torch.save({'model': state}, path)
    with pytest.raises(RuntimeError, match=r"roi_heads\.box_head\.0\.conv1\.weight.*'detectron2-vitdet'"):
        DataFreeDistiller.load_teacher_weights(tiny_teacher(), path, layout='auto')


def test_an_own_checkpoint_is_read_unchanged():
    teacher = tiny_teacher()
    state = teacher.state_dict()
    converted, layout = convert_state_dict(state, teacher)
    assert layout == 'mmdfkd' and converted.keys() == state.keys()
    assert all(converted[k] is v for k, v in state.items())


def test_unknown_layout_names_the_choices():
    with pytest.raises(ValueError, match='mmdet-vitdet'):
        convert_state_dict({}, tiny_teacher(), 'timm')
    assert LAYOUTS == ('mmdfkd', 'mmdet-vitdet', 'detectron2-vitdet')


@pytest.mark.parametrize('layout, reference, wrapper', [('mmdet-vitdet', mmdet_reference, 'state_dict'),
                                                        ('detectron2-vitdet', detectron2_reference, 'model')])
def test_each_layouts_config_loads_its_projects_checkpoint_into_the_released_teacher(layout, reference, wrapper,
                                                                                      tmp_path):
    project = layout.split('-')[0]
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', f'dfkd_vitdet-b-mask-rcnn_vit-s_coco_from-{project}.py'))
    assert osp.join(REPO_ROOT, cfg.model.teacher.config) == TEACHER_CONFIG
    assert cfg.model.teacher.checkpoint_layout == layout
    state, names = reference()
    path = str(tmp_path / 'released.pth')
    torch.save({wrapper: state}, path)
    teacher = tiny_teacher()
    DataFreeDistiller.load_teacher_weights(teacher, path, layout=cfg.model.teacher.checkpoint_layout)
    ours = teacher.state_dict()
    for theirs, name in names.items():
        if not theirs.endswith('pos_embed'):
            assert torch.equal(ours[name], state[theirs]), name
