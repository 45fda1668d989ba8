"""One training step (@train_step, with dropout's key and batch norm's buffers) in the JIT
(`kiln run`) and in the built program (`prog run`), at 1 and 2 threads, from the same arguments:
the parameters, buffers and optimizer state of a checkpoint's folder, and a seeded batch. Every
result must be the same bytes in all four runs. Prints one line per result and a summary.

usage: jit_matches_program.py KILN MODEL.kiln PROGRAM CHECKPOINT_FOLDER WORK_FOLDER
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "cpu", "Inputs"))
import npy  # noqa: E402

kiln, model, program, tensors, work = sys.argv[1:6]
npy.write(os.path.join(work, "x.npy"), "f32", [4, 4], [((i * 37) % 17) / 17.0 for i in range(16)])
npy.write(os.path.join(work, "y.npy"), "i32", [4], [0, 2, 1, 2])
npy.write(os.path.join(work, "key.npy"), "i64", [], [123456789])
inputs = [f"{name[:-4]}={os.path.join(tensors, name)}" for name in sorted(os.listdir(tensors))
          if name.endswith(".npy") and not name.startswith("best.")]
inputs += [f"{name}={os.path.join(work, name + '.npy')}" for name in ("x", "y", "key")]

outputs = []
for engine in ("jit", "program"):
    for threads in ("1", "2"):
        folder = os.path.join(work, f"{engine}-{threads}")
        command = [kiln, "run", model] if engine == "jit" else [program, "run"]
        command += ["--function", "train_step", "--threads", threads, "--output", folder]
        for argument in inputs:
            command += ["--input", argument]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        outputs.append(folder)

results = sorted(name for name in os.listdir(outputs[0]) if name.endswith(".npy"))
differing = 0
for name in results:
    contents = [open(os.path.join(folder, name), "rb").read() for folder in outputs]
    same = all(content == contents[0] for content in contents)
    differing += not same
    print(f"{name}: {'same' if same else 'DIFFERENT'}")
print(f"{len(results)} results, {differing} different")
