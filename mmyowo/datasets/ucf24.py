"""UCF101-24: 24 action classes of UCF101 with person boxes (3207 videos)."""
from mmaction.registry import DATASETS

from .spatio_temporal_dataset import SpatioTemporalActionDataset

# Order of the 1-based class numbers of the UCF101-24 annotations
# (finalAnnots.mat), as used by ACT, YOWO and YOWO-Plus.
UCF24_CLASSES = ('Basketball', 'BasketballDunk', 'Biking', 'CliffDiving',
                 'CricketBowling', 'Diving', 'Fencing', 'FloorGymnastics',
                 'GolfSwing', 'HorseRiding', 'IceDancing', 'LongJump',
                 'PoleVault', 'RopeClimbing', 'SalsaSpin', 'SkateBoarding',
                 'Skiing', 'Skijet', 'SoccerJuggling', 'Surfing',
                 'TennisSwing', 'TrampolineJumping', 'VolleyballSpiking',
                 'WalkingWithDog')


@DATASETS.register_module()
class UCF24Dataset(SpatioTemporalActionDataset):
    """UCF101-24 key-frame dataset (paper §4.1).

    Same arguments as :class:`SpatioTemporalActionDataset`; the class names
    are fixed and checked against the annotation file. Rawframes are
    ``{img}/{Class}/{video}/00001.jpg`` and videos ``{video}/{Class}/
    {video}.avi`` by default.
    """

    METAINFO = dict(classes=UCF24_CLASSES)
