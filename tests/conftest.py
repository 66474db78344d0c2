"""Shared pytest configuration: keep torch on the few CPU cores CI has, and import the plugin."""
import os

import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

import mmyowo  # noqa: E402,F401  (registers every component)
