#!/usr/bin/python3
"""Writes examples/data/digits.npz from scikit-learn's bundled copy of the UCI handwritten digits
(Debian: python3-sklearn). Run once; the archive is committed, so builds and tests need neither
scikit-learn nor this script.

The 1,797 8x8 images are flattened to 64 grey levels scaled from [0, 16] to [0, 1] (f32); labels
are the digits (i32). A seeded permutation holds out 20% as the test split: arrays x, y (1,438
training examples, from which a train block's validation_split is taken) and x_test, y_test (359).
"""
import pathlib

import numpy
from sklearn.datasets import load_digits

digits = load_digits()
images = (digits.data / 16.0).astype(numpy.float32)
labels = digits.target.astype(numpy.int32)
order = numpy.random.default_rng(20261201).permutation(len(labels))
test = order[: len(labels) // 5]
train = order[len(labels) // 5 :]
output = pathlib.Path(__file__).resolve().parent.parent / "examples" / "data" / "digits.npz"
output.parent.mkdir(exist_ok=True)
numpy.savez_compressed(output, x=images[train], y=labels[train], x_test=images[test], y_test=labels[test])
print(f"{output}: {len(train)} training and {len(test)} test images, {output.stat().st_size} bytes")
