"""Shared test set-up."""
import torch

# The test models are tiny: one intra-op thread is as fast as two for them, and it keeps
# parallel test runs on a 2-core machine from fighting over OpenMP threads.
torch.set_num_threads(1)
