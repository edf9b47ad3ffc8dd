"""What a user calls: export and load a student, look at synthetic images, run the whole pipeline."""
from .export import (
                     build_model,
                     classes_of,
                     export_student,
                     init_student,
                     load_distiller_checkpoint,
                     load_distiller_config,
                     student_config,
)
from .onnx import ONNX_ATOL, RawStudent, default_test_image, export_onnx, onnx_metadata, prepare_inputs, require_onnx
from .pipeline import run_pipeline
from .synthesis import browse_synthetic, load_distiller, synthesise

__all__ = [
    'build_model', 'classes_of', 'export_student', 'init_student', 'load_distiller_checkpoint',
    'load_distiller_config', 'student_config', 'ONNX_ATOL', 'RawStudent', 'default_test_image', 'export_onnx',
    'onnx_metadata', 'prepare_inputs', 'require_onnx', 'run_pipeline', 'browse_synthetic', 'load_distiller',
    'synthesise'
]
