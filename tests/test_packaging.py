"""The package's metadata pins the stack that ``tools/setup_env.sh`` installs
and the suite runs on; the top-level files OpenMMLab users look for exist."""
import os.path as osp
import re
import runpy
import setuptools
from importlib.metadata import version
from typing import List

from packaging.requirements import Requirement

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def setup_kwargs(monkeypatch) -> dict:
    """What ``setup.py`` passes to ``setuptools.setup``."""
    captured: dict = {}
    monkeypatch.setattr(setuptools, 'setup',
                        lambda **kwargs: captured.update(kwargs))
    runpy.run_path(osp.join(REPO, 'setup.py'), run_name='__main__')
    return captured


def file_lines(path: str) -> List[str]:
    with open(osp.join(REPO, path), encoding='utf-8') as f:
        return [
            line.strip() for line in f
            if line.strip() and not line.lstrip().startswith('#')
        ]


def test_install_requires_is_the_tested_stack(monkeypatch):
    kwargs = setup_kwargs(monkeypatch)
    install = [Requirement(r) for r in kwargs['install_requires']]
    tests = [Requirement(r) for r in kwargs['extras_require']['tests']]
    assert [str(r) for r in install] == [
        str(Requirement(line))
        for line in file_lines('requirements/runtime.txt')
    ]
    assert [str(r) for r in tests] == [
        str(Requirement(line)) for line in file_lines('requirements/tests.txt')
    ]
    # The OpenMMLab packages are pinned to the versions setup_env.sh and the
    # README install (mmcv is built there, outside requirements/).
    pins = {r.name: str(r.specifier) for r in install}
    with open(osp.join(REPO, 'tools', 'setup_env.sh'), encoding='utf-8') as f:
        script = f.read()
    for name in ('mmengine', 'mmcv'):
        assert {pins[name]} == set(re.findall(rf'{name}(==[0-9.]+)', script))
    assert pins['mmdet'] == '==3.3.0' and pins['mmaction2'] == '==1.2.0'
    # The environment the suite runs in satisfies every requirement.
    for requirement in install + tests:
        assert requirement.specifier.contains(
            version(requirement.name), prereleases=True), requirement


def test_license_and_requirements_files(monkeypatch):
    kwargs = setup_kwargs(monkeypatch)
    assert kwargs['license'] == 'Apache-2.0'
    assert kwargs['license_files'] == ['LICENSE']
    with open(osp.join(REPO, 'LICENSE'), encoding='utf-8') as f:
        text = f.read()
    assert 'Apache License' in text and 'Version 2.0, January 2004' in text
    assert 'END OF TERMS AND CONDITIONS' in text
    # As in mmaction2, requirements.txt gathers the split files.
    assert file_lines('requirements.txt') == [
        '-r requirements/runtime.txt', '-r requirements/tests.txt'
    ]
