"""tools/browse_synthetic.py: N annotated PNGs from a checkpoint's generator."""
import json
import os.path as osp
import sys

import cv2
import pytest
import torch

from mmdfkd.apis.synthesis import browse_synthetic, load_distiller
from mmdfkd.testing import cls_run, det_run

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_det_writes_n_pngs_with_layouts_and_teacher_detections(tmp_path):
    config, ckpt, _ = det_run(tmp_path, 'conv')
    out = tmp_path / 'browse'
    result = browse_synthetic(config, ckpt, str(out), num=3, score_thr=0.0, batch_size=2)
    assert sorted(p.name for p in out.glob('*.png')) == ['0000.png', '0001.png', '0002.png']
    assert cv2.imread(result['files'][0]).shape == (256, 256, 3)  # 64x64, scaled 4x for readable labels
    index = json.load(open(out / 'index.json'))
    assert index['task'] == 'det' and len(index['images']) == 3
    first = index['images'][0]
    assert first['layout']['bboxes'] and first['teacher']['scores']  # score_thr 0: every kept box is drawn
    assert 'new images from ConvGenerator' in result['note']


def test_loaded_generator_is_the_checkpoints(tmp_path):
    config, ckpt, distiller = det_run(tmp_path, 'conv')
    model, _, classes = load_distiller(config, ckpt)
    assert classes == tuple(str(i) for i in range(10))
    for key, value in distiller.generator.state_dict().items():
        assert torch.equal(model.generator.state_dict()[key], value), key


def test_pixel_bank_dumps_the_batch_it_holds_and_says_so(tmp_path):
    config, ckpt, distiller = det_run(tmp_path, 'pixel')  # a bank of 2
    out = tmp_path / 'browse'
    result = browse_synthetic(config, ckpt, str(out), num=5, score_thr=1.0)  # no boxes drawn over the pixels
    assert len(result['files']) == 2 and 'holds only the last batch it optimised' in result['note']
    assert 'not the 5 asked for' in result['note']
    with torch.no_grad():
        held = distiller.generator(2).round().byte()
    for path, image in zip(result['files'], held):
        written = cv2.imread(path)[..., ::-1]  # 64x64 scaled 4x
        assert (written[::4, ::4] == image.permute(1, 2, 0).numpy()).all()
    assert 'layout' not in json.load(open(out / 'index.json'))['images'][0]


def test_cls_writes_topk_classes_in_file_names(tmp_path):
    config, ckpt, _ = cls_run(tmp_path)
    out = tmp_path / 'browse'
    result = browse_synthetic(config, ckpt, str(out), num=2, topk=2)
    names = sorted(osp.basename(p) for p in result['files'])
    assert len(names) == 2
    for name in names:  # e.g. 0000_7-0.31_2-0.12.png
        index, first, second = name[:-4].split('_')
        assert len(index) == 4 and first.split('-')[0] in '0123456789' and float(second.split('-')[1]) <= 1
    index = json.load(open(out / 'index.json'))
    assert len(index['images'][0]['teacher']['labels']) == 2


def test_errors(tmp_path, monkeypatch):
    config, ckpt, distiller = cls_run(tmp_path)
    with pytest.raises(ValueError, match='num must be >= 1'):
        browse_synthetic(config, ckpt, str(tmp_path / 'b'), num=0)
    # a checkpoint of another generator: the message names the mismatch and the config options
    with pytest.raises(RuntimeError, match=r'the distiller of .*: the weights do not match.*'
                       r'generator.fc.weight \(2048, 16\) vs \(2048, 8\).*same --cfg-options'):
        browse_synthetic(config, ckpt, str(tmp_path / 'b'), num=1,
                         cfg_options={'model.generator': dict(type='ConvGenerator', latent_dim=8, img_size=32)})
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import browse_synthetic as cli
    torch.save({'state_dict': distiller.teacher.state_dict()}, tmp_path / 'teacher.pth')
    monkeypatch.setattr(sys, 'argv', ['browse_synthetic.py', config, str(tmp_path / 'teacher.pth'), '--out',
                                      str(tmp_path / 'b')])
    with pytest.raises(SystemExit, match='browse_synthetic: .* not a DataFreeDistiller checkpoint'):
        cli.main()
    assert not (tmp_path / 'b').exists()
