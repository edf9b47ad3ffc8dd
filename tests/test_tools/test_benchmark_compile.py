"""tools/benchmark_compile.py: times the kinds asked for, eager first, for the student or the teacher."""
import os.path as osp
import runpy
import sys

import pytest
from mmengine.registry import init_default_scope

from mmdfkd.testing import write_tiny_benchmark

TOOL = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'benchmark_compile.py')


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    init_default_scope('mmdfkd')
    return write_tiny_benchmark(tmp_path_factory.mktemp('compile'))


@pytest.mark.parametrize('model', ['student', 'teacher'])
def test_times_eager_and_fused_attention(tiny, model, monkeypatch, capsys):
    monkeypatch.setattr(sys, 'argv', [TOOL, tiny['config'], '--batch', '1', '--repeats', '1', '--model', model,
                                      '--kinds', 'fused_attention', '--fp32'])
    runpy.run_path(TOOL, run_name='__main__')
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith('| ') and ' ms |' in line]
    assert [row.split('|')[1].strip() for row in rows] == ['eager', 'fused_attention']
    assert rows[0].endswith('| 1.00x |')
    assert out.count('[compile]') == 2 and f'{model}, ' in out and 'fp32' in out
