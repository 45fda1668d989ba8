#!/usr/bin/python3
"""Writes the golden values that test/golden/pytorch.test checks Kiln's gradients against.

For each model Inputs/NAME.kiln, the same network is built from torch.nn modules with seeded
weights and inputs, the loss and its gradient are computed in float64, and Inputs/NAME/ gets:
  <argument>.npy    every argument of Kiln's @loss (inputs, labels, parameters) in Kiln's
                    layout and dtype (f32 values, so both sides start from the same numbers)
  loss.npy          the loss, f64
  d_<param>.npy     the loss's gradient with respect to each parameter, f64, in Kiln's layout
  new.<buffer>.npy  a buffer's value after the step (batch norm's running statistics), f64
The files are committed; the test needs neither PyTorch nor this script. To regenerate:
  apt-get install python3-torch python3-numpy
  /usr/bin/python3 test/golden/generate.py [MODEL...]
Layouts: a Linear weight is [in, out] in Kiln, PyTorch's transposed; LSTM and GRU weights are
PyTorch's [gates * hidden, in] transposed, with the gate order unchanged (i, f, g, o and r, z, n).
"""
import pathlib
import shutil
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = pathlib.Path(__file__).resolve().parent / "Inputs"


def exact_f32(shape, generator, scale=1.0):
    """Random values that f32 holds exactly, as a float64 tensor."""
    return (torch.randn(shape, generator=generator) * scale).to(torch.float32).to(torch.float64)


def randomize(module, generator, scale=0.3):
    """Replaces every parameter (including the ones PyTorch starts at 0 or 1) by f32-exact noise."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(exact_f32(parameter.shape, generator, scale))


def coarsen(*parameters):
    """Rounds to multiples of 1/1024, so that sums of these parameters, which Kiln stores as
    one f32 parameter, are exact in f32 too."""
    with torch.no_grad():
        for parameter in parameters:
            parameter.copy_(torch.round(parameter * 1024) / 1024)


def linear(prefix, layer):
    """Kiln's Linear: w is [in, out]."""
    return {f"{prefix}.w": (layer.weight, lambda t: t.T), f"{prefix}.b": (layer.bias, lambda t: t)}


class Derived:
    """A Kiln parameter made from PyTorch's: its value and its gradient, computed on demand
    (the gradient exists only after backward)."""

    def __init__(self, value, gradient):
        self.value, self.gradient = value, gradient

    def detach(self):
        return self.value().detach()

    @property
    def grad(self):
        return self.gradient()


def write(name, arguments, parameters, loss, buffers=None):
    """arguments: Kiln argument name -> tensor (inputs and labels);
    parameters: Kiln parameter name -> (torch parameter, function to Kiln's layout);
    buffers: Kiln buffer name -> (value before the step, value after it)."""
    loss.backward()
    directory = HERE / name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for argument, tensor in arguments.items():
        dtype = np.float32 if tensor.is_floating_point() else np.bool_ if tensor.dtype == torch.bool else np.int32
        np.save(directory / f"{argument}.npy", tensor.detach().numpy().astype(dtype))
    for parameter, (tensor, to_kiln) in parameters.items():
        np.save(directory / f"{parameter}.npy", to_kiln(tensor.detach()).numpy().astype(np.float32))
        np.save(directory / f"d_{parameter}.npy", to_kiln(tensor.grad).numpy().astype(np.float64))
    for buffer, (before, after) in (buffers or {}).items():
        np.save(directory / f"{buffer}.npy", before.detach().numpy().astype(np.float32))
        np.save(directory / f"new.{buffer}.npy", after.detach().numpy().astype(np.float64))
    np.save(directory / "loss.npy", np.array(loss.item(), dtype=np.float64))
    print(f"{name}: loss {loss.item():.6f}, {len(parameters)} parameters")


def mlp(generator):
    first, second, output = torch.nn.Linear(6, 16), torch.nn.Linear(16, 12), torch.nn.Linear(12, 5)
    for layer in (first, second, output):
        layer.double()
        randomize(layer, generator)
    x = exact_f32((4, 6), generator)
    y = torch.randint(0, 5, (4,), generator=generator)
    logits = output(torch.tanh(F.gelu(second(F.leaky_relu(first(x), 0.01)))))
    loss = F.cross_entropy(logits, y)
    write("mlp", {"x": x, "y": y},
          {**linear("first", first), **linear("second", second), **linear("output", output)}, loss)


def cnn(generator):
    conv1 = torch.nn.Conv2d(3, 4, 3, padding=1)
    norm = torch.nn.BatchNorm2d(4, eps=1e-5, momentum=0.125)
    conv2 = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1)
    output = torch.nn.Linear(24, 3)
    for module in (conv1, norm, conv2, output):
        module.double()
        randomize(module, generator)
    norm.train()  # batch statistics, and the running ones updated, as Kiln's training step does
    running_mean, running_var = norm.running_mean.clone(), norm.running_var.clone()
    x = exact_f32((3, 3, 12, 12), generator)
    y = torch.randint(0, 3, (3,), generator=generator)
    h = F.max_pool2d(F.relu(norm(conv1(x))), 2)
    h = F.avg_pool2d(F.leaky_relu(conv2(h), 0.01), 2, stride=1)
    loss = F.cross_entropy(output(h.flatten(1)), y)
    same = lambda t: t
    write("cnn", {"x": x, "y": y},
          {"conv1.w": (conv1.weight, same), "conv1.b": (conv1.bias, same),
           "norm.gamma": (norm.weight, same), "norm.beta": (norm.bias, same),
           "conv2.w": (conv2.weight, same), "conv2.b": (conv2.bias, same), **linear("output", output)}, loss,
          {"norm.running_mean": (running_mean, norm.running_mean), "norm.running_var": (running_var, norm.running_var)})


def grouped_cnn(generator):
    conv = torch.nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    same = torch.nn.Conv2d(6, 4, (2, 3), padding="same", groups=2, bias=False)
    output = torch.nn.Linear(64, 3)
    for module in (conv, same, output):
        module.double()
        randomize(module, generator)
    x = exact_f32((2, 4, 7, 6), generator)
    y = torch.randint(0, 3, (2,), generator=generator)
    h = torch.tanh(conv(x))
    loss = F.cross_entropy(output(same(h).flatten(1)), y)
    keep = lambda t: t
    write("grouped_cnn", {"x": x, "y": y},
          {"conv.w": (conv.weight, keep), "conv.b": (conv.bias, keep), "same.w": (same.weight, keep),
           **linear("output", output)}, loss)


def lstm(generator):
    embed = torch.nn.Embedding(7, 5)
    recurrent = torch.nn.LSTM(5, 6, batch_first=True)
    output = torch.nn.Linear(6, 7)
    for module in (embed, recurrent, output):
        module.double()
        randomize(module, generator)
    coarsen(recurrent.bias_ih_l0, recurrent.bias_hh_l0)
    tokens = torch.randint(0, 7, (2, 4), generator=generator)
    following = torch.randint(0, 7, (2, 4), generator=generator)
    logits = output(recurrent(embed(tokens))[0])
    loss = F.cross_entropy(logits.reshape(-1, 7), following.reshape(-1))
    parameters = {"embed.table": (embed.weight, lambda t: t),
                  "lstm.cell.wx": (recurrent.weight_ih_l0, lambda t: t.T),
                  "lstm.cell.wh": (recurrent.weight_hh_l0, lambda t: t.T)}
    write("lstm", {"tokens": tokens, "next": following},
          {**parameters, # One bias, the sum of PyTorch's two; both receive the same gradient.
           "lstm.cell.b": (Derived(lambda: recurrent.bias_ih_l0 + recurrent.bias_hh_l0,
                                   lambda: recurrent.bias_ih_l0.grad), lambda t: t),
           **linear("output", output)}, loss)


def gru(generator):
    recurrent = torch.nn.GRU(4, 5, batch_first=True)
    output = torch.nn.Linear(5, 2)
    for module in (recurrent, output):
        module.double()
        randomize(module, generator)
    coarsen(recurrent.bias_ih_l0, recurrent.bias_hh_l0)
    x = exact_f32((3, 4, 4), generator)
    target = exact_f32((3, 4, 2), generator)
    loss = F.mse_loss(output(recurrent(x)[0]), target)
    state_bias = recurrent.bias_hh_l0
    merged = lambda: recurrent.bias_ih_l0 + torch.cat([state_bias[:10], torch.zeros(5, dtype=torch.float64)])
    write("gru", {"x": x, "target": target},
          {"gru.cell.wx": (recurrent.weight_ih_l0, lambda t: t.T),
           "gru.cell.wh": (recurrent.weight_hh_l0, lambda t: t.T),
           # r and z add both biases; n keeps the state's bias inside the reset gate.
           "gru.cell.b": (Derived(merged, lambda: recurrent.bias_ih_l0.grad), lambda t: t),
           "gru.cell.bh": (Derived(lambda: state_bias[10:], lambda: state_bias.grad[10:]), lambda t: t),
           **linear("output", output)}, loss)


def stacked_lstm(generator):
    recurrent = torch.nn.LSTM(4, 3, num_layers=2, bidirectional=True, batch_first=True)
    recurrent.double()
    randomize(recurrent, generator)
    coarsen(*(bias for name, bias in recurrent.named_parameters() if name.startswith("bias")))
    x = exact_f32((2, 5, 4), generator)
    target = exact_f32((2, 5, 6), generator)
    target_h = exact_f32((2, 4, 3), generator)
    target_c = exact_f32((2, 4, 3), generator)
    h_0 = exact_f32((4, 2, 3), generator)
    c_0 = exact_f32((4, 2, 3), generator)
    outputs, (h, c) = recurrent(x, (h_0, c_0))
    # The final states are [layers * directions, B, hidden]; the labels put the batch first.
    loss = (F.mse_loss(outputs, target) + F.mse_loss(h.transpose(0, 1), target_h) +
             F.mse_loss(c.transpose(0, 1), target_c))
    parameters = {}
    for layer in range(2):
        for suffix, member in (("", "cells"), ("_reverse", "reverse_cells")):
            prefix = f"lstm.{member}.{layer}"
            weight_ih = getattr(recurrent, f"weight_ih_l{layer}{suffix}")
            weight_hh = getattr(recurrent, f"weight_hh_l{layer}{suffix}")
            bias_ih = getattr(recurrent, f"bias_ih_l{layer}{suffix}")
            bias_hh = getattr(recurrent, f"bias_hh_l{layer}{suffix}")
            parameters[f"{prefix}.wx"] = (weight_ih, lambda t: t.T)
            parameters[f"{prefix}.wh"] = (weight_hh, lambda t: t.T)
            parameters[f"{prefix}.b"] = (Derived(lambda i=bias_ih, h=bias_hh: i + h, lambda i=bias_ih: i.grad),
                                         lambda t: t)
    write("stacked_lstm", {"x": x, "h_0": h_0, "c_0": c_0, "target": target, "target_h": target_h, "target_c": target_c},
          parameters, loss)


def attention(generator):
    self_attention = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    cross_attention = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    norm = torch.nn.LayerNorm(8, eps=1e-5)
    for module in (self_attention, cross_attention, norm):
        module.double()
        randomize(module, generator)
    x = exact_f32((2, 5, 8), generator)
    memory = exact_f32((2, 3, 8), generator)
    target = exact_f32((2, 5, 8), generator)
    causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)  # True: may not attend
    h = x + self_attention(x, x, x, attn_mask=causal, need_weights=False)[0]
    out = norm(h + cross_attention(h, memory, memory, need_weights=False)[0])
    loss = F.mse_loss(out, target)

    def heads(prefix, module):
        # in_proj_weight stacks the query, key and value projections: [3 * width, width].
        parameters = {}
        for index, role in enumerate(("query", "key", "value")):
            rows = slice(index * 8, (index + 1) * 8)
            weight, bias = module.in_proj_weight, module.in_proj_bias
            parameters[f"{prefix}.{role}.w"] = (
                Derived(lambda w=weight, r=rows: w[r], lambda w=weight, r=rows: w.grad[r]), lambda t: t.T)
            parameters[f"{prefix}.{role}.b"] = (
                Derived(lambda b=bias, r=rows: b[r], lambda b=bias, r=rows: b.grad[r]), lambda t: t)
        return {**parameters, **linear(f"{prefix}.output", module.out_proj)}

    write("attention", {"x": x, "memory": memory, "target": target},
          {**heads("self_attention", self_attention), **heads("cross_attention", cross_attention),
           "norm.gamma": (norm.weight, lambda t: t), "norm.beta": (norm.bias, lambda t: t)}, loss)


def masked_attention(generator):
    attention = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    attention.double()
    randomize(attention, generator)
    x = exact_f32((2, 5, 8), generator)
    target = exact_f32((2, 5, 8), generator)
    # True: a padded key, which no query attends to; no row is masked entirely.
    padding = torch.tensor([[False, False, False, False, True], [False, False, False, True, True]])
    # An additive mask per example, broadcast over the heads (PyTorch wants one per example and head).
    mask = exact_f32((2, 5, 5), generator)
    out = attention(x, x, x, key_padding_mask=padding, attn_mask=mask.repeat_interleave(2, dim=0),
                    need_weights=False)[0]
    loss = F.mse_loss(out, target)
    parameters = {}
    for index, role in enumerate(("query", "key", "value")):
        rows = slice(index * 8, (index + 1) * 8)
        weight, bias = attention.in_proj_weight, attention.in_proj_bias
        parameters[f"attention.{role}.w"] = (
            Derived(lambda r=rows: weight[r], lambda r=rows: weight.grad[r]), lambda t: t.T)
        parameters[f"attention.{role}.b"] = (Derived(lambda r=rows: bias[r], lambda r=rows: bias.grad[r]), lambda t: t)
    write("masked_attention", {"x": x, "padding": padding, "mask": mask, "target": target},
          {**parameters, **linear("attention.output", attention.out_proj)}, loss)


if __name__ == "__main__":
    # Each model has its own seed, by position: new models go at the end. Names given on the
    # command line write only those models.
    models = (mlp, cnn, lstm, gru, attention, stacked_lstm, masked_attention, grouped_cnn)
    for index, build in enumerate(models):
        if len(sys.argv) == 1 or build.__name__ in sys.argv[1:]:
            build(torch.Generator().manual_seed(1000 + index))
