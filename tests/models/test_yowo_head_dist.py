"""Loss normalisation of ``YOWOHead`` over DDP ranks.

Two real gloo ranks (spawned processes, CPU) each compute the loss of their own
part of a batch; the rank losses, averaged as DDP averages gradients, must
equal the single-process loss of the whole batch, and so must the gradients.
This holds only if the losses are divided by the positives of all ranks, not
each rank's own.
"""
import os.path as osp
from typing import List, Tuple

import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from mmaction.registry import MODELS
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

# Also registers mmyowo in the spawned ranks, which do not run conftest.py.
from mmyowo.models.dense_heads import YOWOHead

NUM_CLASSES = 3
LOSS_KEYS = ('loss_bbox', 'loss_conf', 'loss_cls')
# Per rank: the summed-loss normaliser inputs and the mean they must give;
# rank 0 with 0 positives, rank 1 with 1 averages to 0.5, clamped to 1.
COUNTS = ((3, 8, 5.5), (0, 1, 1.0), (0, 0, 1.0))


def build_head():
    init_default_scope('mmaction')
    head = MODELS.build(
        dict(
            type='YOWOHead',
            head_module=dict(
                type='YOWOHeadModule',
                num_classes=NUM_CLASSES,
                in_channels=(8, 16, 32),
                se_ratio=4)))
    head.init_weights()
    return head


def rank_batch(rank: int) -> Tuple[List[torch.Tensor], List[InstanceData]]:
    """Prediction maps and ground truths of one rank's two 64x64 images.

    Rank 0 holds one box in all, rank 1 five, so the ranks have different
    numbers of positives.
    """
    gen = torch.Generator().manual_seed(rank)
    maps = [
        torch.randn(2, 3 * (5 + NUM_CLASSES), s, s, generator=gen)
        for s in (8, 4, 2)
    ]
    boxes = {
        0: [[[4., 4., 20., 24.]], []],
        1: [[[4., 4., 20., 24.], [30., 10., 60., 40.], [10., 40., 30., 62.]],
            [[8., 30., 40., 60.], [40., 2., 62., 20.]]],
    }[rank]
    gts = []
    for i, img_boxes in enumerate(boxes):
        gts.append(
            InstanceData(
                bboxes=torch.tensor(img_boxes).reshape(-1, 4),
                labels=(torch.arange(len(img_boxes)) + i + rank) %
                NUM_CLASSES))
    return maps, gts


def loss_and_grads(head, maps, gts):
    maps = [m.clone().requires_grad_() for m in maps]
    losses = head.loss_by_feat(maps, gts)
    grads = torch.autograd.grad(sum(losses.values()), maps)
    return {k: losses[k].detach() for k in LOSS_KEYS}, grads


def _worker(rank: int, world_size: int, tmp_dir: str) -> None:
    torch_dist.init_process_group(
        'gloo',
        init_method='file://' + osp.join(tmp_dir, 'rendezvous'),
        rank=rank,
        world_size=world_size)
    try:
        factors = [
            YOWOHead.num_pos_avg_factor(counts[rank], torch.zeros(1))
            for counts in COUNTS
        ]
        torch.manual_seed(0)
        head = build_head()  # identical weights on both ranks
        losses, grads = loss_and_grads(head, *rank_batch(rank))
        torch.save(
            dict(factors=factors, losses=losses, grads=grads),
            osp.join(tmp_dir, f'rank{rank}.pth'))
    finally:
        torch_dist.destroy_process_group()


def run_two_ranks(tmp_path) -> List[dict]:
    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    return [
        torch.load(tmp_path / f'rank{r}.pth', weights_only=True)
        for r in range(2)
    ]


def test_single_process_normaliser_is_the_batch_count():
    assert not torch_dist.is_initialized()
    assert YOWOHead.num_pos_avg_factor(7, torch.zeros(1)) == 7.0
    assert YOWOHead.num_pos_avg_factor(0, torch.zeros(1)) == 1.0


def test_two_ranks_normalise_by_the_positives_of_all_ranks(tmp_path):
    ranks = run_two_ranks(tmp_path)

    # The normaliser is the mean of the ranks' counts, at least 1.
    for r in range(2):
        assert ranks[r]['factors'] == [mean for *_, mean in COUNTS]

    # Independent reference: one process with both ranks' images in one
    # batch (the per-image targets do not depend on the batch).
    torch.manual_seed(0)
    head = build_head()
    maps0, gts0 = rank_batch(0)
    maps1, gts1 = rank_batch(1)
    whole, whole_grads = loss_and_grads(
        head, [torch.cat(m) for m in zip(maps0, maps1)], gts0 + gts1)
    # Each rank normalising by its own positives (a single process per
    # part) would not give the whole batch's loss: the data tells apart.
    own = [loss_and_grads(head, *rank_batch(r))[0] for r in range(2)]
    assert abs((own[0]['loss_conf'] + own[1]['loss_conf']) / 2 -
               whole['loss_conf']) > 0.1 * whole['loss_conf']
    for key in LOSS_KEYS:
        # DDP averages the ranks' gradients, i.e. optimises the mean loss.
        torch.testing.assert_close(
            (ranks[0]['losses'][key] + ranks[1]['losses'][key]) / 2,
            whole[key])
    for level, grad in enumerate(whole_grads):
        torch.testing.assert_close(
            torch.cat([ranks[0]['grads'][level], ranks[1]['grads'][level]]) /
            2, grad)
