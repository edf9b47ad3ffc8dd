"""Read ViTDet checkpoints saved by MMDetection's and detectron2's ViTDet projects.

Our ViTDet is :class:`~mmdfkd.models.backbones.vit.ViT` (timm's SAM ViT) +
:class:`~mmdfkd.models.necks.simple_fpn.SimpleFPN` + plain MMDetection heads.
A checkpoint of the same network trained elsewhere names its tensors in one of
these layouts:

``'mmdfkd'``
    ours (``tools/train.py``): nothing to rename.
``'mmdet-vitdet'``
    MMDetection 3.x ``projects/ViTDet`` (``vitdet_mask-rcnn_vit-b-mae_lsj-100e``):
    the backbone already has timm's names (``backbone.patch_embed.proj``,
    ``backbone.blocks.N.attn.qkv`` / ``rel_pos_h`` / ``mlp.fc1`` ...) but keeps
    the pretraining position embedding, ``(1, 1 + 14 * 14, C)`` with a class
    token slot; its ``SimpleFPN`` has ``neck.fpn1`` .. ``neck.fpn4``,
    ``neck.lateral_convs.i`` and ``neck.fpn_convs.i`` (mmcv ``ConvModule``);
    ``rpn_head`` / ``roi_head`` are MMDetection's, as ours.
``'detectron2-vitdet'``
    detectron2 ``projects/ViTDet`` (``mask_rcnn_vitdet_b_100ep``):
    ``backbone.net.*`` (the ViT, names as timm's, position embedding with a
    class token slot), ``backbone.simfp_{2,3,4,5}.*`` (the pyramid levels of
    stride 4, 8, 16, 32), ``proposal_generator.rpn_head.*``,
    ``roi_heads.box_head.conv{k}`` / ``fc{k}``, ``roi_heads.box_predictor.*``,
    ``roi_heads.mask_head.*``.

Only names change: every tensor keeps its shape and values (detectron2 and
MMDetection store convolutions, transposed convolutions and linear layers
alike; both put the background last in ``cls_score`` / ``fc_cls``, (K + 1)
outputs, and regress class-specific boxes, K * 4 outputs, class-major). The
position tables are then resized to the model by
:func:`resize_position_tables`, with ViTDet's own interpolation. A key that no rule renames keeps its name, so
:func:`~mmdfkd.utils.state_dict.load_state_dict_checked` lists it.
"""
import math
import re
from typing import Callable, Dict, List, Sequence, Tuple

import torch.nn.functional as F
from mmcv.cnn.bricks.norm import infer_abbr
from torch import Tensor, nn

from mmdfkd.models.backbones.vit import ViT
from mmdfkd.models.layers import LN2d
from mmdfkd.utils.state_dict import StateDict

LAYOUTS = ('mmdfkd', 'mmdet-vitdet', 'detectron2-vitdet')

# The norm's name inside an mmcv ConvModule with norm_cfg=dict(type='LN2d'), as ViTDet's
# heads are configured: 'norm_layer' (mmcv names it after the norm class).
_CONV_MODULE_NORM = infer_abbr(LN2d)

Rule = Tuple[str, Callable[[re.Match], str]]


def _rename(state: StateDict, rules: Sequence[Rule]) -> StateDict:
    """Rename every key by the first rule whose pattern matches all of it; other keys stay."""
    compiled = [(re.compile(pattern), new) for pattern, new in rules]
    out = {}
    for key, value in state.items():
        for pattern, new in compiled:
            match = pattern.fullmatch(key)
            if match:
                key = new(match)
                break
        out[key] = value
    return out


def _minus_one(match: re.Match) -> int:
    """Detectron2 numbers layers from 1 (``conv1``), ModuleLists from 0."""
    return int(match['k']) - 1


def map_mmdet_vitdet(state: StateDict) -> StateDict:
    """Rename an MMDetection ``projects/ViTDet`` state dict to ours.

    Only the neck differs (``fpn1`` .. ``fpn4`` + ``lateral_convs`` +
    ``fpn_convs`` -> ``stages.i``, ``i`` over scales (4, 2, 1, 0.5)): mmdet's
    pyramid level ``i`` is ``fpn{i+1}``, then ``lateral_convs.i``, then
    ``fpn_convs.i``; ours is ``stages.i.0`` (resampling), ``stages.i.1`` /
    ``.2`` (1x1 conv / LN2d), ``stages.i.3`` / ``.4`` (3x3 conv / LN2d).

    Args:
        state (dict): ``{key: tensor}`` with mmdet's names.

    Returns:
        dict: the same tensors under our names.
    """
    return _rename(state, [
        # scale 4: ConvTranspose2d, LN2d, GELU, ConvTranspose2d in both
        (r'neck\.fpn1\.(?P<j>[013])\.(?P<p>weight|bias)', lambda m: f'neck.stages.0.0.{m["j"]}.{m["p"]}'),
        # scale 2: a Sequential of one ConvTranspose2d in mmdet, the layer itself in ours
        (r'neck\.fpn2\.0\.(?P<p>weight|bias)', lambda m: f'neck.stages.1.0.{m["p"]}'),
        (r'neck\.lateral_convs\.(?P<i>\d+)\.conv\.(?P<p>weight|bias)', lambda m: f'neck.stages.{m["i"]}.1.{m["p"]}'),
        (r'neck\.lateral_convs\.(?P<i>\d+)\.\w+\.(?P<p>weight|bias)', lambda m: f'neck.stages.{m["i"]}.2.{m["p"]}'),
        (r'neck\.fpn_convs\.(?P<i>\d+)\.conv\.(?P<p>weight|bias)', lambda m: f'neck.stages.{m["i"]}.3.{m["p"]}'),
        (r'neck\.fpn_convs\.(?P<i>\d+)\.\w+\.(?P<p>weight|bias)', lambda m: f'neck.stages.{m["i"]}.4.{m["p"]}'),
    ])


def _simfp_rules(state: StateDict) -> List[Rule]:
    """Rules for detectron2's ``backbone.simfp_{s}`` pyramid levels.

    Level ``simfp_s`` has stride ``2**s``; sorted by ``s`` they are our
    ``neck.stages.0, 1, ...``. Inside a level, detectron2's Sequential is the
    resampling layers, then a 1x1 ``Conv2d`` with its ``norm``, then a 3x3
    one: the first index with a ``norm`` is the 1x1 conv. Four resampling
    layers (ConvTranspose2d, LN, GELU, ConvTranspose2d) make scale 4, whose
    layers keep their indices in our ``stages.i.0`` Sequential; one (a
    ConvTranspose2d, scale 2; a parameterless max-pool, scale 0.5) is our
    ``stages.i.0`` itself.
    """
    levels = sorted({int(m[1]) for k in state if (m := re.match(r'backbone\.simfp_(\d+)\.', k))})
    rules: List[Rule] = []
    for i, level in enumerate(levels):
        normed = [int(m[1]) for k in state if (m := re.fullmatch(rf'backbone\.simfp_{level}\.(\d+)\.norm\.weight', k))]
        if not normed:
            continue  # not ViTDet's LN pyramid: its keys stay unmapped and are reported
        conv1 = min(normed)
        head = rf'backbone\.simfp_{level}\.'
        rules += [
            (head + rf'{conv1}\.weight', lambda m, i=i: f'neck.stages.{i}.1.weight'),
            (head + rf'{conv1}\.norm\.(?P<p>weight|bias)', lambda m, i=i: f'neck.stages.{i}.2.{m["p"]}'),
            (head + rf'{conv1 + 1}\.weight', lambda m, i=i: f'neck.stages.{i}.3.weight'),
            (head + rf'{conv1 + 1}\.norm\.(?P<p>weight|bias)', lambda m, i=i: f'neck.stages.{i}.4.{m["p"]}'),
        ]
        if conv1 == 4:
            rules.append((head + r'(?P<j>[013])\.(?P<p>weight|bias)',
                          lambda m, i=i: f'neck.stages.{i}.0.{m["j"]}.{m["p"]}'))
        elif conv1 == 1:
            rules.append((head + r'0\.(?P<p>weight|bias)', lambda m, i=i: f'neck.stages.{i}.0.{m["p"]}'))
    return rules


def map_detectron2_vitdet(state: StateDict) -> StateDict:
    """Rename a detectron2 ViTDet (Mask R-CNN) state dict to ours.

    ===========================================  ==============================================
    detectron2                                   ours (MMDetection's heads)
    ===========================================  ==============================================
    ``backbone.net.*``                           ``backbone.*``
    ``backbone.simfp_{s}.*``                     ``neck.stages.i.*`` (see :func:`_simfp_rules`)
    ``proposal_generator.rpn_head.conv``         ``rpn_head.rpn_conv`` (one conv)
    ``...rpn_head.conv.conv{k}``                 ``rpn_head.rpn_conv.{k}.conv`` (several)
    ``...rpn_head.objectness_logits``            ``rpn_head.rpn_cls`` (A, C, 1, 1)
    ``...rpn_head.anchor_deltas``                ``rpn_head.rpn_reg`` (A * 4, C, 1, 1)
    ``roi_heads.box_head.conv{k}[.norm]``        ``roi_head.bbox_head.shared_convs.{k-1}.conv``
                                                 [``.norm_layer``]
    ``roi_heads.box_head.fc{k}``                 ``roi_head.bbox_head.shared_fcs.{k-1}``
    ``roi_heads.box_predictor.cls_score``        ``roi_head.bbox_head.fc_cls`` (K + 1, D)
    ``roi_heads.box_predictor.bbox_pred``        ``roi_head.bbox_head.fc_reg`` (K * 4, D)
    ``roi_heads.mask_head.mask_fcn{k}[.norm]``   ``roi_head.mask_head.convs.{k-1}.conv``
                                                 [``.norm_layer``]
    ``roi_heads.mask_head.deconv``               ``roi_head.mask_head.upsample``
    ``roi_heads.mask_head.predictor``            ``roi_head.mask_head.conv_logits`` (K, C, 1, 1)
    ===========================================  ==============================================

    Both flatten RoI features channel-major before the first fc, order the
    RPN's anchors (aspect ratios 0.5, 1, 2) and box deltas (dx, dy, dw, dh)
    alike, so no tensor is permuted.

    Args:
        state (dict): ``{key: tensor}`` with detectron2's names (its
            ``'model'`` entry).

    Returns:
        dict: the same tensors under our names.
    """
    norm = _CONV_MODULE_NORM
    p = r'(?P<p>weight|bias)'
    return _rename(state, _simfp_rules(state) + [
        (r'backbone\.net\.(?P<rest>.+)', lambda m: f'backbone.{m["rest"]}'),
        (rf'proposal_generator\.rpn_head\.conv\.{p}', lambda m: f'rpn_head.rpn_conv.{m["p"]}'),
        (rf'proposal_generator\.rpn_head\.conv\.conv(?P<k>\d+)\.{p}',
         lambda m: f'rpn_head.rpn_conv.{m["k"]}.conv.{m["p"]}'),
        (rf'proposal_generator\.rpn_head\.objectness_logits\.{p}', lambda m: f'rpn_head.rpn_cls.{m["p"]}'),
        (rf'proposal_generator\.rpn_head\.anchor_deltas\.{p}', lambda m: f'rpn_head.rpn_reg.{m["p"]}'),
        (rf'roi_heads\.box_head\.conv(?P<k>\d+)\.{p}',
         lambda m: f'roi_head.bbox_head.shared_convs.{_minus_one(m)}.conv.{m["p"]}'),
        (rf'roi_heads\.box_head\.conv(?P<k>\d+)\.norm\.{p}',
         lambda m: f'roi_head.bbox_head.shared_convs.{_minus_one(m)}.{norm}.{m["p"]}'),
        (rf'roi_heads\.box_head\.fc(?P<k>\d+)\.{p}',
         lambda m: f'roi_head.bbox_head.shared_fcs.{_minus_one(m)}.{m["p"]}'),
        (rf'roi_heads\.box_predictor\.cls_score\.{p}', lambda m: f'roi_head.bbox_head.fc_cls.{m["p"]}'),
        (rf'roi_heads\.box_predictor\.bbox_pred\.{p}', lambda m: f'roi_head.bbox_head.fc_reg.{m["p"]}'),
        (rf'roi_heads\.mask_head\.mask_fcn(?P<k>\d+)\.{p}',
         lambda m: f'roi_head.mask_head.convs.{_minus_one(m)}.conv.{m["p"]}'),
        (rf'roi_heads\.mask_head\.mask_fcn(?P<k>\d+)\.norm\.{p}',
         lambda m: f'roi_head.mask_head.convs.{_minus_one(m)}.{norm}.{m["p"]}'),
        (rf'roi_heads\.mask_head\.deconv\.{p}', lambda m: f'roi_head.mask_head.upsample.{m["p"]}'),
        (rf'roi_heads\.mask_head\.predictor\.{p}', lambda m: f'roi_head.mask_head.conv_logits.{m["p"]}'),
    ])


_MAPPERS: Dict[str, Callable[[StateDict], StateDict]] = {
    'mmdfkd': dict,
    'mmdet-vitdet': map_mmdet_vitdet,
    'detectron2-vitdet': map_detectron2_vitdet,
}


def detect_layout(state: StateDict) -> str:
    """Which of :data:`LAYOUTS` names the keys of ``state``.

    detectron2's when a key starts with ``backbone.net.``,
    ``proposal_generator.`` or ``roi_heads.``; MMDetection's ViTDet when one
    starts with ``neck.fpn1.`` or ``neck.lateral_convs.`` (its SimpleFPN);
    otherwise ours.
    """
    if any(k.startswith(('backbone.net.', 'proposal_generator.', 'roi_heads.')) for k in state):
        return 'detectron2-vitdet'
    if any(k.startswith(('neck.fpn1.', 'neck.lateral_convs.')) for k in state):
        return 'mmdet-vitdet'
    return 'mmdfkd'


def _vitdet_abs_pos(pos_embed: Tensor, grid: Tuple[int, int]) -> Tensor:
    """ViTDet's ``get_abs_pos`` as a table: (1, [1 +] n*n, C) -> (1, h, w, C).

    The class-token slot is dropped and the n x n grid resized by plain
    bicubic interpolation (``align_corners=False``, no antialiasing), as both
    projects' ViTs do in every forward pass. timm's resize, which
    :meth:`ViT._adapt_state` uses, antialiases, and PyTorch's antialiased
    bicubic kernel differs from the plain one even when upsampling.
    """
    tokens = pos_embed.shape[1]
    side = math.isqrt(tokens - 1)
    if side * side != tokens - 1:
        side = math.isqrt(tokens)
        if side * side != tokens:
            raise ValueError(f'pos_embed {tuple(pos_embed.shape)} holds {tokens} positions, not n*n or 1 + n*n: '
                             'not a ViTDet checkpoint; set teacher.checkpoint_layout to its layout.')
    table = pos_embed[:, tokens - side * side:].reshape(1, side, side, -1)
    if (side, side) == tuple(grid):
        return table
    resized = F.interpolate(table.permute(0, 3, 1, 2).float(), size=tuple(grid), mode='bicubic', align_corners=False)
    return resized.permute(0, 2, 3, 1).to(pos_embed.dtype)


def resize_position_tables(model: nn.Module, state: StateDict, layout: str) -> StateDict:
    """Resize the position tables of every :class:`ViT` inside ``model`` as ViTDet does.

    For each ViT at ``prefix`` (e.g. ``'backbone.'``): in the ViTDet layouts,
    ``{prefix}pos_embed`` (1, [1 +] n*n, C) becomes the model's (1, h, w, C)
    by :func:`_vitdet_abs_pos`; a (1, h0, w0, C) table (ours) of another grid
    is resized by timm (as :meth:`ViT._adapt_state` does for pretrained
    weights). Each ``{prefix}blocks.i.attn.rel_pos_h`` / ``_w`` (L0, C_head)
    of another length becomes the model's (L, C_head) by linear interpolation,
    ViTDet's ``get_rel_pos``. Other keys are returned unchanged.
    """
    state = dict(state)
    for name, module in model.named_modules():
        if isinstance(module, ViT):
            prefix = f'{name}.' if name else ''
            pos_key = prefix + 'pos_embed'
            if layout != 'mmdfkd' and pos_key in state and state[pos_key].dim() == 3 and module.pos_embed is not None:
                state[pos_key] = _vitdet_abs_pos(state[pos_key], module.pos_embed.shape[1:3])
            own = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            state.update({prefix + k: v for k, v in module._adapt_state(own).items()})
    return state


def convert_state_dict(state: StateDict, model: nn.Module, layout: str = 'auto') -> Tuple[StateDict, str]:
    """``state`` under ``model``'s names, with its position tables at ``model``'s sizes.

    Args:
        state (dict): ``{key: tensor}`` of a checkpoint.
        model (nn.Module): the model it will be loaded into.
        layout (str): one of :data:`LAYOUTS`, or ``'auto'`` for
            :func:`detect_layout`.

    Returns:
        tuple[dict, str]: the renamed, resized state and the layout it was read as.

    Raises:
        ValueError: ``layout`` is not ``'auto'`` or one of :data:`LAYOUTS`.
    """
    if layout == 'auto':
        layout = detect_layout(state)
    if layout not in _MAPPERS:
        raise ValueError(f"Unknown checkpoint_layout {layout!r}; use 'auto' or one of {list(LAYOUTS)}.")
    return resize_position_tables(model, _MAPPERS[layout](state), layout), layout
