"""Shared test set-up."""
import torch
from mmengine.registry import init_default_scope

# The test models are tiny: one intra-op thread is as fast as two for them, and it keeps
# parallel test runs on a 2-core machine from fighting over OpenMP threads.
torch.set_num_threads(1)

# Every mmdfkd config sets `default_scope = 'mmdfkd'`, and the first test that builds a runner
# sets it for the rest of the session. Set it here as well, so that a test file run on its own
# (e.g. tests/test_tools/test_export_student.py) builds models in the same scope as the suite.
init_default_scope('mmdfkd')
