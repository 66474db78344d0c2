"""Checking the ``dataset_meta`` that checkpoints and exports carry."""
from typing import Any, Optional, Type

from mmyowo.fileio.safe_pickle import short_repr
from .checkpoint import CheckpointLoadError


def check_dataset_meta(dataset_meta: Any,
                       source: str,
                       num_classes: Optional[int] = None,
                       what: str = 'dataset_meta',
                       error: Type[ValueError] = CheckpointLoadError
                       ) -> Optional[dict]:
    """Check a ``dataset_meta`` read from a file before its class names label
    anything.

    Shared by every reader of ``dataset_meta`` (checkpoints with
    :class:`~mmyowo.utils.checkpoint.CheckpointLoadError`, exports'
    manifests with their own error class).

    Args:
        dataset_meta: The value read; ``None`` when the file has none.
        source: The file, for messages.
        num_classes: The model's number of classes, if known.
        what: Where the value sits in the file, for messages.
        error: The reader's error class.

    Returns:
        ``dataset_meta`` itself (``None`` stays ``None``).

    Raises:
        error: Naming ``source``, if ``dataset_meta`` is not a dict, or its
            ``classes`` (when present and not ``None``) are not a list or
            tuple of str (a str would give one name per character) or do
            not number ``num_classes``.
    """
    if dataset_meta is None:
        return None
    if not isinstance(dataset_meta, dict):
        raise error(f'{source}: {what} must be a dict, got a '
                    f'{type(dataset_meta).__name__}')
    classes = dataset_meta.get('classes')
    if classes is None:
        return dataset_meta
    if not isinstance(classes, (list, tuple)) or not all(
            isinstance(name, str) for name in classes):
        raise error(f'{source}: {what}.classes must be a list or tuple of '
                    f'str, got {short_repr(classes, 80)}')
    if num_classes is not None and len(classes) != num_classes:
        raise error(f'{source}: {what}.classes: {len(classes)} class names '
                    f'for a model with {num_classes} classes')
    return dataset_meta
