"""Result plots (matplotlib, imported on demand: ``import mmyowo`` does not
load matplotlib)."""
