"""Writes the .npz archives of the `prog train` tests, without NumPy: .npy members (written by
test/cpu/Inputs/npy.py) in a zip file. The examples are points in 4 dimensions whose class is the
largest of their first three coordinates; each variant breaks one thing.

usage: make-data.py VARIANT OUTPUT.npz
"""
import os
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "cpu", "Inputs"))
import npy  # noqa: E402


def examples(count, offset):
    features, labels = [], []
    for i in range(count):
        point = [((i + offset) * 37 + 11 * axis) % 17 / 17.0 for axis in range(4)]
        features += point
        labels.append(max(range(3), key=lambda axis: point[axis]))
    return features, labels


def main():
    variant, output = sys.argv[1], sys.argv[2]
    # "large": enough steps per epoch (10,000) that a signal lands inside an epoch.
    count = 40000 if variant == "large" else 40
    x, y = examples(count, 0)
    x_test, y_test = examples(10, 100000)
    arrays = {"x": ("f32", [count, 4], x), "y": ("i32", [count], y),
              "x_test": ("f32", [10, 4], x_test), "y_test": ("i32", [10], y_test)}
    if variant == "wrong-dtype":
        arrays["x"] = ("i32", [40, 4], [int(v * 17) for v in x])
    elif variant == "wide-dtypes":  # NumPy's default i64 and f64 narrow to the model's
        arrays["x"] = ("f64", [40, 4], x)
        arrays["y"] = ("i64", [40], y)
    elif variant == "wrong-shape":
        arrays["x"] = ("f32", [20, 8], x)
    elif variant == "label-out-of-range":
        arrays["y"] = ("i32", [40], y[:7] + [3] + y[8:])
    elif variant == "nan-input":
        arrays["x"] = ("f32", [40, 4], x[:9] + [float("nan")] + x[10:])
    elif variant == "missing-label":
        del arrays["y"], arrays["y_test"]
    elif variant == "count-mismatch":
        arrays["y"] = ("i32", [36], y[:36])
    elif variant == "partial-test":
        del arrays["y_test"]
    elif variant == "too-few":
        arrays = {"x": ("f32", [2, 4], x[:8]), "y": ("i32", [2], y[:2])}
    elif variant not in ("good", "large"):
        sys.exit(f"unknown variant {variant}")
    with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(output, "w") as archive:
        for name, (dtype, shape, values) in arrays.items():
            path = os.path.join(folder, name + ".npy")
            npy.write(path, dtype, shape, values)
            archive.write(path, name + ".npy")


main()
