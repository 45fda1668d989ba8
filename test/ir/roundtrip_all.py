#!/usr/bin/env python3
"""Checks print(parse(print(m))) == print(m) for every .kir file that parses, and that every op of
`kiln-opt --list-ops` has a round-trip test in a roundtrip-*.kir file beside this script."""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys


def round_trip(kiln_opt, path):
    """Returns (whether the file parses, None or what went wrong)."""
    first = subprocess.run([kiln_opt, path], capture_output=True, timeout=60)
    if first.returncode != 0:
        return False, None  # error tests: their messages are checked by their own RUN lines
    second = subprocess.run([kiln_opt, '-'], input=first.stdout, capture_output=True, timeout=60)
    if second.returncode != 0:
        return True, 'the printed text does not parse:\n' + second.stderr.decode('utf-8', 'replace')
    if second.stdout != first.stdout:
        return True, ('printing the printed text changes it:\n--- first print\n' + first.stdout.decode() +
                      '--- second print\n' + second.stdout.decode())
    return True, None


def ops_without_round_trip_test(kiln_opt, folder):
    listing = subprocess.run([kiln_opt, '--list-ops'], capture_output=True, check=True, text=True).stdout
    ops = re.findall(r'^([a-z][a-z0-9_]*) +(?:\d+|1\+) ', listing, re.M)
    used = set()
    for file in os.listdir(folder):
        if file.startswith('roundtrip-') and file.endswith('.kir'):
            with open(os.path.join(folder, file)) as stream:
                for line in stream:
                    if not line.lstrip().startswith('//'):
                        used.update(re.findall(r'=\s*([a-z_0-9]+)\s', line))
    return ops, [op for op in ops if op not in used]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--kiln-opt', required=True)
    parser.add_argument('roots', nargs='+', help='folders searched for .kir files')
    args = parser.parse_args()

    paths = sorted(os.path.join(folder, file) for root in args.roots for folder, _, files in os.walk(root)
                   for file in files if file.endswith('.kir'))
    problems = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda path: round_trip(args.kiln_opt, path), paths))
    parsed = sum(ok for ok, _ in results)
    for path, (_, problem) in zip(paths, results):
        if problem:
            problems.append(f'{path}: {problem}')

    ops, missing = ops_without_round_trip_test(args.kiln_opt, os.path.dirname(os.path.abspath(__file__)))
    if missing:
        problems.append('ops without a round-trip test in test/ir/roundtrip-*.kir: ' + ', '.join(missing))

    for problem in problems:
        print('FAIL ' + problem)
    print(f'{len(paths)} files, {parsed} parse and round-trip checked; {len(ops) - len(missing)} of {len(ops)} ops '
          f'have a round-trip test; {len(problems)} problems')
    sys.exit(1 if problems or parsed == 0 else 0)


if __name__ == '__main__':
    main()
