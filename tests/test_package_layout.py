"""Runtime code is apart from preparation code: ``import mmyowo`` (what
training, testing and inference do) loads no converter, media probe,
synthetic generator or weight converter."""
import json
import subprocess
import sys

# Preparation entry points, by the name they had wherever they lived.
PREPARATION_NAMES = {
    'probe_media', 'probe_video', 'probe_rawframes', 'parse_frame_number',
    'convert_timm_cspdarknet53', 'generate_synthetic_dataset',
    'generate_synthetic_ava', 'split_videos', 'new_ground_truth',
    'sanitize_tube', 'save_converted', 'read_csv_annotations',
    'read_class_list', 'splits_from_rows'
}
# A fresh interpreter: the test session itself has imported everything.
PROBE = '''
import inspect, json, sys
import mmyowo
loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'mmyowo')
defined = {}
for name in loaded:
    for attr, obj in vars(sys.modules[name]).items():
        if inspect.isfunction(obj) and obj.__module__ == name:
            defined.setdefault(attr, name)
print(json.dumps(dict(loaded=loaded, defined=defined)))
'''


def test_import_mmyowo_loads_no_preparation_code():
    out = subprocess.run([sys.executable, '-c', PROBE],
                         check=True,
                         capture_output=True,
                         text=True).stdout
    found = json.loads(out.strip().splitlines()[-1])
    # The runtime packages are there (the probe saw what it should) ...
    for package in ('mmyowo.datasets.transforms.loading',
                    'mmyowo.models.backbones.cspdarknet53',
                    'mmyowo.datasets.annotations'):
        assert package in found['loaded']
    # ... and nothing of the preparation package nor its functions.
    assert not [m for m in found['loaded'] if 'preparation' in m]
    leaked = {
        name: module
        for name, module in found['defined'].items()
        if name in PREPARATION_NAMES
    }
    assert not leaked, f'runtime modules define preparation code: {leaked}'
