#!/usr/bin/env python3
"""Feeds mechanically mutated variants of the IR test files to kiln-opt and checks that each one
either parses (exit 0, and then survives `-p cse,dce`) or is rejected with a located
`file:line:col: error:` and exit code 1 -- never a crash, a hang or another exit code."""
import argparse
import concurrent.futures
import os
import random
import re
import subprocess
import sys

TOKEN = re.compile(rb'%[\w.]+|@[\w.]+|-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|[A-Za-z_][\w.]*|->|"[^"\n]*"|\S')
NUMBER = re.compile(rb'-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?')
DTYPES = [b'f32', b'f64', b'i32', b'i64', b'i1', b'f16', b'bf16', b'i8']
ODD_NUMBERS = [b'-1', b'0', b'1', b'-0', b'2', b'9223372036854775808', b'9223372036854775807',
               b'-9223372036854775808', b'-9223372036854775809', b'18446744073709551616',
               b'1000000000000000000000000000000', b'1099511627776', b'4611686018427387904',
               b'4294967296', b'1.5', b'-2.5', b'1e308', b'1e309', b'-1e-320', b'4.9e-324', b'nan',
               b'-inf', b'inf', b'1e', b'0x10', b'00', b'3.', b'1.0e+400']
GARBAGE = [b'\x00', b'\xff', b'\xc3\x28', b'\xe2\x82', b'\x80', b'\x1b[31m', b'\t', b'\r', b'\\', b'"',
           b'\'', b'#', b'$', b'?', b'\xef\xbb\xbf', b'%', b'@', b'-', b'->', b'//', b'\n']
BRACKETS = [b'(', b')', b'[', b']', b'{', b'}']


def tokens(text):
    return [(m.start(), m.end()) for m in TOKEN.finditer(text)]


def splice(text, start, end, replacement):
    return text[:start] + replacement + text[end:]


def truncate(rng, text, ops):
    return text[:rng.randrange(len(text) + 1)]


def delete_token(rng, text, ops):
    spans = tokens(text)
    if not spans:
        return text
    start, end = rng.choice(spans)
    return splice(text, start, end, b'')


def duplicate_token(rng, text, ops):
    spans = tokens(text)
    if not spans:
        return text
    start, end = rng.choice(spans)
    return splice(text, start, end, text[start:end] + b' ' + text[start:end])


def swap_tokens(rng, text, ops):
    spans = tokens(text)
    if len(spans) < 2:
        return text
    first, second = sorted(rng.sample(spans, 2))
    return (text[:first[0]] + text[second[0]:second[1]] + text[first[1]:second[0]] +
            text[first[0]:first[1]] + text[second[1]:])


def copy_token(rng, text, ops):
    spans = tokens(text)
    if len(spans) < 2:
        return text
    source, target = rng.sample(spans, 2)
    return splice(text, target[0], target[1], text[source[0]:source[1]])


def delete_line(rng, text, ops):
    lines = text.split(b'\n')
    del lines[rng.randrange(len(lines))]
    return b'\n'.join(lines)


def duplicate_line(rng, text, ops):
    lines = text.split(b'\n')
    index = rng.randrange(len(lines))
    lines.insert(rng.randrange(len(lines) + 1), lines[index])
    return b'\n'.join(lines)


def swap_lines(rng, text, ops):
    lines = text.split(b'\n')
    if len(lines) < 2:
        return text
    i, j = rng.sample(range(len(lines)), 2)
    lines[i], lines[j] = lines[j], lines[i]
    return b'\n'.join(lines)


def replace_op(rng, text, ops):
    found = [m for m in re.finditer(rb'= ([a-z_0-9]+)', text)]
    if not found:
        return text
    m = rng.choice(found)
    replacement = rng.choice(ops + [b'frobnicate', b'func', b'return', b'loc'])
    return splice(text, m.start(1), m.end(1), replacement)


def replace_dtype(rng, text, ops):
    found = [m for m in re.finditer(rb'\b(f32|f64|i32|i64|i1)\[', text)]
    if not found:
        return text
    m = rng.choice(found)
    return splice(text, m.start(1), m.end(1), rng.choice(DTYPES))


def change_number(rng, text, ops):
    found = [m for m in NUMBER.finditer(text)]
    if not found:
        return text
    m = rng.choice(found)
    return splice(text, m.start(), m.end(), rng.choice(ODD_NUMBERS))


def insert_garbage(rng, text, ops):
    at = rng.randrange(len(text) + 1)
    if rng.random() < 0.3:
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
    else:
        junk = rng.choice(GARBAGE)
    return splice(text, at, at, junk)


def unbalance_brackets(rng, text, ops):
    found = [m for m in re.finditer(rb'[()\[\]{}]', text)]
    if found and rng.random() < 0.5:
        m = rng.choice(found)
        return splice(text, m.start(), m.end(), rng.choice([b''] + BRACKETS))
    at = rng.randrange(len(text) + 1)
    return splice(text, at, at, rng.choice(BRACKETS) * rng.choice([1, 2, 1000]))


def duplicate_statement(rng, text, ops):
    """Mostly valid IR: a repeated op under a fresh name, for cse to merge."""
    lines = text.split(b'\n')
    statements = [i for i, line in enumerate(lines) if re.match(rb'\s*%[\w.]+ = ', line)]
    if not statements:
        return text
    index = rng.choice(statements)
    lines.insert(index + 1, re.sub(rb'%([\w.]+) = ', rb'%\1_again = ', lines[index], count=1))
    return b'\n'.join(lines)


# Listed twice: drawn twice as often.
MUTATIONS = [truncate, delete_token, duplicate_token, swap_tokens, copy_token, delete_line, duplicate_line,
             swap_lines, replace_op, replace_dtype, change_number, change_number, insert_garbage,
             unbalance_brackets, duplicate_statement, duplicate_statement]


def without_comment_lines(text):
    """Mutating lit's RUN and CHECK lines would only exercise the comment skipper."""
    return b'\n'.join(line for line in text.split(b'\n') if not line.lstrip().startswith(b'//')) + b'\n'


def make_variants(seeds, ops, count, seed):
    rng = random.Random(seed)
    names = sorted(seeds)
    for index in range(count):
        name = rng.choice(names)
        text = seeds[name]
        applied = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            mutation = rng.choice(MUTATIONS)
            text = mutation(rng, text, ops)
            applied.append(mutation.__name__)
        yield index, name, applied, text


def run(command, stdin=None):
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, timeout=10)
        return done.returncode, done.stdout, done.stderr.decode('utf-8', 'replace')
    except subprocess.TimeoutExpired:
        return 'timeout', b'', ''


def check(kiln_opt, path):
    """Returns (whether the variant parsed, None when kiln-opt behaved or else what went wrong).
    One run does both checks: text that parses goes on through cse and dce."""
    status, _, stderr = run([kiln_opt, path, '-p', 'cse,dce'])
    if status == 0:
        return True, None
    if status == 1:
        if re.search('^' + re.escape(path) + r':\d+:\d+: error: ', stderr, re.M):
            return False, None
        return False, 'exit code 1 without a located error:\n' + stderr
    return False, f'kiln-opt ended with {status}:\n{stderr}'


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--kiln-opt', required=True)
    parser.add_argument('--work-dir', required=True, help='where the variants are written')
    parser.add_argument('--count', type=int, default=1000)
    parser.add_argument('--seed', type=int, default=20261123)
    parser.add_argument('--only', type=int, help='run just this variant (to reproduce a failure)')
    parser.add_argument('roots', nargs='+', help='folders searched for .kir files')
    args = parser.parse_args()

    seeds = {}
    for root in args.roots:
        for folder, _, files in os.walk(root):
            for file in files:
                if file.endswith('.kir'):
                    path = os.path.join(folder, file)
                    with open(path, 'rb') as stream:
                        seeds[os.path.normpath(path)] = without_comment_lines(stream.read())
    if not seeds:
        sys.exit('no .kir files found under ' + ', '.join(args.roots))
    listing = subprocess.run([args.kiln_opt, '--list-ops'], capture_output=True, check=True, text=True).stdout
    ops = [op.encode() for op in re.findall(r'^([a-z][a-z0-9_]*) +(?:\d+|1\+) ', listing, re.M)]

    os.makedirs(args.work_dir, exist_ok=True)
    variants = []
    for index, name, applied, text in make_variants(seeds, ops, args.count, args.seed):
        if args.only is not None and index != args.only:
            continue
        path = os.path.abspath(os.path.join(args.work_dir, f'variant-{index:05}.kir'))
        with open(path, 'wb') as stream:
            stream.write(text)
        variants.append((index, name, applied, path))

    failures = 0
    accepted = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda variant: check(args.kiln_opt, variant[3]), variants)
        for (index, name, applied, path), (parsed, problem) in zip(variants, results):
            accepted += parsed
            if problem is None:
                os.remove(path)
                continue
            failures += 1
            print(f'FAIL variant {index} of {name} ({", ".join(applied)}), kept in {path}')
            print(f'  reproduce: {sys.argv[0]} --kiln-opt {args.kiln_opt} --work-dir {args.work_dir} '
                  f'--seed {args.seed} --count {args.count} --only {index} {" ".join(args.roots)}')
            print('  ' + problem.replace('\n', '\n  ')[:2000])
    print(f'{len(variants)} variants ({accepted} parse), {failures} failures')
    sys.exit(1 if failures else 0)


if __name__ == '__main__':
    main()
