"""Tiny models and distiller configs that run in seconds on a CPU, shared by the tests.

* :func:`tiny_fcos`: a ViTDet-style FCOS for 64x64 images;
* :func:`tiny_mask_rcnn`: the same backbone and neck with a Mask R-CNN head;
* :func:`tiny_classifier`: a timm ViT classifier for 32x32 images;
* :func:`det_distiller_cfg`: a detection :class:`~mmdfkd.models.DataFreeDistiller`
  config between them (its teacher checkpoint written to a folder), with every
  kind of prior, loss, connector and pseudo label switched on;
* :func:`build_with_optim`, :func:`snapshot`, :func:`changed`: build it with its
  optimizer wrappers and compare weights before and after a step.
"""
import torch
from mmengine.config import ConfigDict

from mmdfkd.engine.optim import DataFreeOptimWrapperConstructor
from mmdfkd.registry import MODELS

CLASSES = tuple(str(i) for i in range(10))


def tiny_fcos(embed_dim: int = 32, neck: int = 32, depth: int = 2) -> dict:
    """An FCOS ViTDet for 64x64 inputs, small enough for CPU tests."""
    return dict(
        type='FCOS',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
        backbone=dict(type='ViT', img_size=64, patch_size=16, embed_dim=embed_dim, depth=depth, num_heads=2,
                      window_size=2, global_attn_indexes=(depth - 1, ), use_rel_pos=True),
        neck=dict(type='SimpleFPN', in_channels=embed_dim, out_channels=neck, scale_factors=(2.0, 1.0, 0.5)),
        bbox_head=dict(type='FCOSHead', num_classes=10, in_channels=neck, feat_channels=neck, stacked_convs=1,
                       strides=[8, 16, 32], regress_ranges=((-1, 16), (16, 32), (32, 1e8)),
                       norm_cfg=dict(type='GN', num_groups=8, requires_grad=True),
                       loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
                       loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
                       loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
        test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.6),
                      max_per_img=20))


def tiny_mask_rcnn(embed_dim: int = 32, neck: int = 32, depth: int = 2, with_mask: bool = True) -> dict:
    """A two-stage ViTDet for 64x64 inputs: :func:`tiny_fcos`' backbone and neck, RPN + RoI box (+ mask) head."""
    model = tiny_fcos(embed_dim, neck, depth)
    del model['bbox_head'], model['test_cfg']
    roi_extractor = dict(type='SingleRoIExtractor', roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
                         out_channels=neck, featmap_strides=[8, 16, 32])
    roi_head = dict(
        type='StandardRoIHead', bbox_roi_extractor=roi_extractor,
        bbox_head=dict(type='Shared2FCBBoxHead', in_channels=neck, fc_out_channels=32, roi_feat_size=7,
                       num_classes=10, reg_class_agnostic=False,
                       bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                                       target_stds=[0.1, 0.1, 0.2, 0.2]),
                       loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                       loss_bbox=dict(type='L1Loss', loss_weight=1.0)))
    if with_mask:
        roi_head.update(
            mask_roi_extractor=dict(roi_extractor, roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0)),
            mask_head=dict(type='FCNMaskHead', num_convs=1, in_channels=neck, conv_out_channels=16, num_classes=10,
                           loss_mask=dict(type='CrossEntropyLoss', use_mask=True, loss_weight=1.0)))
    assigner = dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                    match_low_quality=True, ignore_iof_thr=-1)
    proposals = dict(nms_pre=200, max_per_img=50, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0)
    model.update(
        type='MaskRCNN' if with_mask else 'FasterRCNN',
        rpn_head=dict(type='RPNHead', in_channels=neck, feat_channels=neck,
                      anchor_generator=dict(type='AnchorGenerator', scales=[2], ratios=[1.0], strides=[8, 16, 32]),
                      bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[1.0] * 4),
                      loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
                      loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        roi_head=roi_head,
        train_cfg=dict(
            rpn=dict(assigner=dict(assigner, pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3),
                     sampler=dict(type='RandomSampler', num=32, pos_fraction=0.5, neg_pos_ub=-1,
                                  add_gt_as_proposals=False),
                     allowed_border=-1, pos_weight=-1, debug=False),
            rpn_proposal=proposals,
            rcnn=dict(assigner=assigner,
                      sampler=dict(type='RandomSampler', num=32, pos_fraction=0.25, neg_pos_ub=-1,
                                   add_gt_as_proposals=True),
                      mask_size=28, pos_weight=-1, debug=False)),
        test_cfg=dict(rpn=proposals,
                      rcnn=dict(score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=20,
                                mask_thr_binary=0.5)))
    return ConfigDict(model)  # mmdet's two-stage detectors read train_cfg.rpn as attributes


def tiny_classifier(embed_dim: int = 32) -> dict:
    """A 2-block timm ViT for 32x32 images, patch 8, 10 classes."""
    return dict(type='TimmClassifier', model_name='vit_tiny_patch16_224',
                model_kwargs=dict(img_size=32, patch_size=8, embed_dim=embed_dim, depth=2, num_heads=2,
                                  num_classes=10),
                data_preprocessor=dict(type='ClsDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3))


GENERATORS = {
    'pixel': dict(type='PixelBankGenerator', batch_size=2),
    'conv': dict(type='ConvGenerator', latent_dim=16),
    'vit': dict(type='TransformerGenerator', latent_dim=16),
}


def det_distiller_cfg(tmp_path, generator: str = 'pixel', **overrides) -> dict:
    """A detection distiller config: :func:`tiny_fcos` teacher (checkpoint in ``tmp_path``), smaller student.

    Args:
        tmp_path (pathlib.Path): where ``teacher.pth`` is written.
        generator (str): a key of :data:`GENERATORS`.
        overrides: replace top-level keys of the config.
    """
    teacher = MODELS.build(tiny_fcos())
    ckpt = str(tmp_path / 'teacher.pth')
    torch.save({'state_dict': teacher.state_dict()}, ckpt)
    cfg = dict(
        type='DataFreeDistiller', task='det',
        teacher=dict(model=tiny_fcos(), checkpoint=ckpt),
        student=tiny_fcos(embed_dim=16, neck=16, depth=1),
        generator=dict(GENERATORS[generator], img_size=64),
        layout_sampler=dict(type='LayoutSampler', min_size=12, max_size=30, max_objects=2),
        augment=dict(type='DifferentiableAugment', jitter=2, flip=False, scale_range=(0.9, 1.1)),
        priors=dict(task=dict(type='DetTaskPrior', loss_weight=1.0), tv=dict(type='TVPrior', loss_weight=0.1),
                    adv=dict(type='AdversarialPrior', tap='head', loss_weight=0.1)),
        distill_losses=dict(head=dict(type='DenseHeadKDLoss', tap='head'),
                            feats=dict(type='FeatureKDLoss', tap='feats')),
        connectors=dict(feats=dict(type='ConvConnector', in_channels=16, out_channels=32)),
        pseudo_label=dict(score_thr=0.0, loss_weight=1.0),
        generator_steps=2, student_steps=2, memory_capacity=8)
    cfg.update(overrides)
    return cfg


def build_with_optim(cfg: dict):
    """The distiller of ``cfg`` and its generator/student ``OptimWrapperDict`` (Adam 0.05, AdamW 1e-3)."""
    model = MODELS.build(cfg)
    optim = DataFreeOptimWrapperConstructor(dict(
        generator=dict(optimizer=dict(type='Adam', lr=0.05)),
        student=dict(optimizer=dict(type='AdamW', lr=1e-3))))(model)
    return model, optim


def snapshot(module: torch.nn.Module) -> dict:
    """A detached copy of ``module``'s state dict."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict, module: torch.nn.Module) -> bool:
    """Whether any floating-point tensor of ``module`` differs from ``before`` (a :func:`snapshot`)."""
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items() if v.is_floating_point())
