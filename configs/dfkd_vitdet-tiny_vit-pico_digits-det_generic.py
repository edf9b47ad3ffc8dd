# The generic detection recipe on Digits-Det: the Digits-Det ViTDet teacher distilled WITHOUT its
# training images into a pico ViT student (< 1/5 of the teacher's parameters), scored on the
# real val split, with layouts and appearance derived from the teacher instead of the Digits
# renderer (the headline, configs/dfkd_vitdet_tiny.py, still uses the renderer's; issue 14).
#
#   python tools/prepare_data.py digits-det                     # real val split (and the teacher's data)
#   python tools/train.py configs/teachers/vitdet_digits-det.py  # the teacher
#   python tools/train.py configs/dfkd_vitdet-tiny_vit-pico_digits-det_generic.py   # this file
#
# The recipe is configs/_base_/dfkd_det.py; this file states only the teacher, the val data, the
# image size and the class count (Glyphs-Det: configs/dfkd_vitdet-tiny_vit-pico_glyphs-det.py).
_base_ = [
    './_base_/datasets/digits-det.py',
    './_base_/dfkd_det.py',
]

# ---- the benchmark: teacher, image size, classes ----
teacher_config = 'configs/teachers/vitdet_digits-det.py'
teacher_checkpoint = 'work_dirs/vitdet_digits-det/iter_800.pth'
img_size = 128
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
