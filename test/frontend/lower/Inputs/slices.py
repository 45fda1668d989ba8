# Writes a model that slices iota([6]) with every combination of start, stop and step from a
# small grid, and the FileCheck lines that Python's own list slicing (NumPy's rules) expects.
import itertools
import sys

model_path, check_path = sys.argv[1], sys.argv[2]
bounds = [None, -8, -6, -3, -1, 0, 2, 5, 6, 8]
steps = [None, 1, 2, 7, -1, -2, -3, -7]


def spell(value):
    return "" if value is None else str(value)


slices, checks = [], []
for index, (start, stop, step) in enumerate(itertools.product(bounds, bounds, steps)):
    text = f"{spell(start)}:{spell(stop)}" + ("" if step is None else f":{step}")
    picked = list(range(6))[slice(start, stop, step)]
    slices.append(f"a[{text}]")
    values = ", ".join(str(value) for value in picked)
    checks.append(f"CHECK-NEXT: result {index}: i64[{len(picked)}] = [{values}]")

with open(model_path, "w") as model:
    model.write("model Slices {\n  fn forward() {\n    let a = iota([6])\n    (" + ",\n     ".join(slices) + ")\n  }\n}\n")
with open(check_path, "w") as check:
    check.write("\n".join(checks).replace("CHECK-NEXT", "CHECK", 1) + "\n")
