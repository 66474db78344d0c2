"""The reference pages lead from a name to its file: the README's component
table covers every registered component, ``docs/api.md`` every public name
of the package, each with the file that defines it."""
import importlib
import inspect
import os.path as osp
import pkgutil
import re
from collections import defaultdict
from typing import Dict, Set

import pytest
from mmaction.registry import (DATASETS, HOOKS, METRICS, MODELS, TASK_UTILS,
                               TRANSFORMS)

import mmyowo  # noqa: F401  (registers the components)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
REGISTRIES = dict(
    MODELS=MODELS,
    DATASETS=DATASETS,
    TRANSFORMS=TRANSFORMS,
    METRICS=METRICS,
    HOOKS=HOOKS,
    TASK_UTILS=TASK_UTILS)
# Subpackages whose ``__all__`` docs/api.md documents.
API_PACKAGES = ('apis', 'datasets', 'deploy', 'engine', 'engine.hooks',
                'evaluation.functional', 'evaluation.metrics', 'fileio',
                'models.backbones', 'models.necks', 'models.dense_heads',
                'models.detectors', 'models.task_modules', 'models.losses',
                'models.layers', 'models.utils', 'preparation', 'tracking',
                'utils')
LINK = re.compile(r'\]\(([^)]+)\)')


def read(path: str) -> str:
    with open(osp.join(REPO, path), encoding='utf-8') as f:
        return f.read()


def registered_components() -> Dict[str, Set[str]]:
    """Registry name -> the names mmyowo registers there."""
    found = defaultdict(set)
    for registry_name, registry in REGISTRIES.items():
        for name, cls in registry.module_dict.items():
            if cls.__module__.startswith('mmyowo.'):
                found[registry_name].add(name)
    return found


def defining_file(obj) -> str:
    return osp.relpath(inspect.getsourcefile(inspect.unwrap(obj)), REPO)


def test_readme_component_table_names_every_component_and_its_file():
    text = read('README.md')
    table = text[text.index('| component | registry | file | paper |'):]
    rows = table.split('\n\n')[0].splitlines()[2:]
    assert rows
    for registry_name, names in registered_components().items():
        for name in sorted(names):
            matching = [r for r in rows if f'`{name}`' in r]
            assert matching, f'{name} is not in the README table'
            cells = [c.strip() for c in matching[0].strip('|').split('|')]
            assert cells[1] == registry_name, (name, cells[1])
            files = LINK.findall(cells[2])
            cls = REGISTRIES[registry_name].get(name)
            assert defining_file(cls) in files, (name, files)
    for row in rows:
        for path in LINK.findall(row):
            assert osp.isfile(osp.join(REPO, path)), path


def api_rows() -> Dict[str, Set[str]]:
    """Name -> files linked in its row of docs/api.md."""
    rows = defaultdict(set)
    for line in read(osp.join('docs', 'api.md')).splitlines():
        match = re.match(r'\| `([\w.]+)` \|', line)
        if match:
            for path in LINK.findall(line):
                rows[match.group(1)].add(osp.normpath(osp.join('docs', path)))
    return rows


def api_objects():
    for package in API_PACKAGES:
        module = importlib.import_module(f'mmyowo.{package}')
        for name in module.__all__:
            yield package, name, getattr(module, name)
    for registry_name, names in registered_components().items():
        for name in names:
            yield registry_name, name, REGISTRIES[registry_name].get(name)
    visualization = importlib.import_module('mmyowo.visualization')
    for info in pkgutil.iter_modules(visualization.__path__):
        module = importlib.import_module(f'mmyowo.visualization.{info.name}')
        for name, obj in vars(module).items():
            if (inspect.isfunction(obj) and not name.startswith('_')
                    and obj.__module__ == module.__name__):
                yield 'visualization', name, obj


@pytest.mark.parametrize('section', [
    'apis', 'datasets', 'deploy', 'engine', 'evaluation', 'fileio', 'models',
    'preparation', 'tracking', 'utils', 'visualization'
])
def test_api_reference_has_a_section_per_subpackage(section):
    assert re.search(rf'^## {section}$', read('docs/api.md'), re.M)


def test_api_reference_lists_every_public_name_with_its_file():
    rows = api_rows()
    missing = []
    for where, name, obj in api_objects():
        if inspect.isclass(obj) or inspect.isroutine(obj):
            if defining_file(obj) not in rows.get(name, ()):
                missing.append(f'{where}.{name} ({defining_file(obj)})')
        elif not any(
                re.search(rf'^{name}(: [^=]+)? = ', read(path), re.M)
                for path in rows.get(name, ())):
            missing.append(f'{where}.{name} (constant)')
    assert not missing, ('docs/api.md lacks a row (or the right file) for: ' +
                         ', '.join(missing))
    for files in rows.values():
        for path in files:
            assert osp.isfile(osp.join(REPO, path)), path
