"""Pure-numpy evaluation functions: frame-mAP, tube linking, video-mAP."""
from .ava_map import (ava_eval_mmaction, ava_frame_map, numpy_aliases,
                      read_ava_detections)
from .average_precision import (per_class_average_precision,
                                voc_average_precision)
from .box_ops import box_iou, boxes_intersect
from .confusion_matrix import detection_confusion_matrix
from .frame_map import PROTOCOLS, frame_map
from .inputs import (DETECTION_COLUMNS, check_videos, flatten_ground_truth,
                     parse_detections, parse_frames)
from .position_map import frame_map_by_position
from .results_io import load_detection_results, save_detection_results
from .tube_linking import link_tubes, link_video
from .video_map import spatiotemporal_iou, video_ap, video_map
from .yowo_linking import (link_tubes_yowo, tube_nms, yowo_link_class,
                           yowo_tube_iou)
from .yowo_video_map import yowo_video_ap, yowo_video_map

__all__ = [
    'DETECTION_COLUMNS', 'PROTOCOLS', 'ava_eval_mmaction', 'ava_frame_map',
    'numpy_aliases', 'read_ava_detections', 'box_iou', 'boxes_intersect',
    'check_videos', 'detection_confusion_matrix', 'flatten_ground_truth',
    'frame_map', 'frame_map_by_position', 'link_tubes', 'link_tubes_yowo',
    'link_video', 'load_detection_results', 'parse_detections', 'parse_frames',
    'per_class_average_precision', 'save_detection_results',
    'spatiotemporal_iou', 'tube_nms', 'video_ap', 'video_map',
    'voc_average_precision', 'yowo_link_class', 'yowo_tube_iou',
    'yowo_video_ap', 'yowo_video_map'
]
