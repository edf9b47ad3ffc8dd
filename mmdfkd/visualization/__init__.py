"""Pictures of synthetic images and of training runs."""
from .teacher_view import class_name, draw_synthetic_grid, draw_view, teacher_view, tile, view_file_name

__all__ = ['teacher_view', 'draw_view', 'draw_synthetic_grid', 'tile', 'class_name', 'view_file_name']
