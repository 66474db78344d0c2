"""``mim test`` on annotation files that do not go with the dataloader or the
checkpoint: both gave a wrong mAP with exit 0 (issue 17, section 3, items 1
and 2).

Each case runs what ``mim test mmaction CONFIG --checkpoint CKPT`` runs
(mmaction's tools/test.py: the config with ``load_from``, ``Runner.from_cfg``
then ``test()``) in this process, on the battery's trained checkpoint; a
``mim`` subprocess costs 20 s more and tests/bad_inputs/test_mim.py already
drives one.
"""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmyowo.datasets.annotations import load_annotations, save_annotations
from mmyowo.utils import CheckpointMismatchError


def mim_test(trained, tmp_path, **overrides):
    """Test the trained checkpoint with config ``overrides`` (dotted keys)."""
    cfg = Config.fromfile(trained['config'])
    cfg.merge_from_dict(overrides)
    cfg.load_from = trained['checkpoint']
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    return runner, runner.test


def moved_boxes_copy(ann_file, dst):
    """Another ground truth of the same videos and classes: every box 4
    pixels narrower and lower, as a file of another version would differ."""
    gt = load_annotations(ann_file)
    for tubes in gt['gttubes'].values():
        for label_tubes in tubes.values():
            for tube in label_tubes:
                tube[:, [3, 4]] -= 4
    save_annotations(gt, str(dst))
    return str(dst)


def reordered_classes_copy(ann_file, dst):
    """The same ground truth with its class list in another order (and the
    tubes' labels renumbered to match): a valid file of other class ids."""
    gt = load_annotations(ann_file)
    order = list(reversed(range(len(gt['labels']))))  # new index -> old
    new_index = {old: new for new, old in enumerate(order)}
    gt['labels'] = [gt['labels'][old] for old in order]
    gt['gttubes'] = {
        video: {
            new_index[label]: t
            for label, t in tubes.items()
        }
        for video, tubes in gt['gttubes'].items()
    }
    save_annotations(gt, str(dst))
    return str(dst), gt['labels']


def test_evaluator_on_another_annotation_file_is_refused(trained, tmp_path):
    """The test dataloader reads one file, the evaluator scores against
    another: the detections were compared with the wrong ground truth."""
    other = moved_boxes_copy(trained['ann_file'], tmp_path / 'other_gt.pkl')
    runner, test = mim_test(trained, tmp_path,
                            **{'test_evaluator.ann_file': other})
    with pytest.raises(ValueError) as info:
        test()
    message = str(info.value)
    assert message.startswith(
        f'the test dataloader reads {trained["ann_file"]} '
        '(test_dataloader.dataset.ann_file) but the test evaluator '
        f'FrameMAPMetric scores against {other} (test_evaluator.ann_file)'
    ), message
    assert runner.test_loop.evaluator.metrics[0].results == []


def test_evaluator_on_a_copy_of_the_annotation_file_is_accepted(
        trained, tmp_path):
    """A byte-identical copy under another path is the same ground truth."""
    copy = tmp_path / 'copy_gt.pkl'
    copy.write_bytes(Path(trained['ann_file']).read_bytes())
    _, test = mim_test(trained, tmp_path,
                       **{'test_evaluator.ann_file': str(copy)})
    assert 'mAP/frame@0.5' in test()


def test_annotation_file_with_other_class_order_is_refused(trained, tmp_path):
    """Same classes, other order: every score was reported (and scored) under
    another class's name, with no warning."""
    reordered, labels = reordered_classes_copy(trained['ann_file'],
                                               tmp_path / 'reordered.pkl')
    _, test = mim_test(
        trained, tmp_path, **{
            'test_dataloader.dataset.ann_file': reordered,
            'test_evaluator.ann_file': reordered
        })
    with pytest.raises(CheckpointMismatchError) as info:
        test()
    message = str(info.value)
    trained_labels = list(reversed(labels))
    assert message.startswith(
        f'{trained["checkpoint"]} was trained on the classes '
        f'({", ".join(trained_labels)}) but {reordered} (the test dataset) '
        f'lists them in another order: ({", ".join(labels)}); class 0 is '
        f'{trained_labels[0]!r} in the checkpoint and {labels[0]!r} in the '
        'file'), message
