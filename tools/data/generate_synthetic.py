"""Generate the synthetic motion-only action dataset (rawframes + GT).

Example::

    python tools/data/generate_synthetic.py data/synthetic --seed 0

See :mod:`mmyowo.preparation.synthetic` for what the videos contain.
"""
import argparse
import inspect

from mmyowo.preparation.synthetic import generate_synthetic_dataset
from mmyowo.preparation.synthetic_scene import SyntheticConfig

# The CLI's defaults are the library's, stated once there.
SPLIT_DEFAULTS = {
    name: param.default
    for name, param in inspect.signature(
        generate_synthetic_dataset).parameters.items()
}
CONFIG_DEFAULTS = SyntheticConfig()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the synthetic spatio-temporal action dataset '
        '(classes that differ only in motion).',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        'out_dir',
        help='output root (rawframes/, '
        'annotations/ are created in it)')
    parser.add_argument(
        '--num-train-videos',
        type=int,
        default=SPLIT_DEFAULTS['num_train_videos'],
        help='videos in the training split')
    parser.add_argument(
        '--num-test-videos',
        type=int,
        default=SPLIT_DEFAULTS['num_test_videos'],
        help='videos in the test split')
    parser.add_argument(
        '--num-frames',
        type=int,
        default=CONFIG_DEFAULTS.num_frames,
        help='frames per video')
    parser.add_argument(
        '--frame-size',
        type=int,
        nargs=2,
        default=CONFIG_DEFAULTS.frame_size,
        metavar=('H', 'W'),
        help='frame size')
    parser.add_argument(
        '--max-actors',
        type=int,
        default=CONFIG_DEFAULTS.actors[1],
        help='actors per video are drawn from '
        f'[{CONFIG_DEFAULTS.actors[0]}, max-actors]')
    parser.add_argument(
        '--max-distractors',
        type=int,
        default=CONFIG_DEFAULTS.distractors[1],
        help='static distractors per video are drawn from '
        f'[{CONFIG_DEFAULTS.distractors[0]}, max-distractors]')
    parser.add_argument(
        '--jpeg-quality',
        type=int,
        default=CONFIG_DEFAULTS.jpeg_quality,
        help='OpenCV JPEG quality')
    parser.add_argument(
        '--seed',
        type=int,
        default=SPLIT_DEFAULTS['seed'],
        help='seed of every random stream')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace the frames and GT of an earlier run')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    gt_path = generate_synthetic_dataset(
        args.out_dir,
        num_train_videos=args.num_train_videos,
        num_test_videos=args.num_test_videos,
        num_frames=args.num_frames,
        frame_size=args.frame_size,
        seed=args.seed,
        overwrite=args.overwrite,
        actors=(CONFIG_DEFAULTS.actors[0], args.max_actors),
        distractors=(CONFIG_DEFAULTS.distractors[0], args.max_distractors),
        jpeg_quality=args.jpeg_quality)
    print(f'ground truth: {gt_path}')


if __name__ == '__main__':
    main()
