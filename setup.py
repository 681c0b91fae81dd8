import re

from setuptools import find_packages, setup

with open("README.md", encoding="utf-8") as f:
    long_description = f.read()
with open("topogcn/__init__.py", encoding="utf-8") as f:
    version = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)

setup(
    name="topogcn",
    version=version,
    description="Topology-adaptive graph learning for skeleton-based micro-gesture "
                "recognition (GE-CN) on PyTorch Geometric",
    long_description=long_description,
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=find_packages(include=["topogcn", "topogcn.*"]),
    package_data={"topogcn": ["configs/*.yaml"]},
    install_requires=[
        "torch>=2.1,<2.14",
        "torch-geometric>=2.5",
        "numpy>=1.23",
        "scipy>=1.9",
        "scikit-learn>=1.2",
        "pyyaml>=6.0",
        "lightning>=2.2",
        "torchmetrics>=1.3",
        "matplotlib>=3.6",
        "tqdm>=4.64",
    ],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6.80"],
        "lint": ["ruff>=0.6", "pylint>=3.0"],
        "docs": ["sphinx>=7", "furo>=2024.1"],
        "scatter": ["torch-scatter>=2.1"],
        "export": ["onnx>=1.16", "onnxruntime>=1.17", "onnxscript>=0.1"],
    },
    entry_points={"console_scripts": ["topogcn=topogcn.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
