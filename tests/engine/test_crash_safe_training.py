"""Kill -9 a real training at random moments and resume it each time.

Issue 10, item 3: a kill during checkpoint writing must leave complete
checkpoints only, and ``--resume`` must continue from the latest complete one.
The tiny synthetic recipe is trained by mmaction's stock ``train.py`` (the
script ``mim train mmaction`` runs; killing ``mim`` itself would orphan the
training process) with a checkpoint after every iteration; each run is a
child of a warm interpreter (``_train_forkserver.py``) so that the restarts
do not pay the imports again. Half of the kills land as soon as a new
checkpoint file shows up in the work dir, i.e. while it is being written; the
others at a seeded random moment after the run saved a checkpoint. After
every kill each ``iter_*.pth`` must load completely and ``last_checkpoint``
must name one of them; the next run must start at the iteration after it.
"""
import os
import os.path as osp
import random
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from .._e2e import make_tiny_data, write_config

KILLS = 6
ITER_RE = re.compile(r'Iter\(train\) \[\s*(\d+)/\d+\]')
# A checkpoint or its temporary (``.iter_3.pth.tmp-<pid>-<token>``).
CKPT_RE = re.compile(r'\.?iter_\d+\.pth')


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    return make_tiny_data(tmp_path_factory.mktemp('synthetic'))


def write_iter_config(tmp_path, data_root, max_iters):
    """The end-to-end tests' tiny config, by iterations: batch 1, no
    validation, a checkpoint after every iteration, the last 2 kept."""
    return write_config(
        tmp_path,
        data_root,
        1,
        name=f'_{max_iters}iters',
        extra=f'''
train_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                        dataset=data)
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                 max_iters={max_iters})
val_dataloader = val_cfg = val_evaluator = None
test_dataloader = test_cfg = test_evaluator = None
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
log_processor = dict(by_epoch=False)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1, by_epoch=False,
                                     max_keep_ckpts=2, save_best=None))
''')


class ForkServer:
    """Client of ``_train_forkserver.py``."""

    def __init__(self):
        env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
        script = osp.join(osp.dirname(__file__), '_train_forkserver.py')
        self.proc = subprocess.Popen([sys.executable, script],
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     env=env,
                                     text=True)
        assert self._reply() == 'ready'

    def _reply(self):
        line = self.proc.stdout.readline().strip()
        assert line, 'the fork server died'
        return line

    def _ask(self, *words):
        self.proc.stdin.write(' '.join(map(str, words)) + '\n')
        self.proc.stdin.flush()
        return self._reply()

    def train(self, cfg, work_dir, log_path):
        """Start ``train.py CFG --work-dir W --resume``; its pid."""
        return int(
            self._ask('run', log_path, cfg, '--work-dir', work_dir,
                      '--resume'))

    def wait(self, pid):
        return int(self._ask('wait', pid))

    def running(self, pid):
        # waitpid is the server's; a zombie counts as stopped here.
        try:
            with open(f'/proc/{pid}/stat') as f:
                return f.read().split(') ')[1][0] != 'Z'
        except FileNotFoundError:
            return False

    def close(self):
        self.proc.stdin.write('quit\n')
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture
def server():
    server = ForkServer()
    yield server
    server.close()


def read(path):
    with open(path, errors='replace') as f:
        return f.read()


def wait_until(server, pid, condition, log_path, timeout=120):
    end = time.monotonic() + timeout
    while not condition():
        assert server.running(pid), read(log_path)[-3000:]
        assert time.monotonic() < end, read(log_path)[-3000:]
        time.sleep(0.001)


def check_work_dir(work_dir):
    """Every checkpoint under its final name loads; returns the step the next
    ``--resume`` must continue from (0: none)."""
    steps = []
    for name in os.listdir(work_dir):
        match = re.fullmatch(r'iter_(\d+)\.pth', name)
        if match:
            # Written by this test's training: full unpickling is safe.
            ckpt = torch.load(
                work_dir / name, map_location='cpu', weights_only=False)
            assert ckpt['meta']['iter'] == int(match.group(1)), name
            steps.append(int(match.group(1)))
    pointer = work_dir / 'last_checkpoint'
    if not pointer.exists():
        return 0
    named = pointer.read_text()
    match = re.fullmatch(re.escape(str(work_dir)) + r'/iter_(\d+)\.pth', named)
    assert match and int(match.group(1)) in steps, (named, steps)
    return int(match.group(1))


def check_resumed_at(log, step):
    if step:
        assert f'resumed epoch: 0, iter: {step}' in log, log[-3000:]
    else:
        assert 'resumed epoch' not in log, log[-3000:]
    first = ITER_RE.search(log)
    assert first is None or int(first.group(1)) == step + 1, log[-3000:]


def pointer_text(work_dir):
    pointer = work_dir / 'last_checkpoint'
    return pointer.read_text() if pointer.exists() else None


def test_kill_at_random_moments_and_resume(tmp_path, tiny_data, server):
    # Killed runs never reach the end of training.
    cfg = write_iter_config(tmp_path, tiny_data, 1000)
    work_dir = tmp_path / 'work'
    rng = random.Random(0)
    expected = 0
    mid_write = 0
    for run in range(KILLS):
        log_path = tmp_path / f'run{run}.log'
        before = set(os.listdir(work_dir)) if work_dir.exists() else set()
        last = pointer_text(work_dir)
        pid = server.train(cfg, work_dir, log_path)
        if run % 2 == 0:
            # As soon as a new checkpoint file (or its temporary) appears.
            wait_until(
                server, pid, lambda: work_dir.exists() and any(
                    CKPT_RE.match(n)
                    for n in set(os.listdir(work_dir)) - before), log_path)
        else:
            # Once this run saved a checkpoint, at a random moment of the
            # next iteration(s) and saves (a save takes seconds on 2 cores:
            # mmengine formats the config into it).
            wait_until(server, pid, lambda: pointer_text(work_dir) != last,
                       log_path)
            time.sleep(rng.uniform(0, 3))
        os.kill(pid, signal.SIGKILL)
        assert server.wait(pid) == -signal.SIGKILL, read(log_path)[-3000:]
        mid_write += any(f'.tmp-{pid}-' in n for n in os.listdir(work_dir))
        check_resumed_at(read(log_path), expected)
        expected = check_work_dir(work_dir)
    # Kills during writes happened (their temporaries were left), and runs
    # resumed from real checkpoints.
    assert mid_write >= 1 and expected > 0

    # The last run is left to finish, two iterations after the resume.
    cfg = write_iter_config(tmp_path, tiny_data, expected + 2)
    log_path = tmp_path / 'final.log'
    pid = server.train(cfg, work_dir, log_path)
    assert server.wait(pid) == 0, read(log_path)[-3000:]
    check_resumed_at(read(log_path), expected)
    assert check_work_dir(work_dir) == expected + 2
    assert not [n for n in os.listdir(work_dir) if '.tmp-' in n]
