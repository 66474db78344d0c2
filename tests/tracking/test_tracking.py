"""mmyowo.tracking: persistent ids (mmdet's ByteTracker), smoothing, events
with hysteresis, JSON Lines / events / CSV outputs (round trip through
tools/data/convert_csv.py)."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from mmengine.structures import InstanceData

from mmyowo.datasets.annotations import load_annotations
from mmyowo.tracking import (ActionEventDetector, OnlineActionTracker,
                             ScoreSmoother, TrackingWriter, format_time)
from mmyowo.tracking.outputs import CSV_HEADER, events_path
from mmyowo.utils.atomic_io import atomic_write_text, is_temporary
from ..tools.test_data_converters import load_tool

NAMES = ['Fencing', 'Diving']


def crossing(num=60, seed=0):
    """Two actors walking towards each other, crossing mid-way (their boxes
    overlap for several frames), given in a random order each frame; actor 0
    fences throughout, actor 1 dives for the first half."""
    rng = np.random.default_rng(seed)
    for f in range(num):
        xa, xb = 10 + 4 * f, 250 - 4 * f
        boxes = np.array([[xa, 50, xa + 40, 150], [xb, 60, xb + 40, 160]],
                         np.float32)
        scores = np.array([[0.8, 0.05], [0.1, 0.7 if f < num // 2 else 0.3]])
        order = rng.permutation(2)
        yield f, boxes, scores, order


def test_ids_kept_through_two_actors_crossing():
    online = OnlineActionTracker(NAMES)
    ids_a, ids_b = set(), set()
    for f, boxes, scores, order in crossing():
        tracked = online.update(
            InstanceData(bboxes=boxes[order], scores=scores[order]), f, f / 25)
        assert len(tracked.persons) == 2, f
        for person in tracked.persons:
            actor = 0 if np.allclose(person.bbox, boxes[0]) else 1
            (ids_a if actor == 0 else ids_b).add(person.track_id)
            assert np.allclose(person.scores, scores[actor])
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_events_of_the_tracks():
    online = OnlineActionTracker(
        NAMES, events=dict(on_thr=0.5, off_thr=0.4, min_on=2, min_off=3))
    events = []
    for f, boxes, scores, order in crossing():
        events += online.update(
            InstanceData(bboxes=boxes[order], scores=scores[order]), f,
            f / 25).events
    events += online.finish()
    text = [str(e) for e in events]
    fence = [t for t in text if 'Fencing' in t]
    dive = [t for t in text if 'Diving' in t]
    # Both start at frame 0 (the run's first frame); the diving one ends
    # at the last frame its smoothed score held (EMA 0.5: 0.7 -> 0.5 at
    # frame 30, 0.4 at 31, below 0.4 from 32 on: ended at 31's time, after
    # 3 frames below); the fencing one at the end of the stream.
    assert fence == [
        '#0 Fencing started 00:00.00', '#0 Fencing ended 00:02.36'
    ] or fence == ['#1 Fencing started 00:00.00', '#1 Fencing ended 00:02.36']
    assert len(dive) == 2 and dive[0].endswith('started 00:00.00')
    assert dive[1].endswith('ended 00:01.24'), dive


def test_hysteresis():
    det = ActionEventDetector(['a'],
                              on_thr=0.6,
                              off_thr=0.4,
                              min_on=2,
                              min_off=2)
    # Hovering around one threshold never toggles the action.
    seq = [
        0.59, 0.61, 0.59, 0.61, 0.7, 0.65, 0.5, 0.39, 0.45, 0.39, 0.3, 0.59,
        0.61, 0.62
    ]
    out = []
    for f, s in enumerate(seq):
        events, _ = det.update(f, f * 0.5, {7: np.array([s])})
        out += [(e.kind, e.frame, round(e.time, 2)) for e in events]
    # on: 0.61 @1 alone (0.59 after) no; 0.61 @3, 0.7 @4 -> started at 3;
    # off: 0.39 @7 then 0.45 resets; 0.39 @9, 0.3 @10 -> ended at the last
    # frame held (8); on again: 0.61 @12, 0.62 @13 -> started at 12.
    assert out == [('started', 3, 1.5), ('ended', 8, 4.0),
                   ('started', 12, 6.0)]
    assert [(e.kind, e.frame) for e in det.finish()] == [('ended', 13)]
    assert det.finish() == []


def test_track_lost_ends_its_actions():
    det = ActionEventDetector(['a'], on_thr=0.5, min_on=1, lost_after=3)
    det.update(0, 0.0, {1: np.array([0.9])})
    assert det.active(1) == [0]
    ends = []
    for f in range(1, 4):
        events, lost = det.update(f, f / 10, {})
        ends += events
    assert lost == [1] and [(e.kind, e.frame) for e in ends] == [('ended', 0)]


@pytest.mark.parametrize('kwargs', [
    dict(on_thr=0.3, off_thr=0.5),
    dict(on_thr=float('nan')),
    dict(on_thr=0.5, min_on=0),
    dict(on_thr=1.5)
])
def test_event_thresholds_checked(kwargs):
    with pytest.raises(ValueError, match='must be|need'):
        ActionEventDetector(['a'], **kwargs)


def test_smoothing():
    ema = ScoreSmoother('ema', alpha=0.25)
    assert np.allclose(ema.update(1, [1.0, 0.0]), [1.0, 0.0])
    assert np.allclose(ema.update(1, [0.0, 1.0]), [0.75, 0.25])
    assert np.allclose(ema.update(2, [0.2, 0.2]), [0.2, 0.2])  # per track
    win = ScoreSmoother('window', window=2)
    for s in ([1.0], [0.0], [0.5]):
        out = win.update(3, s)
    assert np.allclose(out, [0.25])
    assert np.allclose(ScoreSmoother('none').update(1, [0.3]), [0.3])
    for bad in (dict(method='median'), dict(alpha=0.0), dict(window=0)):
        with pytest.raises(ValueError, match='smoothing'):
            ScoreSmoother(**bad)


def test_format_time():
    assert format_time(12.4) == '00:12.40'
    assert format_time(75.04) == '01:15.04'
    assert format_time(3725.5) == '01:02:05.50'


def run_tracked(writer):
    online = OnlineActionTracker(NAMES)
    for f, boxes, scores, order in crossing(num=20):
        tracked = online.update(
            InstanceData(bboxes=boxes[order], scores=scores[order]), f, f / 25)
        writer.write_frame(tracked, (320, 240))
    writer.write_events(online.finish())
    writer.close()


def test_jsonl_and_events_schema(tmp_path):
    path = str(tmp_path / 'out' / 'preds.jsonl')
    writer = TrackingWriter(NAMES, 0.4, json_path=path)
    assert not os.path.exists(path)  # in place only when closed
    run_tracked(writer)
    lines = [json.loads(line) for line in open(path)]
    assert [r['frame'] for r in lines] == list(range(20))
    for record in lines:
        assert set(record) == {'frame', 'time', 'persons'}
        assert record['time'] == pytest.approx(record['frame'] / 25)
        for person in record['persons']:
            assert set(person) == {'track_id', 'box', 'actions', 'active'}
            assert isinstance(person['track_id'], int)
            assert len(person['box']) == 4
            scores = [a['score'] for a in person['actions']]
            assert scores == sorted(scores, reverse=True)
            for action in person['actions']:
                assert set(action) == {'label', 'action', 'score', 'raw_score'}
                assert action['action'] == NAMES[action['label']]
                assert action['score'] >= 0.4
    assert {a['action']
            for a in lines[0]['persons'][0]['actions']
            } | {a['action']
                 for a in lines[0]['persons'][1]['actions']} == set(NAMES)
    events = [json.loads(line) for line in open(events_path(path))]
    assert events and all(
        set(e) == {
            'event', 'track_id', 'label', 'action', 'frame', 'time',
            'time_text', 'score'
        } for e in events)
    assert sorted(e['event']
                  for e in events) == ['ended'] * 2 + ['started'] * 2
    assert not [n for n in os.listdir(tmp_path / 'out') if 'tmp' in n]


def test_writer_temporaries_survive_other_atomic_writes(tmp_path):
    # An atomic write in the same folder removes the temporaries of this
    # process that nobody writes; the writer's are being written.
    path = str(tmp_path / 'preds.jsonl')
    csv_path = str(tmp_path / 'preds.csv')
    writer = TrackingWriter(NAMES, 0.4, json_path=path, csv_path=csv_path)
    atomic_write_text('other', str(tmp_path / 'other.txt'))
    run_tracked(writer)
    frames = [json.loads(line)['frame'] for line in open(path)]
    assert frames == list(range(20))
    assert open(csv_path).readline().strip() == ','.join(CSV_HEADER)
    assert not [n for n in os.listdir(tmp_path) if is_temporary(n)]


def test_csv_round_trip_through_convert_csv(tmp_path):
    num, h, w = 20, 240, 320
    videos = tmp_path / 'videos'
    videos.mkdir()
    out = cv2.VideoWriter(
        str(videos / 'clip.avi'), cv2.VideoWriter_fourcc(*'MJPG'), 25, (w, h))
    for _ in range(num):
        out.write(np.zeros((h, w, 3), np.uint8))
    out.release()
    csv_path = str(tmp_path / 'preds.csv')
    run_tracked(TrackingWriter(NAMES, 0.4, csv_path=csv_path, video='clip'))
    rows = open(csv_path).read().splitlines()
    assert rows[0] == ','.join(CSV_HEADER)
    (tmp_path / 'classes.txt').write_text('\n'.join(NAMES) + '\n')
    (tmp_path / 'test.txt').write_text('clip\n')
    (tmp_path / 'train.txt').write_text('')
    gt_file = str(tmp_path / 'gt.pkl')
    convert_csv = load_tool('convert_csv')
    convert_csv.main([
        csv_path, '--out', gt_file, '--classes',
        str(tmp_path / 'classes.txt'), '--label-by', 'name', '--frame-base',
        '0', '--coords', 'pixel', '--videos-root',
        str(videos), '--video-ext', '.avi', '--train-list',
        str(tmp_path / 'train.txt'), '--test-list',
        str(tmp_path / 'test.txt')
    ])
    gt = load_annotations(gt_file)
    tubes = gt['gttubes']['clip']
    # One tube per track and label: the fencer's Fencing over the 20 frames,
    # the diver's Diving while its smoothed score reaches 0.4 (EMA 0.5 of
    # 0.7 then 0.3 from frame 10: 0.5, 0.4, then 0.35 at frame 12).
    lengths = sorted(
        (label, len(t)) for label, ts in tubes.items() for t in ts)
    assert lengths == [(0, 20), (1, 12)]
    fence = tubes[0][0]
    assert fence[0, 0] == 1  # 1-based frames in the canonical format
    assert np.allclose(fence[0, 1:], [10, 50, 50, 150], atol=0.1)


LAYOUT_PROBE = '''
import sys
import mmyowo, mmyowo.tracking, mmyowo.apis
print(sorted(m for m in sys.modules if m.startswith('mmdet.models')))
'''


def test_tracking_is_apart():
    """Importing mmyowo.tracking does not import mmdet.models (only building a
    tracker does), and models / datasets / evaluation never import it."""
    out = subprocess.run([sys.executable, '-c', LAYOUT_PROBE],
                         check=True,
                         capture_output=True,
                         text=True).stdout
    assert out.strip().splitlines()[-1] == '[]'
    root = os.path.join(os.path.dirname(__file__), '..', '..', 'mmyowo')
    for package in ('models', 'datasets', 'evaluation'):
        for folder, _, files in os.walk(os.path.join(root, package)):
            for name in files:
                if name.endswith('.py'):
                    text = open(os.path.join(folder, name)).read()
                    assert 'tracking' not in text.replace(
                        'mmyowo.tracking', 'TRACKING') or ('TRACKING'
                                                           not in text), name
                    assert 'mmyowo.tracking' not in text, name
