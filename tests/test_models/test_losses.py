"""Distillation losses against hand computations on tiny tensors."""
import math

import pytest
import torch

from mmdfkd.models.losses import (
    AttentionKDLoss,
    DenseHeadKDLoss,
    FeatureKDLoss,
    KLDivLoss,
    PseudoLabelCELoss,
    PseudoLabelDetLoss,
)
from mmdfkd.registry import MODELS


def _softmax(row, tau=1.0):
    exps = [math.exp(v / tau) for v in row]
    return [e / sum(exps) for e in exps]


def _sigmoid(v):
    return 1 / (1 + math.exp(-v))


def _binary_kl(s, t):
    ps, pt = _sigmoid(s), _sigmoid(t)
    return pt * math.log(pt / ps) + (1 - pt) * math.log((1 - pt) / (1 - ps))


@pytest.mark.parametrize('name', ['KLDivLoss', 'PseudoLabelCELoss', 'DenseHeadKDLoss', 'FeatureKDLoss',
                                  'AttentionKDLoss', 'PseudoLabelDetLoss'])
def test_losses_build_from_registry(name):
    assert type(MODELS.build(dict(type=name, loss_weight=2.0))).__module__.startswith('mmdfkd.')


# ---------------------------------------------------------------- logits
def test_kl_div_matches_hand_computation():
    logits_S = [[1., 2., 3.], [0., 0., 0.]]
    logits_T = [[3., 2., 1.], [1., 0., -1.]]
    tau = 2.0
    rows = []
    for s, t in zip(logits_S, logits_T):
        p_S, p_T = _softmax(s, tau), _softmax(t, tau)
        rows.append(sum(pt * math.log(pt / ps) for ps, pt in zip(p_S, p_T)))
    expected = 0.5 * tau**2 * sum(rows) / len(rows)
    loss = KLDivLoss(tau=tau, loss_weight=0.5)(torch.tensor(logits_S), torch.tensor(logits_T))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert KLDivLoss()(torch.tensor(logits_T), torch.tensor(logits_T)).item() == pytest.approx(0, abs=1e-6)


def test_kl_div_mismatch_says_num_classes():
    with pytest.raises(ValueError, match='num_classes'):
        KLDivLoss()(torch.zeros(2, 10), torch.zeros(2, 80))


def test_pseudo_label_ce_matches_hand_computation():
    logits_S = [[1., 2., 3.], [0., 1., 0.]]
    logits_T = [[0., 5., 1.], [2., 0., 0.]]  # argmax 1, 0
    expected = sum(math.log(sum(math.exp(v) for v in s)) - s[y] for s, y in zip(logits_S, [1, 0])) / 2
    loss = PseudoLabelCELoss(loss_weight=3.0)(torch.tensor(logits_S), torch.tensor(logits_T))
    assert loss.item() == pytest.approx(3 * expected, rel=1e-5)


# ---------------------------------------------------------------- dense head
def _dense_head_expected(cls_S, cls_T, bbox_S, bbox_T, ctr_S=None, ctr_T=None, bg_weight=0.1):
    """One level, N=1, nested lists [channel][row][col]; explicit formulas."""
    K, H, W = len(cls_T), len(cls_T[0]), len(cls_T[0][0])
    w = [[max(_sigmoid(cls_T[k][i][j]) for k in range(K)) for j in range(W)] for i in range(H)]
    w_sum = sum(map(sum, w))
    locs = [(i, j) for i in range(H) for j in range(W)]
    kl = {(k, i, j): _binary_kl(cls_S[k][i][j], cls_T[k][i][j]) for k in range(K) for i, j in locs}
    cls = sum(w[i][j] * sum(kl[k, i, j] for k in range(K)) / K for i, j in locs) / w_sum
    cls += bg_weight * sum(kl.values()) / len(kl)
    C = len(bbox_T)
    bbox = sum(w[i][j] * sum(abs(bbox_S[c][i][j] - bbox_T[c][i][j]) for c in range(C)) / C for i, j in locs) / w_sum
    ctr = 0.
    if ctr_S is not None:
        ctr = sum(w[i][j] * _binary_kl(ctr_S[0][i][j], ctr_T[0][i][j]) for i, j in locs) / w_sum
    return cls, bbox, ctr


def test_dense_head_kd_matches_hand_computation():
    cls_S = [[[0.5, -1.], [2., 0.]], [[-2., 1.], [0., 0.3]]]  # (K=2, 2, 2)
    cls_T = [[[3., -2.], [1., -1.]], [[-3., 0.], [2., -0.5]]]
    bbox_S = [[[0.1 * (c + i + j) for j in range(2)] for i in range(2)] for c in range(4)]
    bbox_T = [[[0.3 * c - 0.2 * i + j for j in range(2)] for i in range(2)] for c in range(4)]
    ctr_S = [[[0.2, -0.4], [1.0, 0.]]]
    ctr_T = [[[1.5, 0.5], [-1., 0.7]]]
    t = lambda x: [torch.tensor([x])]  # noqa: E731  one level, N=1
    cls, bbox, ctr = _dense_head_expected(cls_S, cls_T, bbox_S, bbox_T, ctr_S, ctr_T)
    loss_fn = DenseHeadKDLoss(cls_weight=1.0, bbox_weight=0.5, centerness_weight=2.0, loss_weight=3.0)
    loss = loss_fn((t(cls_S), t(bbox_S), t(ctr_S)), (t(cls_T), t(bbox_T), t(ctr_T)))
    assert loss.item() == pytest.approx(3 * (cls + 0.5 * bbox + 2 * ctr), rel=1e-4)
    # without centerness (RetinaNet-like)
    loss = DenseHeadKDLoss(bg_weight=0.)((t(cls_S), t(bbox_S)), (t(cls_T), t(bbox_T)))
    cls, bbox, _ = _dense_head_expected(cls_S, cls_T, bbox_S, bbox_T, bg_weight=0.)
    assert loss.item() == pytest.approx(cls + bbox, rel=1e-4)


def test_dense_head_kd_zero_when_heads_agree_and_weights_detached():
    preds = ([torch.randn(2, 3, 4, 4), torch.randn(2, 3, 2, 2)], [torch.randn(2, 4, 4, 4), torch.randn(2, 4, 2, 2)])
    assert DenseHeadKDLoss()(preds, preds).item() == pytest.approx(0, abs=1e-5)
    cls_T = torch.zeros(1, 3, 2, 2, requires_grad=True)
    cls_S = torch.ones(1, 3, 2, 2, requires_grad=True)
    bbox = [torch.zeros(1, 4, 2, 2)]
    DenseHeadKDLoss(bbox_weight=0.)(([cls_S], bbox), ([cls_T], bbox)).backward()
    assert cls_S.grad.abs().sum() > 0 and cls_T.grad is not None  # teacher targets keep their graph


def test_dense_head_kd_on_real_mmdet_heads_and_class_mismatch_message():
    def head(num_classes):
        return MODELS.build(dict(type='FCOSHead', num_classes=num_classes, in_channels=8, feat_channels=8,
                                 stacked_convs=1, strides=[8, 16], norm_cfg=None))

    feats = [torch.randn(1, 8, 4, 4), torch.randn(1, 8, 2, 2)]
    teacher, student = head(10), head(10)
    loss = DenseHeadKDLoss()(student(feats), teacher(feats))
    assert loss.dim() == 0 and torch.isfinite(loss) and loss > 0
    with pytest.raises(ValueError, match='teacher head has 10 classes, student head has 80'):
        DenseHeadKDLoss()(head(80)(feats), teacher(feats))
    with pytest.raises(ValueError, match='strides'):
        DenseHeadKDLoss()(student([feats[0], feats[0]]), teacher(feats))


# ---------------------------------------------------------------- features
def test_feature_kd_values():
    zeros, ones = torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2)
    raw = FeatureKDLoss(normalize=False, loss_weight=2.0)
    assert raw([zeros, zeros], [zeros, zeros]).item() == 0
    assert raw([ones, 3 * ones], [zeros, zeros]).item() == pytest.approx(2 * (1 + 9) / 2)
    # normalised: channels [0, 2] -> [-1, 1], [2, 0] -> [1, -1] at every location: MSE 4
    feat_S = torch.tensor([0., 2.]).reshape(1, 2, 1, 1).expand(1, 2, 3, 3)
    assert FeatureKDLoss()(feat_S, feat_S.flip(1)).item() == pytest.approx(4, rel=1e-4)
    # invariant to a per-location affine change of the teacher; tokens (N, T, C) normalise over C
    feat_T = torch.randn(2, 4, 3, 3)
    assert FeatureKDLoss()(feat_T, 3 * feat_T + 5).item() == pytest.approx(0, abs=1e-6)
    tokens = torch.randn(2, 5, 4)
    assert FeatureKDLoss()(tokens, 2 * tokens - 1).item() == pytest.approx(0, abs=1e-6)


def test_feature_kd_channel_mismatch_names_the_connector():
    with pytest.raises(ValueError, match=r"connectors=dict\(neck=dict\(type='ConvConnector', in_channels=2, "
                                         r'out_channels=4\)\)'):
        FeatureKDLoss()([torch.zeros(1, 2, 4, 4)], [torch.zeros(1, 4, 4, 4)])
    with pytest.raises(ValueError, match='LinearConnector'):
        FeatureKDLoss()(torch.zeros(1, 3, 2), torch.zeros(1, 3, 8))
    with pytest.raises(ValueError, match='levels'):
        FeatureKDLoss()([torch.zeros(1, 2, 4, 4)], [torch.zeros(1, 2, 4, 4)] * 2)


# ---------------------------------------------------------------- attention
def test_attention_kd_hand_value_and_zero_on_identical():
    attn_T = torch.tensor([[0.9, 0.1], [0.2, 0.8]]).reshape(1, 1, 2, 2)
    attn_S = torch.full((1, 1, 2, 2), 0.5)
    expected = (0.9 * math.log(1.8) + 0.1 * math.log(0.2) + 0.2 * math.log(0.4) + 0.8 * math.log(1.6)) / 2
    assert AttentionKDLoss()([attn_S], [attn_T]).item() == pytest.approx(expected, rel=1e-5)
    assert AttentionKDLoss()(attn_T, attn_T).item() == pytest.approx(0, abs=1e-7)
    random_S = torch.softmax(torch.randn(2, 3, 4, 4), -1)
    assert AttentionKDLoss()(random_S, torch.softmax(torch.randn(2, 3, 4, 4), -1)).item() > 0


def test_attention_kd_averages_heads_first_and_unfolds_timm_maps():
    heads_S = torch.tensor([[[1., 0.], [0., 1.]], [[0., 1.], [1., 0.]]]).unsqueeze(0)  # (1, 2 heads, 2, 2)
    uniform_T = torch.full((1, 3, 2, 2), 0.5)  # 3 teacher heads
    assert AttentionKDLoss()(heads_S, uniform_T).item() == pytest.approx(0, abs=1e-6)
    attn_S, attn_T = torch.softmax(torch.randn(2, 2, 4, 4), -1), torch.softmax(torch.randn(2, 4, 4, 4), -1)
    folded = AttentionKDLoss(num_heads_S=2, num_heads_T=4)(attn_S.flatten(0, 1), attn_T.flatten(0, 1))
    assert folded.item() == pytest.approx(AttentionKDLoss()(attn_S, attn_T).item(), rel=1e-6)
    with pytest.raises(ValueError, match='num_heads_S / num_heads_T'):
        AttentionKDLoss()(attn_S.flatten(0, 1), attn_T.flatten(0, 1))


def test_attention_kd_token_count_mismatch():
    with pytest.raises(ValueError, match='token count T must match'):
        AttentionKDLoss()(torch.full((1, 2, 4, 4), 0.25), torch.full((1, 2, 9, 9), 1 / 9))
    with pytest.raises(ValueError, match='token counts must match'):
        AttentionKDLoss(mode='token_relation')(torch.randn(1, 4, 8), torch.randn(1, 9, 8))
    with pytest.raises(ValueError, match='layers'):
        AttentionKDLoss()([torch.full((1, 2, 4, 4), 0.25)], [])


def test_token_relation_values_and_layouts():
    loss_fn = AttentionKDLoss(mode='token_relation', loss_weight=2.0)
    tokens_T = torch.tensor([[[1., 0.], [0., 1.]]])  # Gram I
    tokens_S = torch.tensor([[[1., 0.], [1., 0.]]])  # Gram all ones
    assert loss_fn(tokens_S, tokens_T).item() == pytest.approx(2 * 0.5)
    # channel widths may differ: padding with zeros keeps every cosine
    tokens = torch.randn(2, 6, 3)
    assert loss_fn([torch.cat([tokens, torch.zeros(2, 6, 5)], -1)], [tokens]).item() == pytest.approx(0, abs=1e-6)
    # an NHWC teacher map against the same tokens as an NCHW student map
    nhwc = torch.randn(2, 2, 3, 4)
    loss_fn = AttentionKDLoss(mode='token_relation', layout_S='NCHW', layout_T='NHWC')
    assert loss_fn(nhwc.permute(0, 3, 1, 2), nhwc).item() == pytest.approx(0, abs=1e-6)


# ---------------------------------------------------------------- pseudo-label detection
def test_pseudo_label_det_make_targets_filters_sorts_and_keeps_metainfo():
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    result = DetDataSample(metainfo=dict(img_shape=(64, 64), img_id=7))
    result.pred_instances = InstanceData(bboxes=torch.arange(16.).reshape(4, 4).requires_grad_(),
                                         scores=torch.tensor([0.9, 0.2, 0.5, 0.4]),
                                         labels=torch.tensor([3, 1, 2, 0]))
    empty = DetDataSample(metainfo=dict(img_shape=(64, 64), img_id=8))
    empty.pred_instances = InstanceData(bboxes=torch.zeros(0, 4), scores=torch.zeros(0),
                                        labels=torch.zeros(0, dtype=torch.long))
    loss_fn = PseudoLabelDetLoss(score_thr=0.3, max_per_img=2)
    targets = loss_fn.make_targets([result, empty])
    gt = targets[0].gt_instances
    assert gt.labels.tolist() == [3, 2]  # scores 0.9, 0.5; 0.4 cut by max_per_img, 0.2 by score_thr
    torch.testing.assert_close(gt.bboxes, torch.tensor([[0., 1, 2, 3], [8, 9, 10, 11]]))
    assert not gt.bboxes.requires_grad
    assert targets[0].metainfo == dict(img_shape=(64, 64), img_id=7)
    assert targets[1].gt_instances.bboxes.shape == (0, 4)
    assert loss_fn.make_targets([result], score_thr=0.1, max_per_img=10)[0].gt_instances.labels.tolist() == [3, 2, 0, 1]


def test_pseudo_label_det_sums_loss_entries():
    losses = dict(loss_cls=torch.tensor(1.), loss_bbox=[torch.tensor(2.), torch.tensor([3., 3.])],
                  acc=torch.tensor(100.), **{'d0.loss_iou': torch.tensor(0.5)})
    assert PseudoLabelDetLoss(loss_weight=2.0)(losses).item() == pytest.approx(2 * 6.5)
    with pytest.raises(ValueError, match='student.loss'):
        PseudoLabelDetLoss()(dict(acc=torch.tensor(1.)))


def test_pseudo_label_det_trains_a_different_mmdet_student_on_teacher_detections():
    from mmdet.structures import DetDataSample
    from mmengine.config import ConfigDict
    from mmengine.registry import init_default_scope

    init_default_scope('mmdfkd')
    neck = dict(type='FPN', in_channels=[16, 32], out_channels=16, num_outs=2)
    backbone = dict(type='ResNet', depth=18, num_stages=2, strides=(1, 2), dilations=(1, 1), out_indices=(0, 1),
                    base_channels=16)
    test_cfg = ConfigDict(nms_pre=50, score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=10)
    teacher = MODELS.build(dict(
        type='FCOS', backbone=backbone, neck=neck, test_cfg=test_cfg,
        bbox_head=dict(type='FCOSHead', num_classes=3, in_channels=16, feat_channels=16, stacked_convs=1,
                       strides=[4, 8], norm_cfg=None))).eval()
    student = MODELS.build(dict(
        type='RetinaNet', backbone=backbone, neck=neck,
        bbox_head=dict(type='RetinaHead', num_classes=3, in_channels=16, feat_channels=16, stacked_convs=1,
                       anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=1,
                                             ratios=[1.0], strides=[4, 8]),
                       bbox_coder=dict(type='DeltaXYWHBBoxCoder'),
                       loss_cls=dict(type='FocalLoss', use_sigmoid=True), loss_bbox=dict(type='L1Loss')),
        train_cfg=ConfigDict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0),
                             sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1)))
    images = torch.randn(2, 3, 32, 32)
    meta = dict(img_shape=(32, 32), ori_shape=(32, 32), pad_shape=(32, 32), batch_input_shape=(32, 32),
                scale_factor=(1., 1.))
    with torch.no_grad():
        results = teacher.predict(images, [DetDataSample(metainfo=meta) for _ in range(2)], rescale=False)
    loss_fn = PseudoLabelDetLoss(score_thr=0.0, max_per_img=5)
    targets = loss_fn.make_targets(results)
    assert [len(t.gt_instances) for t in targets] == [5, 5]
    loss = loss_fn(student.loss(images, targets))
    loss.backward()
    assert torch.isfinite(loss) and student.bbox_head.retina_cls.weight.grad is not None
