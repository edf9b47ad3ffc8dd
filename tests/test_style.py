"""The code base keeps ruff.toml's line length, import order and pyflakes rules."""
import os.path as osp
import shutil
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _ruff() -> list:
    if shutil.which('ruff'):
        return ['ruff']
    try:
        import ruff  # noqa: F401
    except ImportError:
        pytest.fail('ruff is not installed: pip install -r requirements/tests.txt (tools/install.sh does)')
    return [sys.executable, '-m', 'ruff']


def test_ruff_check_passes_on_the_whole_tree():
    result = subprocess.run(_ruff() + ['check', '--output-format', 'concise', '.'], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, f'ruff check failed; run `ruff check --fix .` and fix the rest:\n{result.stdout}'
