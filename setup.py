from setuptools import find_packages, setup

setup(
    name="nmt",
    version="0.1.0",
    description="A fairseq-style neural machine translation toolkit in Python and PyTorch",
    python_requires=">=3.10",
    packages=find_packages(include=["toolkit", "toolkit.*", "cli", "cli.*"]),
    install_requires=[
        # A range that the CPU wheel 2.13.0 satisfies, so an installed torch is never replaced.
        "torch>=2.4",
        "sacremoses>=0.1",
        "subword-nmt>=0.3.8",
        "sacrebleu>=2.3",
        "rich>=13",
        "numpy>=1.24",
    ],
    extras_require={
        # The --plot-attention and training-curve tests draw; the --tensorboard-logdir tests read event files back.
        # ... and the export tests compare CTranslate2's translations with ours.
        "test": ["pytest>=7", "hypothesis>=6", "matplotlib>=3.7", "tensorboard>=2.10", "ctranslate2>=4.0"],
        "plot": ["matplotlib>=3.7"],
        "ctranslate2": ["ctranslate2>=4.0"],
        "tensorboard": ["tensorboard>=2.10"],
    },
    entry_points={"console_scripts": ["nmt=cli.main:main"]},
)
