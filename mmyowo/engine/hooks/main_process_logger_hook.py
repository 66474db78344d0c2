"""A ``LoggerHook`` whose files one process writes, in one piece."""
import os.path as osp
from typing import Any, Dict, Optional

import numpy as np
from mmaction.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.fileio import dump
from mmengine.hooks import LoggerHook

from ..atomic_io import atomic_write_text


def _numpy_scalars_to_python(value: Any) -> Any:
    """``value`` with every numpy scalar, at any depth, as a Python one."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _numpy_scalars_to_python(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_numpy_scalars_to_python(v) for v in value]
    return value


@HOOKS.register_module()
class MainProcessLoggerHook(LoggerHook):
    """mmengine's ``LoggerHook`` with its file writes made multi-process safe.

    mmengine 0.10.7's ``LoggerHook.after_test_epoch`` dumps the test metrics
    to ``<work_dir>/<timestamp>/<timestamp>.json`` from *every* rank. The
    ranks share the broadcast timestamp, so under ``mim test --launcher
    pytorch`` they write the same file at the same time, and it can end up
    as one rank's JSON followed by the tail of another's: a metrics file
    that no JSON reader accepts (seen in this project's two-rank test).
    Its ``after_run`` likewise copies the logs to ``out_dir`` (and, with
    ``keep_local=False``, deletes them) from every rank at once.

    Here the main process alone writes the metrics file, atomically (a
    temporary file renamed into place), and alone copies the logs; the
    other ranks still log and close their visualizer. Numpy scalars, which
    ``LoggerHook`` writes as ``null`` (an integer metric reaches it as one),
    are written as numbers; a value that still has no JSON form is named in
    a warning instead of vanishing silently. Everything else, arguments
    included, is ``LoggerHook``'s, so a config swaps it in with
    ``default_hooks = dict(logger=dict(type='MainProcessLoggerHook'))``
    (``configs/_base_/default_runtime.py`` does).
    """

    def after_test_epoch(self,
                         runner,
                         metrics: Optional[Dict[str, float]] = None) -> None:
        """Log the test metrics; the main process dumps them to JSON.

        Args:
            runner (Runner): The runner of the testing process.
            metrics (dict, optional): Unused; the log processor reads the
                metrics from the runner's message hub, as in ``LoggerHook``.
        """
        tag, log_str = runner.log_processor.get_log_after_epoch(
            runner, len(runner.test_dataloader), 'test', with_non_scalar=True)
        runner.logger.info(log_str)
        if not is_main_process():
            return
        # LoggerHook's own serialisation (its value conversion, mmengine's
        # JSON handler), written in one piece.
        processed = self._process_tags(_numpy_scalars_to_python(tag))
        dropped = [
            key for key, value in tag.items()
            if value is not None and processed.get(key) is None
        ]
        if dropped:
            runner.logger.warning(
                f'{type(self).__name__}: {", ".join(map(repr, dropped))} '
                'have no JSON form and are written as null in '
                f'{self.json_log_path}')
        text = dump(processed, file_format='json')
        atomic_write_text(text, osp.join(runner.log_dir, self.json_log_path))

    def after_run(self, runner) -> None:
        """Close the visualizer; the main process copies logs to
        ``out_dir``."""
        if is_main_process():
            super().after_run(runner)
        else:
            runner.visualizer.close()
