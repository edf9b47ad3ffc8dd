# configs/dfkd_vitdet-b-mask-rcnn_vit-s_coco.py with the teacher checkpoint MMDetection's projects/ViTDet
# releases (vitdet_mask-rcnn_vit-b-mae_lsj-100e): download it yourself (this package downloads nothing)
# and put it at `teacher_checkpoint`. Its keys are renamed and its 14x14 pretraining position table
# resized to 64x64 on load (mmdfkd/models/checkpoint_layouts.py, layout 'mmdet-vitdet'); a key that
# does not map is an error that lists it.
#   bash tools/dist_train.sh configs/dfkd_vitdet-b-mask-rcnn_vit-s_coco_from-mmdet.py 8
_base_ = './dfkd_vitdet-b-mask-rcnn_vit-s_coco.py'

teacher_checkpoint = 'checkpoints/vitdet_mask-rcnn_vit-b-mae_lsj-100e.pth'

model = dict(teacher=dict(checkpoint=teacher_checkpoint, checkpoint_layout='mmdet-vitdet'))
