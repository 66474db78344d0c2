"""Install mmyowo: ``pip install -e .`` (run ``bash tools/setup_env.sh`` for the full stack)."""
from setuptools import find_packages, setup


def read_version() -> str:
    namespace: dict = {}
    with open('mmyowo/version.py', encoding='utf-8') as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='mmyowo',
    version=read_version(),
    description='YOWO-Plus: real-time spatio-temporal action detection for MMAction2',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    python_requires='>=3.9',
    install_requires=[
        'mmengine>=0.10.0,<0.11', 'mmcv>=2.0.0,<2.2.0', 'mmdet>=3.0.0,<3.4',
        'mmaction2>=1.1.0,<1.3', 'importlib_metadata', 'numpy', 'scipy',
        'opencv-python', 'tqdm'
    ],
    extras_require={'tests': ['pytest', 'timm', 'onnx', 'onnxruntime']},
    license='Apache License 2.0',
    zip_safe=False,
)
