"""Shared pytest configuration: torch threads from OMP_NUM_THREADS (default 1,
so tests do not thrash when another process holds a core), and the plugin."""
import os

import torch

torch.set_num_threads(max(1, int(os.environ.get('OMP_NUM_THREADS', '1'))))

import mmyowo  # noqa: E402,F401  (registers every component)
