#!/usr/bin/python3
"""Writes the golden values that OptimizerTest (test/unit) checks Kiln's optimizers against.

One small regressor (Kiln's Linear(4, 3): y = x w + b, loss mse) is trained for three steps on
one fixed batch by torch.optim, in float32, once per optimizer setting below. For each case,
Inputs/optimizers/NAME/ gets:
  settings.txt      the train block's settings: `optimizer = ...`, and the schedule and clipping
                    some cases add
  x.npy, y.npy      the batch
  w.npy, b.npy      the parameters before the first step, in Kiln's layout (w is [in, out])
  w.N.npy, b.N.npy  the parameters after step N = 1, 2, 3
The files are committed; the test needs neither PyTorch nor this script. To regenerate:
  apt-get install python3-torch python3-numpy
  /usr/bin/python3 test/golden/optimizers.py
"""
import pathlib
import shutil

import numpy as np
import torch

HERE = pathlib.Path(__file__).resolve().parent / "Inputs" / "optimizers"

# (name, Kiln's optimizer expression, the torch.optim constructor with the same settings)
CASES = [
    ("sgd", "sgd(lr: 0.1)", lambda p: torch.optim.SGD(p, lr=0.1)),
    ("sgd_momentum", "sgd(lr: 0.05, momentum: 0.9, dampening: 0.25, weight_decay: 0.01)",
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.25, weight_decay=0.01)),
    ("sgd_nesterov", "sgd(lr: 0.05, momentum: 0.8, nesterov: true)",
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True)),
    ("adam", "adam(lr: 0.01)", lambda p: torch.optim.Adam(p, lr=0.01)),
    ("adam_amsgrad", "adam(lr: 0.02, betas: (0.8, 0.9), eps: 1e-6, weight_decay: 0.1, amsgrad: true)",
     lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    ("adamw", "adamw(lr: 0.01, weight_decay: 0.5)", lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.5)),
    ("rmsprop", "rmsprop(lr: 0.01)", lambda p: torch.optim.RMSprop(p, lr=0.01)),
    ("rmsprop_centered", "rmsprop(lr: 0.01, alpha: 0.9, weight_decay: 0.05, momentum: 0.5, centered: true)",
     lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, weight_decay=0.05, momentum=0.5, centered=True)),
    ("adagrad", "adagrad(lr: 0.1, lr_decay: 0.5, weight_decay: 0.1, initial_accumulator_value: 0.25)",
     lambda p: torch.optim.Adagrad(p, lr=0.1, lr_decay=0.5, weight_decay=0.1, initial_accumulator_value=0.25)),
]
# Cases with an lr schedule (stepped after every update, as Kiln counts) or gradient clipping:
# (name, Kiln's settings, optimizer, scheduler or None, max_norm or None)
SCHEDULED = [
    ("sgd_clipped", "optimizer = sgd(lr: 0.1)\nclip_grad_norm = 0.5", lambda p: torch.optim.SGD(p, lr=0.1), None, 0.5),
    ("adam_cosine", "optimizer = adam(lr: 0.05)\nlr_schedule = cosine_decay(total: 2)", lambda p: torch.optim.Adam(p, lr=0.05),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=2), None),
    ("sgd_warmup", "optimizer = sgd(lr: 0.1, momentum: 0.5)\nlr_schedule = linear_warmup(steps: 2, start_factor: 0.25)",
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.5),
     lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=2), None),
    ("rmsprop_step_decay", "optimizer = rmsprop(lr: 0.01)\nlr_schedule = step_decay(every: 2, gamma: 0.5)\n"
     "clip_grad_norm = 0.25", lambda p: torch.optim.RMSprop(p, lr=0.01),
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5), 0.25),
]
STEPS = 3


def save(folder, name, tensor):
    np.save(folder / f"{name}.npy", tensor.detach().numpy().astype(np.float32))


def main():
    shutil.rmtree(HERE, ignore_errors=True)
    generator = torch.Generator().manual_seed(7)
    x = torch.randn(5, 4, generator=generator)
    y = torch.randn(5, 3, generator=generator)
    w0 = torch.randn(4, 3, generator=generator) * 0.5
    b0 = torch.randn(3, generator=generator) * 0.5
    cases = [(name, f"optimizer = {expression}", make, None, None) for name, expression, make in CASES] + SCHEDULED
    for name, settings, make, make_scheduler, max_norm in cases:
        folder = HERE / name
        folder.mkdir(parents=True)
        (folder / "settings.txt").write_text(settings + "\n")
        for array, label in ((x, "x"), (y, "y"), (w0, "w"), (b0, "b")):
            save(folder, label, array)
        w = w0.clone().requires_grad_(True)
        b = b0.clone().requires_grad_(True)
        optimizer = make([w, b])
        scheduler = make_scheduler(optimizer) if make_scheduler else None
        for step in range(1, STEPS + 1):
            optimizer.zero_grad()
            loss = torch.mean((x @ w + b - y) ** 2)
            loss.backward()
            if max_norm is not None:
                norm = torch.nn.utils.clip_grad_norm_([w, b], max_norm)
                assert norm > max_norm, f"{name}: the gradient norm {norm} is not clipped"
            optimizer.step()
            if scheduler:
                scheduler.step()
            save(folder, f"w.{step}", w)
            save(folder, f"b.{step}", b)


if __name__ == "__main__":
    main()
