"""Generate the synthetic motion-only action dataset (rawframes + GT).

Example::

    python tools/data/generate_synthetic.py data/synthetic --seed 0

See :mod:`mmyowo.datasets.synthetic` for what the videos contain.
"""
import argparse

from mmyowo.datasets.synthetic import generate_synthetic_dataset


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the synthetic spatio-temporal action dataset '
        '(classes that differ only in motion).')
    parser.add_argument('out_dir', help='output root (rawframes/, '
                        'annotations/ are created in it)')
    parser.add_argument('--num-train-videos', type=int, default=200)
    parser.add_argument('--num-test-videos', type=int, default=20)
    parser.add_argument('--num-frames', type=int, default=40)
    parser.add_argument(
        '--frame-size', type=int, nargs=2, default=(112, 112),
        metavar=('H', 'W'))
    parser.add_argument('--max-actors', type=int, default=3,
                        help='actors per video are drawn from '
                        '[1, max-actors]')
    parser.add_argument('--max-distractors', type=int, default=2,
                        help='static distractors per video are drawn from '
                        '[0, max-distractors]')
    parser.add_argument('--jpeg-quality', type=int, default=90)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the frames and GT of an earlier run')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    gt_path = generate_synthetic_dataset(
        args.out_dir,
        num_train_videos=args.num_train_videos,
        num_test_videos=args.num_test_videos,
        num_frames=args.num_frames,
        frame_size=tuple(args.frame_size),
        seed=args.seed,
        overwrite=args.overwrite,
        actors=(1, args.max_actors),
        distractors=(0, args.max_distractors),
        jpeg_quality=args.jpeg_quality)
    print(f'ground truth: {gt_path}')


if __name__ == '__main__':
    main()
