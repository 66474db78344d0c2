"""FrameMAPMetric: process -> compute on a JSON ground truth, equality with
the pure functions, two simulated ranks, the results file and errors."""
import json

import numpy as np
import pytest
import torch
from mmaction.registry import METRICS
from mmaction.structures import ActionDataSample
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData

from mmyowo.evaluation.functional import (frame_map, load_detection_results,
                                          video_map, yowo_video_map)
from mmyowo.evaluation.metrics import FrameMAPMetric
from ._synthetic import empty_gt, moving_tube

NUM_CLASSES = 3
VIDEOS = ['Run/v_run_01', 'Jump/v_jump_01', 'Run/v_run_02']


def make_gt():
    gt = empty_gt(VIDEOS, NUM_CLASSES, nframes=20)
    gt['gttubes'][VIDEOS[0]][0] = [moving_tube(np.arange(3, 18), 10, 20)]
    gt['gttubes'][VIDEOS[1]][1] = [
        moving_tube(np.arange(1, 21), 30, 40, speed=2),
        moving_tube(np.arange(6, 15), 200, 100, speed=-1)
    ]
    gt['gttubes'][VIDEOS[2]][0] = [moving_tube(np.arange(1, 11), 50, 50)]
    gt['train_videos'] = [['Run/v_run_03']]
    gt['gttubes']['Run/v_run_03'] = {}
    gt['nframes']['Run/v_run_03'] = 5
    gt['resolution']['Run/v_run_03'] = (240, 320)
    return gt


@pytest.fixture
def ann_file(tmp_path):
    gt = make_gt()
    as_json = dict(gt)
    as_json['gttubes'] = {
        video: {
            str(label): [t.tolist() for t in tubes]
            for label, tubes in per_label.items()
        }
        for video, per_label in gt['gttubes'].items()
    }
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps(as_json))
    return str(path)


def make_samples(seed=0):
    """One sample per frame of every video: a noisy box per actor (true
    class scored high, sometimes confused) and a random box."""
    rng = np.random.default_rng(seed)
    gt = make_gt()
    samples = []
    for video in VIDEOS:
        for frame in range(1, 21):
            boxes, scores = [], []
            for label, tubes in gt['gttubes'][video].items():
                for tube in tubes:
                    at = tube[tube[:, 0] == frame]
                    if len(at):
                        boxes.append(at[0, 1:] + rng.normal(0, 3, 4))
                        s = rng.uniform(0, 0.2, NUM_CLASSES)
                        s[label if rng.random() < 0.8 else
                          (label + 1) % NUM_CLASSES] = rng.uniform(0.5, 1)
                        scores.append(s)
            x, y = rng.uniform(0, 200, 2)
            boxes.append([x, y, x + 40, y + 60])
            scores.append(rng.uniform(0, 0.3, NUM_CLASSES))
            sample = ActionDataSample()
            sample.set_metainfo(dict(video_id=video, frame_id=frame))
            boxes_t = torch.tensor(np.array(boxes), dtype=torch.float32)
            scores_t = torch.tensor(np.array(scores), dtype=torch.float32)
            sample.pred_instances = InstanceData(
                bboxes=boxes_t, scores=scores_t, labels=scores_t.argmax(dim=1))
            samples.append(sample)
    return samples


def expected_rows(samples, score_thr):
    """Detection rows built directly from the samples."""
    rows = []
    for sample in samples:
        video = VIDEOS.index(sample.metainfo['video_id'])
        pred = sample.pred_instances
        for box, scores in zip(pred.bboxes.numpy(), pred.scores.numpy()):
            rows += [[video, sample.metainfo['frame_id'], c, s, *box]
                     for c, s in enumerate(scores) if s >= score_thr]
    return np.array(rows, dtype=np.float64)


def test_metric_matches_pure_functions(ann_file):
    samples = make_samples()
    metric = METRICS.build(
        dict(type='FrameMAPMetric', ann_file=ann_file, score_thr=0.05))
    # mmengine's Evaluator hands dicts; direct callers may pass samples.
    metric.process({}, [s.to_dict() for s in samples[:30]])
    metric.process({}, samples[30:])
    metrics = metric.evaluate(len(samples))

    gt = make_gt()
    rows = expected_rows(samples, 0.05)
    # The defaults on both sides: the YOWO family's protocols.
    frame = frame_map(rows, gt, VIDEOS, 0.5, 'annotated')
    video = yowo_video_map(rows, gt, VIDEOS, (0.2, 0.5, 0.75))
    assert sorted(metrics) == sorted(
        ['mAP/frame@0.5', 'mAP/video@0.2', 'mAP/video@0.5', 'mAP/video@0.75'])
    assert metrics['mAP/frame@0.5'] == pytest.approx(frame['mAP'])
    for thr in (0.2, 0.5, 0.75):
        assert metrics[f'mAP/video@{thr}'] == pytest.approx(video[thr]['mAP'])
    assert 0.3 < metrics['mAP/frame@0.5'] < 1.0
    assert metrics['mAP/video@0.2'] > 0


def test_protocol_and_options(ann_file):
    samples = make_samples()
    metric = FrameMAPMetric(
        ann_file,
        protocol='all',
        iou_thr=0.3,
        video_iou_thrs=None,
        pixel_plus_one=False,
        round_boxes=False,
        score_thr=0.0,
        prefix='ucf')
    metric.process({}, samples)
    metrics = metric.evaluate(len(samples))
    assert list(metrics) == ['ucf/frame@0.3']
    rows = expected_rows(samples, 0.0)
    assert len(rows) == sum(len(s.pred_instances) for s in samples) * 3
    expected = frame_map(
        rows,
        make_gt(),
        VIDEOS,
        0.3,
        'all',
        pixel_plus_one=False,
        round_boxes=False)
    assert metrics['ucf/frame@0.3'] == pytest.approx(expected['mAP'])


def test_video_protocols_and_their_keys(ann_file, tmp_path):
    samples = make_samples(seed=2)
    logger = MMLogger.get_instance(
        'test_video_protocols', log_file=str(tmp_path / 'metric.log'))
    metric = FrameMAPMetric(
        ann_file, video_iou_thrs=(0.2, 0.5), video_protocols=('st', 'yowo'))
    metric.process({}, samples)
    metrics = metric.evaluate(len(samples))
    # The frame key stays first (save_best='auto' takes the first key).
    assert list(metrics) == [
        'mAP/frame@0.5', 'mAP/video@0.2', 'mAP/video@0.5',
        'mAP/video_yowo@0.2', 'mAP/video_yowo@0.5'
    ]
    rows = expected_rows(samples, 1e-4)
    st = video_map(rows, make_gt(), VIDEOS, (0.2, 0.5), pixel_plus_one=True)
    yowo = yowo_video_map(rows, make_gt(), VIDEOS, (0.2, 0.5))
    for thr in (0.2, 0.5):
        assert metrics[f'mAP/video@{thr}'] == pytest.approx(st[thr]['mAP'])
        assert metrics[f'mAP/video_yowo@{thr}'] == pytest.approx(
            yowo[thr]['mAP'])
    assert metrics['mAP/video@0.2'] != metrics['mAP/video_yowo@0.2']
    for handler in logger.handlers:
        handler.flush()
    log = (tmp_path / 'metric.log').read_text()
    for title in ('frame AP@0.5 (annotated, +1 px)', 'video AP@0.2 (st)',
                  'video AP@0.5 (yowo)'):
        assert title in log
    assert "'annotated' protocol, +1-pixel boxes, detection corners " \
        'rounded; 45 frames evaluated (60 predicted, 45 annotated' in log

    with pytest.raises(ValueError, match='video_protocols must be distinct'):
        FrameMAPMetric(ann_file, video_protocols=('yowo', 'yowo'))
    with pytest.raises(ValueError, match=r"from \('yowo', 'st'\)"):
        FrameMAPMetric(ann_file, video_protocols=('act', ))
    with pytest.raises(ValueError, match='video_protocols is empty'):
        FrameMAPMetric(ann_file, video_protocols=())
    assert FrameMAPMetric(
        ann_file, video_protocols='st').video_protocols == ('st', )


def perfect_samples(stride):
    """Exact boxes on every ``stride``-th annotated frame of each video, as a
    dataset with ``key_frames='annotated', key_frame_stride=stride``."""
    gt, samples = make_gt(), []
    for video in VIDEOS:
        frames = sorted({
            int(f)
            for ts in gt['gttubes'][video].values()
            for t in ts
            for f in t[:, 0]
        })
        for frame in frames[::stride]:
            boxes, scores = [], []
            for label, tubes in gt['gttubes'][video].items():
                for tube in tubes:
                    at = tube[tube[:, 0] == frame]
                    if len(at):
                        boxes.append(at[0, 1:])
                        scores.append(np.eye(NUM_CLASSES)[label] * 0.9)
            sample = ActionDataSample()
            sample.set_metainfo(dict(video_id=video, frame_id=frame))
            sample.pred_instances = InstanceData(
                bboxes=torch.tensor(np.array(boxes), dtype=torch.float32),
                scores=torch.tensor(np.array(scores), dtype=torch.float32))
            samples.append(sample)
    return samples


@pytest.mark.parametrize('stride', [1, 2, 4])
def test_strided_validation_scores_the_predicted_frames(ann_file, stride):
    """The UCF config validates on every 4th annotated frame: perfect
    detections there score 1 (they scored about 1 / stride before)."""
    samples = perfect_samples(stride)
    assert len(samples) == {1: 45, 2: 23, 4: 12}[stride]
    metric = FrameMAPMetric(ann_file, video_iou_thrs=None)
    metric.process({}, samples)
    assert metric.evaluate(len(samples)) == {'mAP/frame@0.5': 1.0}


def test_video_map_needs_every_frame(ann_file):
    samples = make_samples()
    metric = FrameMAPMetric(ann_file)
    metric.process({}, samples[:25] + samples[26:])
    with pytest.raises(
            ValueError,
            match=r"every frame .* 1 of 60 frames have none "
            r"\(e.g. 'Jump/v_jump_01' frame 6\)"):
        metric.evaluate(len(samples))
    # Frame-mAP alone scores the predicted frames.
    metric = FrameMAPMetric(ann_file, video_iou_thrs=None)
    metric.process({}, samples[:25] + samples[26:])
    assert 0 < metric.evaluate(len(samples))['mAP/frame@0.5'] < 1


def test_two_ranks_give_the_same_numbers(ann_file):
    samples = make_samples(seed=1)
    single = FrameMAPMetric(ann_file)
    single.process({}, samples)
    rank0, rank1 = FrameMAPMetric(ann_file), FrameMAPMetric(ann_file)
    rank0.process({}, samples[0::2])
    rank1.process({}, samples[1::2])
    # collect_results interleaves the ranks' results; any order must do.
    merged = FrameMAPMetric(ann_file)
    merged.results = rank1.results + rank0.results
    assert merged.compute_metrics(merged.results) == pytest.approx(
        single.compute_metrics(single.results))


def test_duplicated_frames_are_used_once(ann_file):
    samples = make_samples()
    once, twice = FrameMAPMetric(ann_file), FrameMAPMetric(ann_file)
    once.process({}, samples)
    twice.process({}, samples + samples[:10])
    assert twice.compute_metrics(twice.results) == pytest.approx(
        once.compute_metrics(once.results))


def test_results_file(ann_file, tmp_path):
    samples = make_samples()
    out = str(tmp_path / 'out' / 'results.npz')
    metric = FrameMAPMetric(ann_file, video_iou_thrs=None, results_file=out)
    metric.process({}, samples)
    metric.evaluate(len(samples))
    saved = load_detection_results(out)
    assert saved['videos'] == VIDEOS
    assert saved['class_names'] == [f'action{c}' for c in range(3)]
    assert saved['ann_file'] == ann_file and saved['split'] == 0
    rows = expected_rows(samples, 1e-4)
    order = np.lexsort(rows.T[::-1])
    saved_order = np.lexsort(saved['detections'].T[::-1])
    np.testing.assert_allclose(
        saved['detections'][saved_order], rows[order], rtol=1e-6)


def test_errors(ann_file):
    with pytest.raises(ValueError, match='protocol'):
        FrameMAPMetric(ann_file, protocol='keyframes')
    with pytest.raises(ValueError, match='.npz'):
        FrameMAPMetric(ann_file, results_file='out.pkl')

    sample = make_samples()[0]
    metric = FrameMAPMetric(ann_file)
    sample.set_metainfo(dict(video_id='Run/v_run_03'))  # a train video
    metric.process({}, [sample])
    with pytest.raises(ValueError, match="'Run/v_run_03'.*not in test split"):
        metric.compute_metrics(metric.results)

    metric = FrameMAPMetric(ann_file, split=1)
    metric.process({}, make_samples()[:1])
    with pytest.raises(ValueError, match='split 1'):
        metric.compute_metrics(metric.results)

    late = make_samples()[0]
    late.set_metainfo(dict(frame_id=21))
    metric = FrameMAPMetric(ann_file)
    metric.process({}, [late])
    with pytest.raises(
            ValueError,
            match="'Run/v_run_01' frame 21, but .* "
            'gives that video 20 frames'):
        metric.compute_metrics(metric.results)

    bad = make_samples()[0]
    bad.pred_instances = InstanceData(
        bboxes=torch.zeros(2, 4), scores=torch.ones(2, 5))
    metric = FrameMAPMetric(ann_file)
    metric.process({}, [bad])
    with pytest.raises(ValueError, match='5 class scores per box'):
        metric.compute_metrics(metric.results)

    flat = make_samples()[0]
    flat.pred_instances = InstanceData(
        bboxes=torch.zeros(2, 4), scores=torch.ones(2))
    with pytest.raises(ValueError, match=r'scores must be \(n, num_classes'):
        FrameMAPMetric(ann_file).process({}, [flat])
    with pytest.raises(KeyError, match='pred_instances'):
        FrameMAPMetric(ann_file).process({}, [dict(video_id='a', frame_id=1)])
