"""Install mmyowo: ``pip install -e .`` (run ``bash tools/setup_env.sh`` for
the full stack).

The requirements are read from ``requirements/*.txt``, the files
``tools/setup_env.sh`` installs, so the package and the tested environment
pin the same versions (as in mmaction2's ``setup.py``).
"""
import os.path as osp
from setuptools import find_packages, setup
from typing import List

HERE = osp.dirname(osp.abspath(__file__))


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join(HERE, 'mmyowo', 'version.py'), encoding='utf-8') as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def parse_requirements(path: str) -> List[str]:
    """Requirement specifiers of a requirements file.

    ``-r`` includes are followed; comments and blank lines are skipped.
    """
    requirements = []
    with open(osp.join(HERE, path), encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line.startswith('-r '):
                included = osp.join(osp.dirname(path), line[3:].strip())
                requirements += parse_requirements(included)
            elif line.startswith('-'):
                raise ValueError(f'{path}: pip option {line!r} cannot be '
                                 'turned into a package requirement')
            elif line:
                requirements.append(line)
    return requirements


setup(
    name='mmyowo',
    version=read_version(),
    description='YOWO-Plus: real-time spatio-temporal action detection for '
    'MMAction2',
    long_description=open(osp.join(HERE, 'README.md'),
                          encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    python_requires='>=3.9',
    # torch / torchvision are not listed: tools/setup_env.sh installs the
    # build (CPU or CUDA) that fits the machine first.
    install_requires=parse_requirements('requirements/runtime.txt'),
    extras_require={'tests': parse_requirements('requirements/tests.txt')},
    license='Apache-2.0',
    license_files=['LICENSE'],
    zip_safe=False,
)
