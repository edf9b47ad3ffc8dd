"""Image classifiers (teachers and students of the classification path)."""
from .data_preprocessor import ClsDataPreprocessor
from .timm_classifier import TimmClassifier

__all__ = ['ClsDataPreprocessor', 'TimmClassifier']
