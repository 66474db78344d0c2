"""Arguments of the demo and the inference API that used to give a silent wrong
result, a crash of the process or lost data: ``--score-thr nan``, a negative
camera index, the input video given as the output."""
import shutil
import subprocess
import sys

import pytest
import torch
from mmengine.structures import InstanceData

from mmyowo.apis import VideoReader, person_actions
from .._e2e import REPO
from .._paths import UCF24_MINI_VIDEOS
from ..tools.test_demo import demo
from ..tools.test_demo import model_files as demo_model_files
from ..tools.test_demo import read_back

VIDEO = f'{UCF24_MINI_VIDEOS}/v_CliffDiving_g03_c01.mp4'
#: The small random model of tests/tools/test_demo.py, as files.
model = demo_model_files


@pytest.mark.parametrize('value', ['nan', '1.5', '-0.1'])
def test_demo_score_thr_outside_0_1(model, tmp_path, capsys, value):
    """``--score-thr nan`` used to run to the end and draw nothing (no score
    reaches NaN)."""
    cfg_file, ckpt = model
    out = tmp_path / 'out.mp4'
    with pytest.raises(SystemExit) as info:
        demo.main([
            cfg_file, ckpt, VIDEO,
            str(out), '--score-thr', value, '--max-frames', '3', '--clip-len',
            '2', '--input-size', '64', '64'
        ])
    assert info.value.code == 2
    assert f"argument --score-thr: '{value}': score_thr must be in [0, 1]" \
        in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize('value', [float('nan'), 1.5, -0.1, '0.5'])
def test_person_actions_score_thr_outside_0_1(value):
    """The API the demo draws with refuses it too."""
    pred = InstanceData(
        bboxes=torch.tensor([[1.0, 2.0, 30.0, 40.0]]),
        scores=torch.tensor([[0.9, 0.2]]))
    with pytest.raises(ValueError, match='score_thr must be'):
        person_actions(pred, value)
    assert len(person_actions(pred, 0.0)) == 1
    assert person_actions(pred, 1.0) == []


def test_demo_refuses_to_write_over_its_input(model, tmp_path, capsys,
                                              monkeypatch):
    """``demo.py CONFIG CKPT same.mp4 same.mp4`` used to replace the input
    video by the annotated output; so did another name of the same file."""
    cfg_file, ckpt = model
    video = tmp_path / 'same.mp4'
    shutil.copyfile(VIDEO, video)
    original = video.read_bytes()
    link = tmp_path / 'link.mp4'
    link.symlink_to(video)
    monkeypatch.chdir(tmp_path)
    for output in (str(video), 'same.mp4', str(link)):
        with pytest.raises(SystemExit) as info:
            demo.main([
                cfg_file, ckpt,
                str(video), output, '--max-frames', '3', '--clip-len', '2',
                '--input-size', '64', '64'
            ])
        assert info.value.code == 2
        assert (f"OUTPUT '{output}' is the INPUT video: writing it would "
                'destroy the input') in capsys.readouterr().err
        assert video.read_bytes() == original
    # Another output path works.
    demo.main([
        cfg_file, ckpt,
        str(video), 'out.mp4', '--max-frames', '3', '--clip-len', '2',
        '--input-size', '64', '64'
    ])
    assert len(read_back(str(tmp_path / 'out.mp4'))) == 3
    assert video.read_bytes() == original


#: The API call of the README with a negative camera index, in a process of
#: its own: OpenCV used to crash that process (segmentation fault).
NEGATIVE_CAMERA = '''
from mmengine.config import Config
from mmyowo.apis import YOWOVideoDetector, init_detector
from tests.models._cfgs import small_yowo_cfg
model = init_detector(Config(dict(model=small_yowo_cfg(num_classes=3))))
YOWOVideoDetector(model, clip_len=2, input_size=(64, 64))(-5)
'''


def test_negative_camera_index_is_an_error():
    proc = subprocess.run([sys.executable, '-c', NEGATIVE_CAMERA],
                          cwd=REPO,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT,
                          text=True,
                          timeout=300)
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-2000:])
    assert proc.stdout.rstrip().endswith(
        'ValueError: camera index must be >= 0, got -5'), proc.stdout[-2000:]
    with pytest.raises(ValueError, match='camera index must be >= 0, got -1'):
        VideoReader(-1)
