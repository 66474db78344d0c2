"""Locations of the real sample data used by the tests.

``tests/data/ucf24-mini``: three real UCF101-24 clips and a cut-down
``finalAnnots.mat``, kept in the repository so that a plain clone runs the
whole suite; ``tests/data/make_ucf24_mini.py`` says what was kept and how it
was made.
"""
import os.path as osp

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
UCF24_MINI = osp.join(REPO, 'tests', 'data', 'ucf24-mini')
UCF24_MINI_VIDEOS = osp.join(UCF24_MINI, 'videos')
