# The second benchmark: the Glyphs-Det ViTDet teacher (letters on photographs, 160 px) distilled
# WITHOUT its training images into the pico ViT student, scored on the real val split, with the
# generic recipe of Digits-Det unchanged.
#
#   python tools/prepare_data.py glyphs-det                     # real val split (and the teacher's data)
#   python tools/train.py configs/teachers/vitdet_glyphs-det.py  # the teacher
#   python tools/train.py configs/dfkd_vitdet-tiny_vit-pico_glyphs-det.py   # this file
#
# The recipe is configs/_base_/dfkd_det.py; this file states only the teacher, the val data, the
# image size and the class count (Digits-Det: configs/dfkd_vitdet-tiny_vit-pico_digits-det_generic.py).
_base_ = [
    './_base_/datasets/glyphs-det.py',
    './_base_/dfkd_det.py',
]

# ---- the benchmark: teacher, image size, classes ----
teacher_config = 'configs/teachers/vitdet_glyphs-det.py'
teacher_checkpoint = 'work_dirs/vitdet_glyphs-det/iter_800.pth'
img_size = 160
num_classes = len(_base_.metainfo['classes'])  # noqa: F821 (MMEngine's config namespace)

model = dict(
    teacher=dict(config=teacher_config, checkpoint=teacher_checkpoint),
    student=dict(backbone=dict(img_size=img_size), bbox_head=dict(num_classes=num_classes)),
    generator=dict(img_size=img_size, num_classes=num_classes))

train_dataloader = dict(
    _delete_=True,
    batch_size={{_base_.samples_per_step}},
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    # No images: the distiller synthesises them. tests/test_models/test_distiller.py proves it.
    dataset=dict(type='LatentDataset', metainfo={{_base_.metainfo}}))
