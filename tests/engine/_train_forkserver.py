"""Run mmaction's stock ``train.py`` in forked children of a warm interpreter.

Used by ``test_crash_safe_training.py``: a training process killed and
restarted several times would spend most of the test importing torch,
mmaction and mmyowo again. This server imports them once, then forks one
child per request; the child runs ``train.py`` unchanged (``runpy``, as
``__main__``, with its own ``sys.argv`` and its output in a log file), so
everything from the config on is what ``python train.py`` does.

Protocol (one line per request on stdin, one reply line on stdout):
``run <log file> <train.py arguments...>`` -> ``<pid>``;
``wait <pid>`` -> the exit status as ``subprocess`` reports it (negative: the
killing signal); ``quit``.
"""
import os
import runpy
import sys
import traceback

import mmaction

import mmyowo  # noqa: F401  (registers the plugin, as custom_imports would)

TRAIN_PY = os.path.join(
    os.path.dirname(mmaction.__file__), '.mim', 'tools', 'train.py')


def _child(log_file: str, args: list) -> None:
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.argv = [TRAIN_PY] + args
    status = 1
    try:
        runpy.run_path(TRAIN_PY, run_name='__main__')
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    except Exception:
        # Into the log, as ``python train.py`` would print it.
        traceback.print_exc()
    finally:
        # Never return into the server loop.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def main() -> None:
    print('ready', flush=True)
    for line in sys.stdin:
        words = line.split()
        if words[0] == 'run':
            pid = os.fork()
            if pid == 0:
                _child(words[1], words[2:])
            print(pid, flush=True)
        elif words[0] == 'wait':
            _, status = os.waitpid(int(words[1]), 0)
            print(
                -os.WTERMSIG(status)
                if os.WIFSIGNALED(status) else os.WEXITSTATUS(status),
                flush=True)
        else:
            return


if __name__ == '__main__':
    main()
