#!/usr/bin/python3
"""The PyTorch peers of bench/train.py: the benchmark's models written with torch.nn, at the same
shapes and with the same optimizer as their Kiln sources, timed in this process.

  /usr/bin/python3 bench/peers/torch_models.py --model NAME [--threads 1,2] [--budget SECONDS]

prints one line per thread count and step, which bench/train.py reads:
  torch NAME train|infer THREADS median SECONDS min SECONDS repeat N
A training step is zero_grad, forward, loss, backward and optimizer.step(); an inference step is
the forward pass under torch.inference_mode(). Parameters keep torch's default initialisation;
inputs are drawn from [-0.1, 0.1) and labels and tokens are zeros, as `prog time` fills them.
Before each timed training step the parameters and the optimizer's state are put back, untimed,
so that every call is the same step, as in `prog time` (see restorer).

Thread count: torch.set_num_threads(n) sizes ATen's OpenMP pool; Debian's torch calls BLAS through
libblas.so.3, which is OpenBLAS (pthreads) on this machine and keeps a pool of its own, so the
OpenBLAS libraries loaded in the process are set to n threads too (openblas_set_num_threads).
"""
import argparse
import ctypes
import itertools
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def positional_encoding(steps, width):
    """PE[t, 2i] = sin(t / 10000^(2i / width)), PE[t, 2i + 1] = cos(t / 10000^(2i / width)), as
    the standard library's positional_encoding."""
    position = torch.arange(steps, dtype=torch.float32)[:, None]
    frequency = torch.pow(10000.0, -torch.arange(0, width, 2, dtype=torch.float32) / width)
    encoding = torch.zeros(steps, width)
    encoding[:, 0::2] = torch.sin(position * frequency)
    encoding[:, 1::2] = torch.cos(position * frequency)
    return encoding


class MLP(torch.nn.Module):
    """bench/models/mlp.kiln: inputs-hidden-hidden-outputs with relu."""

    def __init__(self, inputs, hidden, outputs):
        super().__init__()
        self.hidden1 = torch.nn.Linear(inputs, hidden)
        self.hidden2 = torch.nn.Linear(hidden, hidden)
        self.output = torch.nn.Linear(hidden, outputs)

    def forward(self, x):
        return self.output(F.relu(self.hidden2(F.relu(self.hidden1(x)))))


class LeNet5(torch.nn.Module):
    """examples/lenet.kiln: two 5x5 convolutions with average pooling, then 400-120-84-10."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = torch.nn.Conv2d(6, 16, 5)
        self.fc1 = torch.nn.Linear(16 * 5 * 5, 120)
        self.fc2 = torch.nn.Linear(120, 84)
        self.fc3 = torch.nn.Linear(84, 10)

    def forward(self, images):
        h = F.avg_pool2d(F.relu(self.conv1(images)), 2)
        h = F.avg_pool2d(F.relu(self.conv2(h)), 2)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(h.flatten(1))))))


class CharRNN(torch.nn.Module):
    """examples/char_rnn.kiln's CharLSTM and CharGRU: embedding, one recurrent layer, linear head."""

    def __init__(self, kind, vocabulary, width, hidden):
        super().__init__()
        self.embed = torch.nn.Embedding(vocabulary, width)
        self.recurrent = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](width, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, vocabulary)

    def forward(self, tokens):
        return self.head(self.recurrent(self.embed(tokens))[0])


class EncoderBlock(torch.nn.Module):
    """The standard library's TransformerEncoderBlock: pre-norm, x + attention(norm1(x)), then
    h + contract(gelu(expand(norm2(h)))), with the exact gelu."""

    def __init__(self, width, heads, hidden):
        super().__init__()
        self.norm1 = torch.nn.LayerNorm(width)
        self.attention = torch.nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = torch.nn.LayerNorm(width)
        self.expand = torch.nn.Linear(width, hidden)
        self.contract = torch.nn.Linear(hidden, width)

    def forward(self, x, mask):
        normed = self.norm1(x)
        h = x + self.attention(normed, normed, normed, attn_mask=mask, need_weights=False)[0]
        return h + self.contract(F.gelu(self.expand(self.norm2(h))))


class Encoder(torch.nn.Module):
    """bench/models/encoder.kiln: tokens of `features` values embedded linearly, positional
    encoding, 2 blocks with a feed-forward width of 2 * width, mean over tokens, 10 classes."""

    def __init__(self, steps, features, width, heads):
        super().__init__()
        self.embed = torch.nn.Linear(features, width)
        self.blocks = torch.nn.ModuleList(EncoderBlock(width, heads, 2 * width) for _ in range(2))
        self.norm = torch.nn.LayerNorm(width)
        self.head = torch.nn.Linear(width, 10)
        self.register_buffer("encoding", positional_encoding(steps, width))

    def forward(self, x):
        h = self.embed(x) + self.encoding
        for block in self.blocks:
            h = block(h, None)
        return self.head(self.norm(h).mean(dim=1))


class GPT(torch.nn.Module):
    """examples/gpt.kiln's CharGPT: embedding, positional encoding, 2 causal blocks with a
    feed-forward width of 4 * width, a final LayerNorm and a linear head."""

    def __init__(self, steps, vocabulary, width, heads):
        super().__init__()
        self.embed = torch.nn.Embedding(vocabulary, width)
        self.blocks = torch.nn.ModuleList(EncoderBlock(width, heads, 4 * width) for _ in range(2))
        self.norm = torch.nn.LayerNorm(width)
        self.head = torch.nn.Linear(width, vocabulary)
        self.register_buffer("encoding", positional_encoding(steps, width))
        self.register_buffer("mask", torch.triu(torch.ones(steps, steps, dtype=torch.bool), diagonal=1))

    def forward(self, tokens):
        h = self.embed(tokens) + self.encoding
        for block in self.blocks:
            h = block(h, self.mask)
        return self.head(self.norm(h))


def uniform(*shape):
    return torch.rand(*shape) * 0.2 - 0.1


def classification(batch):
    return lambda logits, labels: F.cross_entropy(logits, labels)


def sequence(vocabulary):
    return lambda logits, labels: F.cross_entropy(logits.reshape(-1, vocabulary), labels.reshape(-1))


# name -> (model, input, label, loss, optimizer): the same names as bench/train.py's MODELS.
def build(name):
    adam = lambda parameters: torch.optim.Adam(parameters, lr=2e-3)
    if name == "mlp-small":
        return MLP(64, 128, 10), uniform(32, 64), torch.zeros(32, dtype=torch.long), classification(32), adam
    if name == "mlp-large":
        return MLP(784, 256, 10), uniform(64, 784), torch.zeros(64, dtype=torch.long), classification(64), adam
    if name == "lenet":
        return (LeNet5(), uniform(32, 1, 28, 28), torch.zeros(32, dtype=torch.long), classification(32),
                lambda parameters: torch.optim.SGD(parameters, lr=0.05, momentum=0.9))
    if name in ("lstm", "gru"):
        tokens = torch.zeros(16, 32, dtype=torch.long)
        return CharRNN(name, 128, 64, 128), tokens, tokens, sequence(128), adam
    if name == "encoder":
        return (Encoder(64, 8, 128, 4), uniform(8, 64, 8), torch.zeros(8, dtype=torch.long), classification(8),
                lambda parameters: torch.optim.Adam(parameters, lr=1e-3))
    if name == "gpt":
        tokens = torch.zeros(8, 128, dtype=torch.long)
        return (GPT(128, 128, 128, 4), tokens, tokens, sequence(128),
                lambda parameters: torch.optim.Adam(parameters, lr=2e-3, betas=(0.9, 0.99)))
    raise SystemExit(f"torch_models.py: no model {name}")


def openblas_libraries():
    """The OpenBLAS builds loaded in this process (libblas.so.3 and libopenblas.so.0 may be two)."""
    paths = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if path.startswith("/") and ("openblas" in path or "libblas" in path):
                paths.add(path)
    libraries = []
    for path in sorted(paths):
        library = ctypes.CDLL(path)
        if hasattr(library, "openblas_set_num_threads"):
            library.openblas_get_corename.restype = ctypes.c_char_p
            libraries.append((path, library))
    return libraries


def set_threads(count):
    torch.set_num_threads(count)
    for _, library in openblas_libraries():
        library.openblas_set_num_threads(count)


def measure(step, budget, restore=lambda: None):
    """Median and min seconds per call: warm-up calls for `budget` seconds (at least 3), then as
    many calls as fill `budget` seconds (between 7 and 1000), each timed alone, each after an
    untimed restore()."""
    warmup_end = time.perf_counter() + budget
    for call in itertools.count():
        if call >= 3 and time.perf_counter() > warmup_end:
            break
        restore()
        step()
    restore()
    start = time.perf_counter()
    step()
    estimate = time.perf_counter() - start
    repeat = max(7, min(1000, math.ceil(budget / max(estimate, 1e-7))))
    seconds = []
    for _ in range(repeat):
        restore()
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), min(seconds), repeat


def restorer(model, optimizer):
    """A function that puts the parameters and the optimizer's state back to what they are now:
    Kiln's `time` computes the same step from the same arguments on every call, and this makes
    PyTorch's calls alike, rather than hundreds of steps on one batch that drive the loss to 0."""
    tensors = list(model.parameters()) + [value for state in optimizer.state.values() for value in state.values()
                                          if isinstance(value, torch.Tensor)]
    saved = [tensor.detach().clone() for tensor in tensors]

    def restore():
        with torch.no_grad():
            for tensor, value in zip(tensors, saved):
                tensor.copy_(value)
    return restore


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--budget", type=float, default=0.5, help="seconds of timed calls per figure")
    parser.add_argument("--describe", action="store_true", help="print the BLAS torch uses and exit")
    arguments = parser.parse_args()
    if arguments.describe:
        for path, library in openblas_libraries():
            print(f"torch {torch.__version__} BLAS: {path}: OpenBLAS core {library.openblas_get_corename().decode()}")
        return
    if not arguments.model:
        parser.error("give --model NAME")
    torch.manual_seed(0)
    model, inputs, labels, loss_of, make_optimizer = build(arguments.model)
    optimizer = make_optimizer(model.parameters())

    def train_step():
        optimizer.zero_grad()
        loss = loss_of(model(inputs), labels)
        loss.backward()
        optimizer.step()

    def infer_step():
        with torch.inference_mode():
            model(inputs)

    train_step()  # creates the optimizer's state, which restore() then resets before each call
    restore = restorer(model, optimizer)
    for threads in (int(count) for count in arguments.threads.split(",")):
        set_threads(threads)
        for mode, step in (("train", train_step), ("infer", infer_step)):
            median, fastest, repeat = measure(step, arguments.budget, restore)
            print(f"torch {arguments.model} {mode} {threads} median {median:.6e} min {fastest:.6e} repeat {repeat}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
