"""Result plots (matplotlib, imported on demand: ``import mmyowo`` does not
load matplotlib) and the demo's drawing of people with their action labels
(``action_labels``, OpenCV)."""
