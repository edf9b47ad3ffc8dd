"""placeholder"""
from .accuracy import ClsAccuracy  # noqa: F401
