"""mmdet types resolve through mmdfkd's registries with no prefix."""
import subprocess
import sys
import textwrap


def test_mmdet_retinanet_builds_from_mmdfkd_registry_in_fresh_process():
    code = textwrap.dedent('''
        from mmengine.registry import init_default_scope
        from mmdfkd.registry import MODELS
        init_default_scope('mmdfkd')
        model = MODELS.build(dict(
            type='RetinaNet',
            data_preprocessor=dict(type='DetDataPreprocessor'),
            backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(1, 2, 3)),
            neck=dict(type='FPN', in_channels=[128, 256, 512], out_channels=32,
                      start_level=0, add_extra_convs='on_input', num_outs=3),
            bbox_head=dict(type='RetinaHead', num_classes=10, in_channels=32, feat_channels=32,
                           stacked_convs=1,
                           anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                                 scales_per_octave=1, ratios=[1.0],
                                                 strides=[8, 16, 32]),
                           bbox_coder=dict(type='DeltaXYWHBBoxCoder'),
                           loss_cls=dict(type='FocalLoss', use_sigmoid=True),
                           loss_bbox=dict(type='L1Loss')),
            test_cfg=dict(nms_pre=10, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5),
                          max_per_img=5)))
        print(type(model).__module__, type(model).__name__)
    ''')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith('mmdet.models.detectors.retinanet RetinaNet')


def test_mmdfkd_registries_are_children_of_mmdet():
    from mmdet import registry as mmdet_registry

    from mmdfkd import registry
    for name in ('MODELS', 'DATASETS', 'TRANSFORMS', 'HOOKS', 'METRICS', 'LOOPS', 'OPTIM_WRAPPERS'):
        ours = getattr(registry, name)
        assert ours.scope == 'mmdfkd'
        assert ours.parent is getattr(mmdet_registry, name)
