#!/usr/bin/python3
"""Writes the golden values that TrainingStepTest (test/unit) checks one whole training step of the
examples against: the MLP, the char LSTM and the GPT, built from torch.nn modules (float64) with
seeded weights, one seeded batch and a seeded optimizer state, take one step of the example's
optimizer (torch.optim.Adam).

The step is the fifth, from a made-up state (moments drawn at random, second moments away from 0),
not the first from zeros: the GPT's key biases have a gradient of exactly 0 (softmax ignores a
shift that is the same for every key), which torch computes in float64 as about 1e-20 and Kiln in
float32 as about 1e-11, and Adam's first step from zero moments moves a parameter by
lr g / (|g| + eps), so by a different arbitrary fraction of lr on each side. With second moments
well above eps, one step is as well conditioned as the gradients it uses; the first step from
zeros is OptimizerTest's (optimizers.py).

The examples are compiled at small sizes (their `dim`s overridden), and for each case
Inputs/training_step/NAME/ gets:
  model.txt              what to compile: `source FILE` (relative to the repository), `model NAME`
                         and one `dim NAME SIZE` per override
  <argument>.npy         every argument of Kiln's @train_step before the step (inputs, labels,
                         parameters and optimizer states), in Kiln's layout and dtype (f32 values,
                         so that both sides start from the same numbers)
  after/loss.npy         the step's loss, f32
  after/<name>.npy       every parameter and optimizer state after the step, f32, named as Kiln's
                         @train_step names them: the parameter, `step`, `exp_avg.<parameter>`,
                         `exp_avg_sq.<parameter>`
The files are committed; the test needs neither PyTorch nor this script. To regenerate:
  apt-get install python3-torch python3-numpy
  /usr/bin/python3 test/golden/training_step.py
Layouts are those of generate.py (a Linear weight transposed, LSTM gates i, f, g, o, query/key/value
rows of in_proj_weight). Adam is elementwise, so the states of a slice of a torch parameter are
the slice of its states.
"""
import math
import pathlib
import shutil

import numpy as np
import torch
import torch.nn.functional as F

from generate import exact_f32, linear, randomize

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent / "Inputs" / "training_step"


STEPS_BEFORE = 4


def same(tensor):
    return tensor


def save(path, tensor, dtype=np.float32):
    np.save(path, tensor.detach().numpy().astype(dtype))


def adam_state(parameter, generator):
    """The state of Adam after STEPS_BEFORE steps, made up: moments of the size of the gradients
    (about 1e-2), second moments at least (5e-3)^2; f32 values."""
    moment = exact_f32(parameter.shape, generator, 0.01)
    deviation = (exact_f32(parameter.shape, generator, 0.01).abs() + 5e-3).to(torch.float32).to(torch.float64)
    second = (deviation * deviation).to(torch.float32).to(torch.float64)
    return {"step": torch.tensor(float(STEPS_BEFORE)), "exp_avg": moment, "exp_avg_sq": second}


def warmup_cosine(update, warmup, total, final_factor):
    """The factor of lr at update number `update` (from 1) of the standard library's warmup_cosine."""
    t = update - 1
    rising = min((t + 1) / warmup, 1.0) if warmup > 0 else 1.0
    progress = min(max(t - warmup, 0) / (total - warmup), 1.0)
    return rising * (final_factor + (1 - final_factor) * 0.5 * (1 + math.cos(math.pi * progress)))


def write(name, source, model, dims, optimizer_setting, make_optimizer, arguments, parameters, loss_of, generator,
          schedule_factor=1.0):
    """arguments: Kiln input or label name -> tensor; parameters: Kiln parameter name ->
    (torch parameter, function from a tensor of that parameter's shape to Kiln's layout);
    loss_of: computes the loss from the parameters' current values."""
    text = (ROOT / source).read_text()
    # A bare optimizer, or the lines of the train block the torch optimizer stands for.
    settings = [f"optimizer = {optimizer_setting}\n"] if isinstance(optimizer_setting, str) else optimizer_setting
    for setting in settings:
        assert setting in text, f"{source} no longer trains with {setting.strip()}"
    directory = HERE / name
    shutil.rmtree(directory, ignore_errors=True)
    (directory / "after").mkdir(parents=True)
    (directory / "model.txt").write_text(f"source {source}\nmodel {model}\n" +
                                         "".join(f"dim {dim} {size}\n" for dim, size in dims.items()))
    for argument, tensor in arguments.items():
        save(directory / f"{argument}.npy", tensor, np.float32 if tensor.is_floating_point() else np.int32)
    for parameter, (tensor, to_kiln) in parameters.items():
        save(directory / f"{parameter}.npy", to_kiln(tensor))

    leaves = list({id(tensor): tensor for tensor, _ in parameters.values()}.values())
    optimizer = make_optimizer(leaves)
    for leaf in leaves:
        optimizer.state[leaf] = adam_state(leaf, generator)
    # Kiln's optimizer keeps its learning rate as state `lr`: the block's, before any lr_schedule.
    rate = torch.tensor(optimizer.defaults["lr"] / schedule_factor)
    save(directory / "step.npy", optimizer.state[leaves[0]]["step"])
    save(directory / "lr.npy", rate)
    for parameter, (tensor, to_kiln) in parameters.items():
        for state in ("exp_avg", "exp_avg_sq"):
            save(directory / f"{state}.{parameter}.npy", to_kiln(optimizer.state[tensor][state]))
    optimizer.zero_grad()
    loss = loss_of()
    loss.backward()
    optimizer.step()

    save(directory / "after" / "loss.npy", loss)
    save(directory / "after" / "step.npy", optimizer.state[leaves[0]]["step"])
    save(directory / "after" / "lr.npy", rate)
    for parameter, (tensor, to_kiln) in parameters.items():
        save(directory / "after" / f"{parameter}.npy", to_kiln(tensor))
        for state in ("exp_avg", "exp_avg_sq"):
            save(directory / "after" / f"{state}.{parameter}.npy", to_kiln(optimizer.state[tensor][state]))
    print(f"{name}: loss {loss.item():.6f}, {len(parameters)} parameters")


def mlp(generator):
    """examples/mlp.kiln's DigitClassifier: 64-128-10 with relu, cross-entropy."""
    batch = 4
    hidden, output = torch.nn.Linear(64, 128), torch.nn.Linear(128, 10)
    for layer in (hidden, output):
        layer.double()
        randomize(layer, generator, scale=0.1)
    x = exact_f32((batch, 64), generator).abs()  # grey levels are non-negative
    y = torch.randint(0, 10, (batch,), generator=generator)
    write("mlp", "examples/mlp.kiln", "DigitClassifier", {"B": batch}, "adam(lr: 2e-3)",
          lambda p: torch.optim.Adam(p, lr=2e-3), {"x": x, "y": y},
          {**linear("hidden", hidden), **linear("output", output)},
          lambda: F.cross_entropy(output(F.relu(hidden(x))), y), generator)


def lstm(generator):
    """examples/char_rnn.kiln's CharLSTM. Kiln's cell has one bias, PyTorch's two: the state's
    bias stays at zero and out of the optimizer, so that Kiln's b is PyTorch's input bias."""
    batch, steps, vocabulary, width, hidden = 2, 4, 11, 6, 5
    embed = torch.nn.Embedding(vocabulary, width)
    recurrent = torch.nn.LSTM(width, hidden, batch_first=True)
    head = torch.nn.Linear(hidden, vocabulary)
    for module in (embed, recurrent, head):
        module.double()
        randomize(module, generator)
    recurrent.bias_hh_l0.requires_grad_(False).zero_()
    tokens = torch.randint(0, vocabulary, (batch, steps), generator=generator)
    following = torch.randint(0, vocabulary, (batch, steps), generator=generator)

    def loss():
        logits = head(recurrent(embed(tokens))[0])
        return F.cross_entropy(logits.reshape(-1, vocabulary), following.reshape(-1))

    write("lstm", "examples/char_rnn.kiln", "CharLSTM",
          {"B": batch, "T": steps, "V": vocabulary, "E": width, "H": hidden}, "adam(lr: 2e-3)",
          lambda p: torch.optim.Adam(p, lr=2e-3), {"tokens": tokens, "next": following},
          {"embed.table": (embed.weight, same), "lstm.cell.wx": (recurrent.weight_ih_l0, lambda t: t.T),
           "lstm.cell.wh": (recurrent.weight_hh_l0, lambda t: t.T), "lstm.cell.b": (recurrent.bias_ih_l0, same),
           **linear("head", head)}, loss, generator)


def positional_encoding(steps, width):
    """PE[t, 2i] = sin(t / 10000^(2i / width)), PE[t, 2i + 1] = cos(t / 10000^(2i / width))."""
    position = torch.arange(steps, dtype=torch.float64)[:, None]
    frequency = torch.pow(10000.0, -torch.arange(0, width, 2, dtype=torch.float64) / width)
    encoding = torch.zeros(steps, width, dtype=torch.float64)
    encoding[:, 0::2] = torch.sin(position * frequency)
    encoding[:, 1::2] = torch.cos(position * frequency)
    return encoding


def gpt(generator):
    """examples/gpt.kiln's CharGPT: 2 pre-norm causal blocks with 4 heads and an exact-gelu
    feed-forward network of 4 * width, a final LayerNorm, a linear head."""
    batch, steps, vocabulary, width, heads = 2, 5, 11, 8, 4
    embed = torch.nn.Embedding(vocabulary, width)
    blocks = [{"norm1": torch.nn.LayerNorm(width),
               "attention": torch.nn.MultiheadAttention(width, heads, batch_first=True),
               "norm2": torch.nn.LayerNorm(width), "expand": torch.nn.Linear(width, 4 * width),
               "contract": torch.nn.Linear(4 * width, width)} for _ in range(2)]
    norm = torch.nn.LayerNorm(width)
    head = torch.nn.Linear(width, vocabulary)
    for module in [embed, norm, head] + [module for block in blocks for module in block.values()]:
        module.double()
        randomize(module, generator)
    tokens = torch.randint(0, vocabulary, (batch, steps), generator=generator)
    following = torch.randint(0, vocabulary, (batch, steps), generator=generator)
    causal = torch.triu(torch.ones(steps, steps, dtype=torch.bool), diagonal=1)  # True: may not attend

    def loss():
        h = embed(tokens) + positional_encoding(steps, width)
        for block in blocks:
            normed = block["norm1"](h)
            h = h + block["attention"](normed, normed, normed, attn_mask=causal, need_weights=False)[0]
            h = h + block["contract"](F.gelu(block["expand"](block["norm2"](h))))
        return F.cross_entropy(head(norm(h)).reshape(-1, vocabulary), following.reshape(-1))

    def layer_norm(prefix, module):
        return {f"{prefix}.gamma": (module.weight, same), f"{prefix}.beta": (module.bias, same)}

    parameters = {"embed.table": (embed.weight, same)}
    for index, block in enumerate(blocks):
        prefix = f"blocks.{index}"
        parameters.update(layer_norm(f"{prefix}.norm1", block["norm1"]))
        attention = block["attention"]
        # in_proj_weight stacks the query, key and value projections: [3 * width, width].
        for part, role in enumerate(("query", "key", "value")):
            rows = slice(part * width, (part + 1) * width)
            parameters[f"{prefix}.attention.{role}.w"] = (attention.in_proj_weight, lambda t, r=rows: t[r].T)
            parameters[f"{prefix}.attention.{role}.b"] = (attention.in_proj_bias, lambda t, r=rows: t[r])
        parameters.update(linear(f"{prefix}.attention.output", attention.out_proj))
        parameters.update(layer_norm(f"{prefix}.norm2", block["norm2"]))
        parameters.update(linear(f"{prefix}.feed_forward.expand", block["expand"]))
        parameters.update(linear(f"{prefix}.feed_forward.contract", block["contract"]))
    parameters.update(layer_norm("norm", norm))
    parameters.update(linear("head", head))
    factor = warmup_cosine(STEPS_BEFORE + 1, 500, 4 * 7975, 0.1)
    write("gpt", "examples/gpt.kiln", "CharGPT", {"B": batch, "T": steps, "V": vocabulary, "W": width},
          ["optimizer = adam(lr: 2e-3, betas: (0.9, 0.99))\n",
           "lr_schedule = warmup_cosine(warmup: 500, total: 4 * 7975, final_factor: 0.1)"],
          lambda p: torch.optim.Adam(p, lr=2e-3 * factor, betas=(0.9, 0.99)),
          {"tokens": tokens, "next": following}, parameters, loss, generator, schedule_factor=factor)


if __name__ == "__main__":
    shutil.rmtree(HERE, ignore_errors=True)
    for index, build in enumerate((mlp, lstm, gpt)):
        build(torch.Generator().manual_seed(2000 + index))
