"""Generate the synthetic motion dataset in MMAction2's AVA layout.

Example::

    python tools/data/generate_synthetic_ava.py data/synthetic_ava --seed 0

See :mod:`mmyowo.preparation.synthetic_ava` for the files and what the
videos contain (persons doing two actions at once, an exclusion entry per
split, an 80/60-style pair of label maps).
"""
import argparse
import inspect

from mmyowo.preparation.synthetic_ava import (AVA_MOTION_DEFAULTS,
                                              generate_synthetic_ava)

# The CLI's defaults are the library's, stated once there.
DEFAULTS = {
    name: param.default
    for name, param in inspect.signature(
        generate_synthetic_ava).parameters.items()
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the synthetic spatio-temporal action dataset '
        "in MMAction2's AVA layout (rawframes, CSVs, label maps).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        'out_dir',
        help='output root (rawframes/, '
        'annotations/ are created in it)')
    parser.add_argument(
        '--num-train-videos',
        type=int,
        default=DEFAULTS['num_train_videos'],
        help='videos of ava_train_v2.2.csv')
    parser.add_argument(
        '--num-val-videos',
        type=int,
        default=DEFAULTS['num_val_videos'],
        help='videos of ava_val_v2.2.csv')
    parser.add_argument(
        '--seconds',
        type=int,
        default=DEFAULTS['seconds'],
        help='length of each video (key frames: the whole '
        'seconds inside it)')
    parser.add_argument(
        '--fps', type=int, default=DEFAULTS['fps'], help='frames per second')
    parser.add_argument(
        '--timestamp-start',
        type=int,
        default=DEFAULTS['timestamp_start'],
        help='second of the first frame (AVA: 900)')
    parser.add_argument(
        '--frame-size',
        type=int,
        nargs=2,
        default=AVA_MOTION_DEFAULTS['frame_size'],
        metavar=('H', 'W'),
        help='frame size')
    parser.add_argument(
        '--seed',
        type=int,
        default=DEFAULTS['seed'],
        help='seed of every random stream')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace the frames and annotation files of an '
        'earlier run')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    files = generate_synthetic_ava(
        args.out_dir,
        num_train_videos=args.num_train_videos,
        num_val_videos=args.num_val_videos,
        seconds=args.seconds,
        fps=args.fps,
        timestamp_start=args.timestamp_start,
        seed=args.seed,
        overwrite=args.overwrite,
        frame_size=args.frame_size)
    for name, path in files.items():
        print(f'{name}: {path}')
    print(f'dataset: timestamp_start={args.timestamp_start}, timestamp_end='
          f'{args.timestamp_start + args.seconds}, fps={args.fps}')


if __name__ == '__main__':
    main()
