# Teacher for Digits-Cls, trained on the real train split:
#   python tools/prepare_data.py digits-cls
#   python tools/train.py configs/teachers/deit_digits-cls.py
#   python tools/test.py configs/teachers/deit_digits-cls.py work_dirs/deit_digits-cls/iter_1500.pth
_base_ = [
    '../_base_/models/deit-nano_cls.py',
    '../_base_/datasets/digits-cls.py',
    '../_base_/schedules/teacher_deit.py',
]

