"""Plots of evaluation results: per-class AP, precision-recall curves and
the detection confusion matrix (paper §4.4, Fig. 10-13).

Figures are drawn on :class:`matplotlib.figure.Figure` objects with the Agg
canvas, never through ``pyplot``, so plotting touches no global backend
state and works without a display.
"""
import math
import os.path as osp
from typing import List, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mmyowo.utils.atomic_io import atomic_writer


def _save(fig: Figure, out_file: str) -> None:
    """Write ``fig`` to ``out_file`` atomically, creating its folder.

    The format follows the file's suffix (PNG without one), as
    ``savefig(out_file)`` would choose it.
    """
    FigureCanvasAgg(fig)
    suffix = osp.splitext(out_file)[1].lower().lstrip('.')
    with atomic_writer(out_file) as f:
        fig.savefig(
            f, format=suffix or 'png', dpi=fig.dpi, bbox_inches='tight')


def plot_class_ap(ap: np.ndarray,
                  class_names: Sequence[str],
                  out_file: str,
                  title: str = 'AP per class') -> None:
    """Bar chart of per-class AP (Fig. 10-11).

    Args:
        ap: ``(C,)`` APs in [0, 1]; NaN (class without ground truth) is
            drawn as an empty slot marked ``n/a``.
        class_names: ``C`` names.
        out_file: PNG path.
        title: Figure title; the mean AP is appended.
    """
    ap = np.asarray(ap, dtype=np.float64)
    if len(ap) != len(class_names):
        raise ValueError(f'{len(ap)} APs for {len(class_names)} classes')
    valid = ~np.isnan(ap)
    fig = Figure(figsize=(max(6.0, 0.45 * len(ap) + 2), 4.5), dpi=100)
    ax = fig.add_subplot()
    x = np.arange(len(ap))
    heights = np.where(valid, 100 * ap, 0.0)
    bars = ax.bar(x, heights, color='tab:blue')
    for bar, value, ok in zip(bars, heights, valid):
        ax.text(
            bar.get_x() + bar.get_width() / 2,
            value + 1,
            f'{value:.1f}' if ok else 'n/a',
            ha='center',
            va='bottom',
            fontsize=7,
            rotation=90)
    mean = 100 * ap[valid].mean() if valid.any() else float('nan')
    ax.axhline(mean, color='tab:red', linestyle='--', linewidth=1)
    ax.set_xticks(x)
    ax.set_xticklabels(class_names, rotation=60, ha='right', fontsize=8)
    ax.set_ylim(0, 110)
    ax.set_ylabel('AP (%)')
    ax.set_title(f'{title} (mean {mean:.1f}%)')
    _save(fig, out_file)


def plot_pr_curves(precision: List[np.ndarray], recall: List[np.ndarray],
                   ap: np.ndarray, class_names: Sequence[str],
                   out_file: str) -> None:
    """Precision-recall curve of every class, one subplot each, one figure.

    Only the points where recall grows are drawn (a class of a million
    detections has at most as many points as ground-truth boxes).

    Args:
        precision, recall: Per class, the curve after each ranked detection
            (as returned by ``frame_map``).
        ap: ``(C,)`` APs shown in the subplot titles.
        class_names: ``C`` names.
        out_file: PNG path.
    """
    num = len(class_names)
    if not len(precision) == len(recall) == len(ap) == num:
        raise ValueError('precision, recall, ap and class_names must have '
                         'one entry per class')
    cols = max(1, math.ceil(math.sqrt(num)))
    rows = max(1, math.ceil(num / cols))
    fig = Figure(figsize=(2.6 * cols, 2.4 * rows), dpi=100)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= num:
            ax.set_axis_off()
            continue
        rec, prec = np.asarray(recall[i]), np.asarray(precision[i])
        if rec.size:
            steps = np.flatnonzero(np.diff(np.concatenate(([0.0], rec))))
            ax.plot(rec[steps], prec[steps], linewidth=1)
        ap_text = 'n/a' if np.isnan(ap[i]) else f'{100 * ap[i]:.1f}'
        ax.set_title(f'{class_names[i]} (AP {ap_text})', fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
    fig.supxlabel('recall')
    fig.supylabel('precision')
    fig.tight_layout()
    _save(fig, out_file)


def normalize_confusion_matrix(matrix: np.ndarray) -> np.ndarray:
    """Divide each row by its sum (rows without boxes stay 0)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    sums = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)


def plot_confusion_matrix(matrix: np.ndarray,
                          class_names: Sequence[str],
                          out_file: str,
                          title: str = 'Confusion matrix') -> None:
    """Row-normalised confusion matrix (Fig. 12-13).

    Args:
        matrix: ``(C, C + 1)`` counts from ``detection_confusion_matrix``
            (last column: missed boxes).
        class_names: ``C`` names.
        out_file: PNG path.
        title: Figure title.
    """
    num = len(class_names)
    if matrix.shape != (num, num + 1):
        raise ValueError(f'confusion matrix must be ({num}, {num + 1}) for '
                         f'{num} classes, got {matrix.shape}')
    rates = normalize_confusion_matrix(matrix)
    size = max(5.0, 0.42 * num + 2)
    fig = Figure(figsize=(size + 1, size), dpi=100)
    ax = fig.add_subplot()
    image = ax.imshow(rates, cmap='Blues', vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(np.arange(num + 1))
    ax.set_xticklabels(
        list(class_names) + ['missed'], rotation=60, ha='right', fontsize=7)
    ax.set_yticks(np.arange(num))
    ax.set_yticklabels(class_names, fontsize=7)
    ax.set_xlabel('predicted class')
    ax.set_ylabel('ground-truth class')
    ax.set_title(title)
    for (row, col), value in np.ndenumerate(rates):
        if value >= 0.005:
            ax.text(
                col,
                row,
                f'{100 * value:.0f}',
                ha='center',
                va='center',
                fontsize=6,
                color='white' if value > 0.5 else 'black')
    _save(fig, out_file)
