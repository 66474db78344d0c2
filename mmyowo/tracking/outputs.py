"""Machine-readable outputs of online tracking.

:class:`TrackingWriter` writes, as frames are processed:

* ``--out-json``: JSON Lines, one object per processed frame::

    {"frame": 12, "time": 0.48, "persons": [{"track_id": 3,
     "box": [x1, y1, x2, y2], "actions": [{"label": 0, "action": "Fencing",
     "score": 0.81, "raw_score": 0.77}, ...], "active": ["Fencing"]}]}

  (``time`` in seconds from the start of the source; ``actions``: the
  classes whose smoothed score reaches the threshold, highest first,
  ``raw_score`` the frame's own score) and, next to it, the events file
  ``<stem>.events.jsonl``, one object per start / end event
  (:meth:`~.events.ActionEvent.to_dict`).
* ``--out-csv``: the CSV that ``tools/data/convert_csv.py`` reads, with
  :data:`CSV_HEADER` columns, 0-based frames and pixel boxes (clipped to
  the frame), one row per tracked person and frame with its actions at or
  above the threshold joined by ``;`` (convert with ``--frame-base 0
  --coords pixel --label-by name``): correct it, convert it, train on it.

Every file is written to a temporary in its folder and renamed into place
when the writer is closed (also after Ctrl-C), so no reader ever sees a
half-written file under the final name.
"""
import csv
import json
import os
import os.path as osp
from typing import IO, Dict, List, Optional, Sequence, Tuple

from mmengine.utils import mkdir_or_exist

from mmyowo.utils.atomic_io import claim_temporary, release_temporary
from .events import ActionEvent
from .online import TrackedFrame

#: Columns of the CSV (those of ``tools/data/convert_csv.py``).
CSV_HEADER = ('video', 'frame', 'x1', 'y1', 'x2', 'y2', 'label', 'track_id')


def events_path(json_path: str) -> str:
    """The events file next to a JSON Lines file: ``<stem>.events.jsonl``."""
    stem, _ = osp.splitext(json_path)
    return stem + '.events.jsonl'


class _AtomicFile:
    """A text file written to a temporary and renamed in place on close."""

    def __init__(self, path: str) -> None:
        self.path = osp.abspath(path)
        mkdir_or_exist(osp.dirname(self.path))
        # Claimed: an atomic write in this folder meanwhile would otherwise
        # remove it as a leftover of this process.
        self.tmp = claim_temporary(self.path)
        try:
            self.file: IO[str] = open(
                self.tmp, 'x', encoding='utf-8', newline='')
        except BaseException:
            release_temporary(self.tmp)
            raise

    def close(self, keep: bool = True) -> None:
        """Flush, sync and rename into place (or remove if not ``keep``)."""
        if self.file.closed:
            return
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            if keep:
                os.replace(self.tmp, self.path)
            else:
                os.remove(self.tmp)
        finally:
            release_temporary(self.tmp)


class TrackingWriter:
    """Write per-frame JSON Lines, events and the training CSV.

    Args:
        class_names (sequence[str]): The class names.
        score_thr (float): Lowest smoothed score written as an action.
        json_path (str, optional): JSON Lines path (and its events file).
        csv_path (str, optional): CSV path.
        video (str): Video id written in the CSV's ``video`` column.
    """

    def __init__(self,
                 class_names: Sequence[str],
                 score_thr: float,
                 json_path: Optional[str] = None,
                 csv_path: Optional[str] = None,
                 video: str = 'video') -> None:
        self.class_names = list(class_names)
        self.score_thr = float(score_thr)
        self.video = video
        self._files: Dict[str, _AtomicFile] = {}
        if json_path:
            self._files['json'] = _AtomicFile(json_path)
            self._files['events'] = _AtomicFile(events_path(json_path))
        self._csv = None
        if csv_path:
            self._files['csv'] = _AtomicFile(csv_path)
            self._csv = csv.writer(self._files['csv'].file)
            self._csv.writerow(CSV_HEADER)

    @property
    def paths(self) -> List[str]:
        """The final paths of the files written."""
        return [f.path for f in self._files.values()]

    def write_frame(self, tracked: TrackedFrame,
                    frame_size: Tuple[int, int]) -> None:
        """Write one processed frame (and its events).

        Args:
            tracked: The frame's tracking result.
            frame_size: ``(width, height)`` of the frame, to clip the CSV's
                boxes.
        """
        if 'json' in self._files:
            persons = []
            for person in tracked.persons:
                persons.append(
                    dict(
                        track_id=person.track_id,
                        box=[round(float(v), 2) for v in person.bbox],
                        actions=person.actions(self.score_thr,
                                               self.class_names),
                        active=[self.class_names[c] for c in person.active]))
            record = dict(
                frame=tracked.frame,
                time=round(tracked.time, 4),
                persons=persons)
            self._files['json'].file.write(json.dumps(record) + '\n')
        self.write_events(tracked.events)
        if self._csv is not None:
            width, height = frame_size
            for person in tracked.persons:
                names = [
                    a['action']
                    for a in person.actions(self.score_thr, self.class_names)
                ]
                x1, y1, x2, y2 = (float(v) for v in person.bbox)
                x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
                y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
                if not names or x2 - x1 < 1 or y2 - y1 < 1:
                    continue  # no action to label, or a box off the frame
                self._csv.writerow([
                    self.video, tracked.frame, f'{x1:.1f}', f'{y1:.1f}',
                    f'{x2:.1f}', f'{y2:.1f}', ';'.join(names), person.track_id
                ])

    def write_events(self, events: Sequence[ActionEvent]) -> None:
        """Append events to the events file (if any)."""
        if 'events' in self._files:
            for event in events:
                self._files['events'].file.write(
                    json.dumps(event.to_dict()) + '\n')

    def close(self, keep: bool = True) -> None:
        """Put every file in place (or discard them if not ``keep``)."""
        for f in self._files.values():
            f.close(keep)

    def __enter__(self) -> 'TrackingWriter':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
