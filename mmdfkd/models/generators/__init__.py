"""Generators of synthetic images and the layouts they can be conditioned on."""
from .base import BaseGenerator
from .conv_generator import ConvGenerator
from .layout import LayoutSampler, render_layout
from .pixel_bank import PixelBankGenerator
from .real_images import RealImageGenerator
from .sprite_bank import SpriteBankGenerator
from .sprite_transformer import SpriteTransformerGenerator
from .teacher_layout import TeacherLayoutSampler, head_size_range
from .vit_generator import TransformerGenerator

__all__ = [
    'BaseGenerator', 'ConvGenerator', 'LayoutSampler', 'PixelBankGenerator', 'RealImageGenerator',
    'SpriteBankGenerator', 'SpriteTransformerGenerator', 'TeacherLayoutSampler', 'TransformerGenerator',
    'head_size_range', 'render_layout'
]
