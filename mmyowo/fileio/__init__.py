"""Reading untrusted files as data: pickles, torch checkpoints, and the
plain form of mmengine's message hub that checkpoints store."""
from .message_hub_state import (history_buffer_from_plain,
                                history_buffer_to_plain,
                                is_plain_history_buffer,
                                message_hub_from_plain, message_hub_to_plain)
from .safe_pickle import (DataUnpickler, PickleLimits, PickleRefusedError,
                          PickleReport, Placeholder, PlaceholderUseError,
                          load_data_pickle)
from .torch_checkpoint import ArchiveLimits, read_torch_checkpoint

__all__ = [
    'ArchiveLimits', 'DataUnpickler', 'PickleLimits', 'PickleRefusedError',
    'PickleReport', 'Placeholder', 'PlaceholderUseError',
    'history_buffer_from_plain', 'history_buffer_to_plain',
    'is_plain_history_buffer', 'load_data_pickle', 'message_hub_from_plain',
    'message_hub_to_plain', 'read_torch_checkpoint'
]
