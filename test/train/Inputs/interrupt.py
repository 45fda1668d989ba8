"""Ctrl-C during `prog train`: interrupts a run once its first epoch is reported, checks that it
exits with 130 after saving, then checks that resuming from that checkpoint to the end of the
next epoch gives the same checkpoint, byte for byte, as training that far straight.

usage: interrupt.py PROGRAM DATA.npz FOLDER
"""
import os
import re
import signal
import subprocess
import sys

program, data, folder = sys.argv[1:4]
saved = os.path.join(folder, "interrupted.ckpt")
run = subprocess.Popen([program, "train", "--data", data, "--epochs", "1000", "--save", saved],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
lines = []
for line in run.stdout:
    lines.append(line)
    if line.startswith("epoch "):
        run.send_signal(signal.SIGINT)
        break
lines += run.stdout.readlines()
status = run.wait()
print("".join(lines), end="")
print(f"exit status {status}")
match = re.search(r"interrupted (?:in epoch (\d+) after step \d+ of \d+|after epoch (\d+))", "".join(lines))
if status != 130 or not match:
    sys.exit("the interrupted run did not stop as expected")
# The epoch the interrupted run was in, or the last it finished (then the next one runs).
epoch = int(match.group(1) or int(match.group(2)) + 1)

resumed = os.path.join(folder, "resumed.ckpt")
straight = os.path.join(folder, "straight.ckpt")
subprocess.run([program, "train", "--data", data, "--epochs", str(epoch), "--resume", saved, "--save", resumed],
               check=True, stdout=subprocess.DEVNULL)
subprocess.run([program, "train", "--data", data, "--epochs", str(epoch), "--save", straight], check=True,
               stdout=subprocess.DEVNULL)
with open(resumed, "rb") as first, open(straight, "rb") as second:
    same = first.read() == second.read()
print(f"resumed to the end of epoch {epoch}: {'the same checkpoint' if same else 'a different checkpoint'}")
