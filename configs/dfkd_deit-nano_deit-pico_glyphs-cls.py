# The second classification benchmark: the Glyphs-Cls DeiT-nano teacher (letters on photographs,
# 40 px) distilled WITHOUT its training images into the DeiT-pico student, scored on the REAL
# Glyphs-Cls val split, with the Digits-Cls recipe unchanged.
#
#   python tools/prepare_data.py glyphs-cls                       # real val split (and the teacher's data)
#   python tools/train.py configs/teachers/deit_glyphs-cls.py     # the teacher
#   python tools/train.py configs/dfkd_deit-nano_deit-pico_glyphs-cls.py   # this file
#
# This file states only the teacher, the val data, the image size and the class names;
# tests/test_configs/test_one_recipe.py fails on any other difference from the Digits-Cls config.
_base_ = ['./dfkd_deit-nano_deit-pico_digits-cls.py']
from mmdfkd.datasets import digits_cls_dataset  # noqa: E402 (a module: not part of the config)

# ---- the benchmark: teacher, image size, classes ----
teacher_config = 'configs/teachers/deit_glyphs-cls.py'
teacher_checkpoint = 'work_dirs/deit_glyphs-cls/iter_1500.pth'
img_size = 40
classes = digits_cls_dataset.GlyphsClsDataset.METAINFO['classes']

model = dict(
    teacher=dict(config=teacher_config, checkpoint=teacher_checkpoint),
    student=dict(model_kwargs=dict(img_size=img_size, num_classes=len(classes))),
    generator=dict(img_size=img_size))

train_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
val_dataloader = dict(dataset=dict(type='GlyphsClsDataset', data_root='data/glyphs-cls/'))
test_dataloader = val_dataloader
