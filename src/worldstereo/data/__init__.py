"""Data: the synthetic scene engine, training datasets and augmentations, bundled samples.

The only package besides ``reconstruction`` and ``eval`` allowed to import Open3D (inside functions).
"""
