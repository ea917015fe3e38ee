"""asmg: keep recommender models fresh with an adaptive meta model-generator (ASMG, RecSys 2021)."""

from setuptools import find_packages, setup

setup(
    name="asmg",
    version="0.1.0",
    description="ASMG meta model-generator for incrementally updated recommenders (TensorFlow/Keras, TFX, TF Serving)",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=find_packages(
        include=["asmg_tf", "asmg_tf.*", "pipeline", "pipeline.*", "serving", "serving.*", "asmg_cli"]
    ),
    install_requires=[
        "tensorflow==2.21.*",
        "tf-keras==2.21.*",
        "tensorflow-recommenders>=0.7.7",
        "tfx[kfp]==1.21.0",
        "apache-beam>=2.77",
        "tensorflow-serving-api==2.19.*",
        "pandas>=2.0",
        "pyarrow>=14",
        "scikit-learn>=1.3",
        "matplotlib>=3.7",
        "tqdm>=4.60",
    ],
    extras_require={"dev": ["pytest", "ruff"], "dask": ["dask>=2024.4.2", "distributed>=2024.4.2"]},
    package_data={"pipeline": ["schema/*.pbtxt", "Dockerfile"], "serving": ["deploy/*", "deploy/*/*"]},
    entry_points={"console_scripts": ["asmg=asmg_cli.main:main"]},
)
