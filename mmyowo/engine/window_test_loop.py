"""``mim test`` in streaming mode: one 3D pass per window (paper §1, §3.1).

``test_cfg = dict(type='WindowTestLoop')`` (or ``--cfg-options
test_cfg.type=WindowTestLoop``) evaluates every frame of the test videos
as :class:`~mmyowo.apis.YOWOVideoDetector`'s streaming mode does, through
the config's test dataloader, metrics and hooks, on one process or under
DDP.
"""
from typing import Any, Dict, List, Optional, Sequence, Union

from mmaction.registry import LOOPS
from mmaction.structures import ActionDataSample
from mmengine.dist import (broadcast_object_list, collect_results,
                           get_dist_info, is_main_process)
from mmengine.evaluator import Evaluator
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop
from mmengine.runner.amp import autocast
from torch.utils.data import DataLoader

from mmyowo.datasets.window_dataset import WindowDataset, partition_videos


@LOOPS.register_module()
class WindowTestLoop(TestLoop):
    """Test loop of the streaming mode: every frame a key frame, one 3D pass
    per window of ``L`` frames.

    The test dataset's videos are cut into the windows of
    :func:`~mmyowo.datasets.window_dataset.stream_windows` (``L`` and the
    sampling step ``p`` from its pipeline's ``KFRSampleFrames``); a window
    loads through the test pipeline like a clip, and
    ``YOWO.predict_windows`` detects on all its frames with one 3D pass,
    exactly what ``YOWOVideoDetector(mode='streaming')`` computes. The
    evaluator then receives one data sample per frame (metainfo of the
    window with the frame's ``frame_id`` and ``key_frame_index``, and its
    ``pred_instances``; no ``gt_instances``: the metrics read the ground
    truth from their annotation file), as from the per-frame ``TestLoop``.
    A model trained with key-frame random sampling (KFRS) is meant to be
    tested so; one trained with the key frame last degrades at the early
    positions (README, "Accuracy by key-frame position").

    Under DDP each rank takes a contiguous run of whole videos (about equal
    frame totals) and the ranks' results are gathered in rank order, so
    the metrics and the results file equal one process's.

    The log names the mode and the number of 3D passes (one per window,
    against one per frame in the per-frame ``TestLoop``).

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The test dataloader (its dataset
            and its loader settings are used).
        evaluator (Evaluator | dict | list): The test evaluator.
        fp16 (bool): Test under ``autocast``. Defaults to False.
        windows_per_batch (int, optional): Windows per iteration; defaults
            to the dataloader's ``batch_size``, so that a batch holds as
            many clips for the 3D branch as the per-frame loop's.
        frame_batch (int, optional): Most key frames per 2D / neck / head
            call; defaults to the dataloader's ``batch_size`` (the per-frame
            loop's 2D batch).
    """

    dataloader: DataLoader

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 evaluator: Union[Evaluator, Dict, List],
                 fp16: bool = False,
                 windows_per_batch: Optional[int] = None,
                 frame_batch: Optional[int] = None) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        source: DataLoader = self.dataloader
        batch_size = source.batch_size or 1
        for name, value in (('windows_per_batch', windows_per_batch),
                            ('frame_batch', frame_batch)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f'{type(self).__name__}: {name} must be an '
                                 f'int >= 1, got {value!r}')
        self.frame_batch = frame_batch or batch_size
        self.source_dataloader = source
        videos = WindowDataset.group_by_video(source.dataset)
        rank, world_size = get_dist_info()
        counts = [total for total, _ in videos.values()]
        parts = partition_videos(counts, world_size)
        video_ids = list(videos)
        self.windows = WindowDataset(
            source.dataset, [video_ids[i] for i in parts[rank]], videos=videos)
        self.total_windows = len(WindowDataset(source.dataset, videos=videos))
        self.total_frames = sum(len(listed) for _, listed in videos.values())
        # runner.test_dataloader is this loop's ``dataloader``: the logger
        # then counts window batches.
        self.dataloader = DataLoader(
            self.windows,
            batch_size=windows_per_batch or batch_size,
            shuffle=False,
            num_workers=source.num_workers,
            collate_fn=source.collate_fn,
            pin_memory=source.pin_memory,
            persistent_workers=False)
        print_log(
            f'{type(self).__name__}: streaming evaluation, one 3D pass per '
            f'window of clip_len={self.windows.clip_len} frames '
            f'(frame_interval={self.windows.frame_interval}), every frame a '
            f'key frame: {self.total_frames} frames of {len(videos)} videos '
            f'in {self.total_windows} windows = {self.total_windows} 3D '
            f'passes (the per-frame TestLoop makes {self.total_frames}); '
            f'rank {rank}/{world_size}: {len(parts[rank])} videos, '
            f'{len(self.windows)} windows',
            logger='current')

    def run(self) -> dict:
        """Detect on every window, then evaluate the per-frame results."""
        self.runner.call_hook('before_test')
        self.runner.call_hook('before_test_epoch')
        self.runner.model.eval()
        self.num_3d_passes = 0
        for idx, data_batch in enumerate(self.dataloader):
            self.run_iter(idx, data_batch)
        metrics = self._evaluate()
        print_log(
            f'{type(self).__name__}: streaming mode, {self.total_windows} 3D '
            f'passes for {self.total_frames} frames (this rank: '
            f'{self.num_3d_passes})',
            logger='current')
        self.runner.call_hook('after_test_epoch', metrics=metrics)
        self.runner.call_hook('after_test')
        return metrics

    def run_iter(self, idx, data_batch: Dict[str, Any]) -> None:
        """Detect on one batch of windows and feed the evaluator one data
        sample per reported frame."""
        self.runner.call_hook(
            'before_test_iter', batch_idx=idx, data_batch=data_batch)
        model: Any = self.runner.model.module \
            if is_model_wrapper(self.runner.model) else self.runner.model
        with autocast(enabled=self.fp16):
            data = model.data_preprocessor(data_batch, False)
            samples: Sequence[ActionDataSample] = data['data_samples']
            metas = [[
                dict(sample.metainfo, frame_id=frame, key_frame_index=j)
                for j, frame in enumerate(sample.window_frame_ids)
            ] for sample in samples]
            preds = model.predict_windows(data['inputs'], metas,
                                          self.frame_batch)
        self.num_3d_passes += len(samples)
        outputs = []
        for sample, window_metas, window_preds in zip(samples, metas, preds):
            for meta, listed, pred in zip(window_metas, sample.window_listed,
                                          window_preds):
                if listed:
                    outputs.append(
                        ActionDataSample(metainfo=meta, pred_instances=pred))
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook(
            'after_test_iter',
            batch_idx=idx,
            data_batch=data_batch,
            outputs=outputs)

    def _evaluate(self) -> Dict[str, Any]:
        """Each metric on the results of all ranks, in rank order.

        ``Evaluator.evaluate`` gathers the ranks' results interleaved, one
        by one, and cuts them to the dataset size: right when each rank
        has one result per dataset sample, wrong here, where the ranks hold
        different numbers of frames. Each rank's list is gathered whole
        instead; the rest is ``BaseMetric.evaluate``.
        """
        _, world_size = get_dist_info()
        metrics: Dict[str, Any] = {}
        for metric in self.evaluator.metrics:
            if metric.collect_device == 'cpu':
                parts = collect_results([list(metric.results)],
                                        world_size,
                                        'cpu',
                                        tmpdir=metric.collect_dir)
            else:
                parts = collect_results([list(metric.results)], world_size,
                                        metric.collect_device)
            if is_main_process():
                results = [r for part in parts for r in part]
                computed = metric.compute_metrics(results)
                if metric.prefix:
                    computed = {
                        '/'.join((metric.prefix, k)): v
                        for k, v in computed.items()
                    }
                shared = [computed]
            else:
                shared = [None]
            broadcast_object_list(shared)
            metric.results.clear()
            repeated = set(shared[0]) & set(metrics)
            if repeated:
                raise ValueError(f'There are multiple evaluation results with '
                                 f'the same metric name {sorted(repeated)}')
            metrics.update(shared[0])
        return metrics
