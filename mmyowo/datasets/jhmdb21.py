"""J-HMDB-21: 21 action classes of HMDB51 with puppet-derived person boxes."""
from mmaction.registry import DATASETS

from .spatio_temporal_dataset import SpatioTemporalActionDataset

# Alphabetical, the order of the 1-based class numbers of the YOWO family's
# label files and of ACT's JHMDB-GT.pkl.
JHMDB21_CLASSES = ('brush_hair', 'catch', 'clap', 'climb_stairs', 'golf',
                   'jump', 'kick_ball', 'pick', 'pour', 'pullup', 'push',
                   'run', 'shoot_ball', 'shoot_bow', 'shoot_gun', 'sit',
                   'stand', 'swing_baseball', 'throw', 'walk', 'wave')


@DATASETS.register_module()
class JHMDB21Dataset(SpatioTemporalActionDataset):
    """J-HMDB-21 key-frame dataset (paper §4.1), three splits (0, 1, 2).

    Same arguments as :class:`SpatioTemporalActionDataset`; the class names
    are fixed and checked against the annotation file. The YOWO family
    stores J-HMDB rawframes as PNG: pass ``filename_tmpl='{:05d}.png'`` for
    that layout.
    """

    METAINFO = dict(classes=JHMDB21_CLASSES)
