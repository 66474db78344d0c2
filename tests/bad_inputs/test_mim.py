"""Bad checkpoints through ``mim test mmaction`` (subprocesses, about 20 s each
here, so only these two cases; the inference API and the demo take every
checkpoint case) and a class-count mismatch through what ``mim train`` runs."""
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from .._e2e import MIM
from ._inputs import (ann_file, other_classes_copy, payloads, poisoned_copy,
                      run_tool)

#: Prediction convs of the head: a weight and a bias per level (strides
#: 8 / 16 / 32), the tensors whose shape depends on the number of classes.
CLASS_TENSORS = 2 * 3


def mim_test(config, checkpoint, tmp_path):
    """``mim test mmaction CONFIG --checkpoint CHECKPOINT``: (code, output)."""
    cmd = [MIM, 'test', 'mmaction', config, '--checkpoint', checkpoint]
    cmd += ['--work-dir', str(tmp_path / 'work')]
    return run_tool(cmd, cwd=tmp_path)


def test_mim_test_refuses_a_malicious_checkpoint(trained, tmp_path, marker):
    """The file is refused by the safe loader and nothing runs."""
    bad = poisoned_copy(trained['checkpoint'],
                        payloads(marker)['os.system'], tmp_path / 'evil.pth')
    code, out = mim_test(trained['config'], bad, tmp_path)
    assert code != 0
    assert f'CheckpointLoadError: {bad}: the file holds a os.system ' \
        'object, not a checkpoint; it was not built' in out, out[-3000:]


def test_mim_test_refuses_a_checkpoint_of_other_classes(trained, tmp_path):
    """mmengine alone loads it with ``strict=False`` and tests a random head
    (CheckpointFitHook)."""
    other = other_classes_copy(trained['checkpoint'], 3,
                               tmp_path / 'three_classes.pth')
    code, out = mim_test(trained['config'], other, tmp_path)
    assert code != 0
    assert f'CheckpointMismatchError: {other}: ' in out, out[-3000:]
    assert f'{CLASS_TENSORS} mismatched (bbox_head.head_module.preds.0.' \
        'weight' in out
    assert 'Epoch(test)' not in out


@pytest.mark.parametrize('num_classes', [3, 6])
def test_training_refuses_another_number_of_classes(tiny_data, tiny_config,
                                                    tmp_path, num_classes):
    """The tiny set has 4 classes. With 3 the first iteration used to fail
    inside ``one_hot`` ("Class values must be smaller than num_classes"); with
    6 training ran and only the metric noticed (NumClassCheckHook).

    What ``mim train`` runs (mmaction's tools/train.py: ``Runner.from_cfg``
    then ``train()``), in this process: a ``mim`` subprocess costs 20 s.
    """
    cfg = Config.fromfile(tiny_config)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.model.bbox_head.head_module.num_classes = num_classes
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError) as info:
        runner.train()
    assert str(info.value).startswith(
        f'{ann_file(tiny_data)}: the train dataset has 4 classes '
        '(move_left, move_right, grow, ...) but the model predicts '
        f'{num_classes} (model.bbox_head.head_module.num_classes in the '
        'config)')
    assert runner.iter == 0
