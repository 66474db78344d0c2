"""A ``CheckpointHook`` whose files survive a kill at any moment."""
import difflib
import inspect
import os
import os.path as osp
from typing import List, Optional, Tuple

from mmaction.registry import HOOKS
from mmengine.dist import barrier, is_main_process
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.hooks import CheckpointHook
from mmengine.runner import FlexibleRunner, Runner

from mmyowo.fileio import message_hub_from_plain, message_hub_to_plain
from mmyowo.utils.checkpoint import CheckpointLoadError
from ..atomic_io import ATOMIC_BACKEND, atomic_write_text
from ..checkpoint_integrity import (checkpoint_problem,
                                    latest_complete_checkpoint)

POINTER = 'last_checkpoint'

# Arguments of ``Runner.save_checkpoint`` that the hook passes itself on
# every save; ``**kwargs`` of the hook may only add others.
_PASSED_TO_SAVE = frozenset(
    ('self', 'out_dir', 'filename', 'file_client_args', 'save_optimizer',
     'save_param_scheduler', 'meta', 'by_epoch', 'backend_args'))


def _named_parameters(function) -> List[str]:
    """The parameters of ``function`` that can be given by name."""
    return [
        name for name, p in inspect.signature(function).parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def check_hook_arguments(kwargs: dict) -> None:
    """Refuse keyword arguments that neither ``CheckpointHook`` nor mmengine's
    ``save_checkpoint`` accept.

    ``CheckpointHook`` keeps unknown keywords and passes them to
    ``runner.save_checkpoint`` at the first save: a typo such as
    ``max_keep_ckpt=1`` trained a whole epoch, then failed with a
    ``TypeError`` from mmengine and left no checkpoint.

    Args:
        kwargs (dict): The keywords ``CheckpointHook.__init__`` does not
            name.

    Raises:
        TypeError: Naming the unknown keys, the closest known argument and
            the accepted ones.
    """
    hook_args = [
        name for name in _named_parameters(CheckpointHook.__init__)
        if name != 'self'
    ]
    save_args = sorted({
        name
        for runner in (Runner, FlexibleRunner)
        for name in _named_parameters(runner.save_checkpoint)
    } - _PASSED_TO_SAVE)
    unknown = [key for key in kwargs if key not in save_args]
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, hook_args + save_args, n=1)
        hints.append(f'{key!r}' +
                     (f' (did you mean {close[0]!r}?)' if close else ''))
    extra = (', or keywords of Runner.save_checkpoint: ' +
             ', '.join(save_args)) if save_args else ''
    raise TypeError(
        f'AtomicCheckpointHook (default_hooks.checkpoint in the config) got '
        f'unknown argument(s) {", ".join(hints)}; it accepts the arguments '
        f'of mmengine\'s CheckpointHook: {", ".join(hook_args)}{extra}')


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """Crash-safe drop-in replacement of mmengine's ``CheckpointHook``.

    Arguments and behaviour are those of ``CheckpointHook`` except:

    1. Checkpoints (periodic, last and best) are written atomically when
       they go to a local folder and no file backend was chosen: the hook
       passes ``backend_args=dict(backend='atomic_local')``
       (:class:`~mmyowo.engine.atomic_io.AtomicLocalBackend`) on to
       ``Runner.save_checkpoint``, so a file under a checkpoint name is
       always complete.
    2. ``last_checkpoint`` (the text file naming the latest checkpoint that
       auto-resume reads) is written atomically too, and only after the
       checkpoint it names is complete.
    3. With ``max_keep_ckpts``, the oldest checkpoint is removed after the
       new one and ``last_checkpoint`` are written (mmengine removes it
       first, so with ``max_keep_ckpts=1`` a kill during the write left no
       checkpoint at all). Disk usage peaks at one extra checkpoint.
    4. Auto-resume (``resume=True`` without ``load_from``: ``--resume``
       without a path) checks, before the runner reads it, that
       ``last_checkpoint`` names a complete file (see
       :func:`~mmyowo.engine.checkpoint_integrity.checkpoint_problem`). If
       it is missing, empty or names an incomplete file (written by an older
       version, or a lost pointer), it is pointed at the newest complete
       checkpoint named by ``filename_tmpl`` in the checkpoint folder, with
       a warning naming every file skipped; when there is none, it is
       removed and training starts from scratch, with a warning. Leftover
       temporaries (``.*.tmp-*``) are never candidates; the next successful
       save removes them. An explicit ``--resume PATH`` is left alone.
    5. Unknown keyword arguments (e.g. the typo ``max_keep_ckpt``) are
       refused when the hook is built, naming the closest known argument;
       ``CheckpointHook`` passes them to ``runner.save_checkpoint``, which
       failed with a ``TypeError`` after the first epoch.

    5. The message hub's ``HistoryBuffer`` objects are stored as plain
       dicts of numbers (:func:`~mmyowo.fileio.message_hub_to_plain`), so
       a checkpoint holds nothing but tensors and plain data; after a
       checkpoint is loaded (``--resume``) they are rebuilt with
       ``HistoryBuffer``'s constructor from checked numbers. Checkpoints of
       the previous version (real ``HistoryBuffer`` pickles, which the
       checkpoint reader turns into the same plain dicts) resume too.

    Why a hook: this hook is the only writer of periodic and best
    checkpoints and of ``last_checkpoint``, configs already choose it in
    ``default_hooks.checkpoint``, and the byte-level write goes through
    mmengine's file-backend registry, which is meant for such extensions.
    Registering a backend and subclassing the hook changes exactly these
    writes, without patching mmengine or replacing the runner. The runner
    reads ``last_checkpoint`` in ``load_or_resume``, right after the
    ``before_run`` hooks, which is where the pointer is checked.

    Writes that bypass the hook keep mmengine's behaviour: a remote
    ``out_dir`` or an explicit ``backend_args`` / ``file_client_args`` use
    the backend chosen there, and ``published_keys`` publishes through
    mmengine's ``save_checkpoint`` without backend arguments.
    """

    # Set by CheckpointHook.__init__ (mmengine has no type information).
    backend_args: Optional[dict]

    def __init__(self, *args, **kwargs) -> None:
        """As ``CheckpointHook``'s, refusing unknown keywords at once (see
        :func:`check_hook_arguments`)."""
        named = set(_named_parameters(CheckpointHook.__init__))
        check_hook_arguments({
            k: v
            for k, v in kwargs.items() if k not in named
        })
        super().__init__(*args, **kwargs)

    def before_run(self, runner) -> None:
        """Repair ``last_checkpoint`` before auto-resume reads it.

        Args:
            runner (Runner): The runner.
        """
        # The condition under which Runner.load_or_resume calls
        # find_latest_checkpoint (mmengine 0.10.7 keeps it in private
        # attributes only).
        if not (runner._resume and runner._load_from is None):
            return
        if is_main_process():
            self._repair_pointer(runner)
        # Other ranks read the pointer in load_or_resume.
        barrier()

    def before_train(self, runner) -> None:
        """Choose the atomic backend for local folders, then as the parent.

        Args:
            runner (Runner): The runner.
        """
        out_dir = self.out_dir if self.out_dir is not None else \
            runner.work_dir
        if (self.backend_args is None and self.file_client_args is None
                and isinstance(get_file_backend(out_dir), LocalBackend)):
            self.backend_args = dict(backend=ATOMIC_BACKEND)
        super().before_train(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store the message hub as plain data.

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The checkpoint about to be saved.
        """
        if 'message_hub' in checkpoint:
            checkpoint['message_hub'] = message_hub_to_plain(
                checkpoint['message_hub'])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Rebuild the message hub's histories from their plain form.

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The loaded checkpoint (changed in place, as
                the runner reads it afterwards).

        Raises:
            CheckpointLoadError: A history that is neither plain data nor
                a ``HistoryBuffer`` (naming the key).
        """
        if 'message_hub' not in checkpoint:
            return
        try:
            checkpoint['message_hub'] = message_hub_from_plain(
                checkpoint['message_hub'], 'the loaded checkpoint')
        except ValueError as err:
            raise CheckpointLoadError(str(err)) from None

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """Save ``step``, then point ``last_checkpoint`` at it, then prune.

        The bookkeeping of ``keep_ckpt_ids`` (also stored in the checkpoint's
        message hub, so that resumed runs prune the same files) is the
        parent's; only the file operations are reordered.
        """
        stale: List[int] = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            # A best checkpoint re-saves the step just saved: not new.
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)

        # Sharded (model-parallel) saving involves every rank; the files
        # below are the main process's.
        if not is_main_process():
            return
        atomic_write_text(self.last_ckpt, osp.join(runner.work_dir, POINTER))
        for old in stale:
            path = self.file_backend.join_path(self.out_dir,
                                               self.filename_tmpl.format(old))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                # DeepSpeed-style checkpoints are folders.
                self.file_backend.rmtree(path)

    def _checkpoint_dir(self, runner) -> Optional[str]:
        """The local folder ``before_train`` will save into, if local."""
        if self.out_dir is None:
            return runner.work_dir
        out_dir = str(self.out_dir)
        if '://' in out_dir:
            return None
        if out_dir == runner.work_dir:
            return out_dir
        # As CheckpointHook.before_train: out_dir / basename(work_dir).
        return osp.join(out_dir, osp.basename(runner.work_dir.rstrip(os.sep)))

    def _read_pointer(self, pointer: str) -> Tuple[str, Optional[str]]:
        """``(target, why)``: the named file and why it cannot be resumed from
        (``None`` when it can, or when it is remote)."""
        if not osp.isfile(pointer):
            return '', f'{pointer} is missing'
        with open(pointer, 'rb') as f:
            raw = f.read()
        try:
            target = raw.decode('utf-8').strip()
        except UnicodeDecodeError:
            return '', f'{pointer} is not UTF-8 text'
        if not target:
            return '', f'{pointer} is empty'
        if '://' in target:
            # Remote checkpoints are the remote backend's business.
            return target, None
        problem = checkpoint_problem(target)
        if problem is None:
            return target, None
        return target, (f'{pointer} names {target}, which is incomplete: '
                        f'{problem}')

    def _repair_pointer(self, runner) -> None:
        """Point ``last_checkpoint`` at the newest complete checkpoint."""
        pointer = osp.join(runner.work_dir, POINTER)
        target, why = self._read_pointer(pointer)
        if why is None:
            return
        folders = [
            d for d in (self._checkpoint_dir(runner),
                        osp.dirname(target) if target else None)
            if d is not None
        ]
        latest, skipped = latest_complete_checkpoint(folders,
                                                     self.filename_tmpl)
        if target:
            # Already named in ``why``.
            skipped = [
                item for item in skipped if item[0] != osp.abspath(target)
            ]
        others = ''.join(f'; also skipped {path}: {problem}'
                         for path, problem in skipped)
        if latest is not None:
            atomic_write_text(latest, pointer)
            runner.logger.warning(
                f'Auto-resume: {why}; resuming from the newest complete '
                f'checkpoint {latest} instead{others}.')
            return
        if not osp.isfile(pointer) and not skipped:
            # A fresh work dir: nothing to resume, as in mmengine.
            return
        if osp.isfile(pointer):
            os.remove(pointer)
        runner.logger.warning(
            f'Auto-resume: {why}, and {folders} hold no complete checkpoint'
            f'{others}; training starts from scratch.')
