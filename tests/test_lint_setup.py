"""The developer checks of README "Development": the docformatter entry point
keeps paper citations and hyphenated literals whole, the main components carry
doctests, and every pre-commit hook is a local call of a pinned tool."""
import doctest
import os.path as osp
import subprocess
import sys

import pytest
import yaml

from mmyowo.datasets.transforms import KFRSampleFrames
from mmyowo.evaluation.functional import frame_map
from mmyowo.models.backbones import CSPDarknet53
from mmyowo.models.dense_heads import YOWOHead
from mmyowo.models.necks import STMFusionFPN

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CITING = '''def fuse():
    """Fuse both branches (paper §3.2, Fig. 3, eq. 4)."""


def loss():
    """Eq. 5-10 over the batch."""
'''


def docformatter(args, entry):
    """Exit status of docformatter run from the repository (its settings)."""
    return subprocess.run([sys.executable, *entry, *args],
                          cwd=ROOT,
                          capture_output=True,
                          text=True).returncode


@pytest.mark.parametrize('entry', [['tools/run_docformatter.py'],
                                   ['-m', 'docformatter']])
def test_docformatter_entry_keeps_citations(tmp_path, entry):
    """Plain docformatter ends the summaries at 'Fig.' and 'Eq.' (it would
    rewrite them, exit 3); the project's entry point leaves them."""
    path = tmp_path / 'citing.py'
    path.write_text(CITING, encoding='utf-8')
    status = docformatter(['--check', str(path)], entry)
    assert status == (0 if entry[0].startswith('tools') else 3)


@pytest.mark.parametrize('entry', [['tools/run_docformatter.py'],
                                   ['-m', 'docformatter']])
def test_docformatter_entry_keeps_hyphenated_literals(tmp_path, entry):
    """Wrapping at 79 columns, plain docformatter breaks the literal after its
    hyphen; the project's entry point breaks before it."""
    path = tmp_path / 'literal.py'
    path.write_text(
        'def f():\n    """The ' + 'word ' * 9 +
        '(pytest ``--doctest-modules``) runs them."""\n',
        encoding='utf-8')
    docformatter(['--in-place', str(path)], entry)
    broken = '(pytest ``--doctest-\n    modules``) runs them.'
    kept = '(pytest\n    ``--doctest-modules``) runs them.'
    text = path.read_text(encoding='utf-8')
    assert (kept if entry[0].startswith('tools') else broken) in text


def test_docformatter_entry_still_formats(tmp_path):
    """Everything else is docformatter's: a summary without its period is
    reported (exit 3) and fixed in place."""
    path = tmp_path / 'sloppy.py'
    path.write_text(
        'def f():\n    """Return the eq. 4 value"""\n', encoding='utf-8')
    entry = ['tools/run_docformatter.py']
    assert docformatter(['--check', str(path)], entry) == 3
    docformatter(['--in-place', str(path)], entry)
    assert path.read_text(encoding='utf-8') == \
        'def f():\n    """Return the eq. 4 value."""\n'


@pytest.mark.parametrize(
    'obj', [CSPDarknet53, STMFusionFPN, YOWOHead, KFRSampleFrames, frame_map])
def test_main_components_have_doctests(obj):
    """Their ``Example:`` sections run with the suite (pytest
    ``--doctest-modules mmyowo``): removing one must be a visible change."""
    tests = doctest.DocTestFinder(recurse=False).find(obj)
    assert sum(len(t.examples) for t in tests) >= 3


def test_fusion_neck_docstring_draws_the_neck():
    """The ASCII diagram names both fusion stages of Fig. 3."""
    doc = STMFusionFPN.__doc__
    for part in ('STM(4)', 'STM(2)', 'STM(1)', 'UpSample', '3 convs'):
        assert part in doc


def test_pre_commit_hooks_are_local_pinned_tools():
    """pre-commit cannot clone hook repositories here: every hook calls a
    tool of .venv that requirements/lint.txt pins."""
    with open(osp.join(ROOT, 'requirements', 'lint.txt')) as f:
        pinned = {
            line.split('==')[0].strip().lower()
            for line in f if '==' in line and not line.startswith('#')
        }
    with open(osp.join(ROOT, '.pre-commit-config.yaml')) as f:
        config = yaml.safe_load(f)
    hooks = [h for repo in config['repos'] for h in repo['hooks']]
    assert all(repo['repo'] == 'local' for repo in config['repos'])
    assert {h['id']
            for h in hooks} == {
                'flake8', 'isort', 'yapf', 'docformatter', 'codespell', 'mypy',
                'interrogate'
            }
    for hook in hooks:
        assert hook['language'] == 'system'
        program = hook['entry'].split()[0]
        assert program.startswith('.venv/bin/')
        tool = hook['id']
        assert tool in pinned, f'{tool} is not pinned in lint.txt'
