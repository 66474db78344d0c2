"""Locations of the real sample data used by the tests.

CI clones the repository with ``shared/`` beside it; ``MMYOWO_SHARED``
overrides that location.
"""
import os
import os.path as osp

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED = os.environ.get('MMYOWO_SHARED', osp.join(REPO, '..', 'shared'))
UCF24_MINI = osp.join(SHARED, 'data', 'ucf24-mini')
UCF24_MINI_VIDEOS = osp.join(UCF24_MINI, 'videos')
