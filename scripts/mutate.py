#!/usr/bin/python3
"""Mutation testing of Kiln's test suite: how many plausible one-line bugs do the tests catch?

Each mutant in scripts/mutations.txt replaces one exact piece of text in one source file. For each
mutant, in a scratch copy of the tree with its own build directory (never in the source tree):
  1. restore the scratch copy to the sources, then apply the mutant;
  2. rebuild incrementally (a build failure: "not compiled", left out of the rate);
  3. run the lit directories the mutant names, stopping at the first failure ("killed");
  4. if they all pass, run the whole suite (lit text tests and gtest unit tests) the same way:
     a failure is "killed", a pass "survived". A mutant thus counts as killed only when a test of
     the suite fails on it. test/style is left out: a formatter tells nothing about behaviour.
A mutant that outlives its time limit counts as killed ("timeout"): the suite would not pass.
Before the mutants, the named tests must pass unmutated (the whole suite's health shows in each
survivor, which passes all of it). The named tests leave out the few slow ones (SLOW_TESTS),
which the whole-suite run keeps for last.
Mutants run in file order, so that consecutive rebuilds recompile little. Results are appended to
<scratch>/results.tsv as they come; --resume skips the mutants already there.

  scripts/mutate.py [--only NAME[,NAME...]] [--jobs N]   run (all, or the named mutants)
  scripts/mutate.py --check                              each original text occurs exactly once
  scripts/mutate.py --list                               the mutants, one a line
"""
import argparse
import filecmp
import os
import re
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIT = "/usr/lib/llvm-19/build/utils/lit/lit.py"
# Left out of every run: a formatting check, which a mutant's spelling could trip, and the check
# of the mutation list against the sources, which a mutant changes.
EXCLUDED_TESTS = r"style/|tools/mutations\.test"
# Run after the rest of the whole suite, and never as a mutant's named tests: minutes each.
SLOW_TESTS = r"cpu/examples\.test|frontend/mutations\.test|ir/mutation\.test"


class Mutant:
    def __init__(self, name, line):
        self.name = name
        self.line = line  # where it is written in the mutation list
        self.file = None
        self.tests = []
        self.why = ""
        self.original = None
        self.replacement = None


def parse_mutations(path):
    """Blocks separated by blank lines; `#` starts a comment line. Each block:
         name: NAME
         file: PATH (from the repository root)
         tests: lit directories under test/, or unit:PATTERN for gtests (a --gtest_filter; optional)
         why: one line saying which bug it is
         - original text (exact; occurs once in the file)
         + replacement text
    """
    mutants, current, errors = [], None, []
    with open(path, encoding="utf-8") as text:
        for number, raw in enumerate(text, 1):
            line = raw.rstrip("\n")
            if line.startswith("#"):
                continue
            if not line.strip():
                current = None
                continue
            if line.startswith("name: "):
                current = Mutant(line[6:].strip(), number)
                mutants.append(current)
                continue
            if current is None:
                errors.append(f"{path}:{number}: a block must start with 'name: '")
                continue
            if line.startswith("file: "):
                current.file = line[6:].strip()
            elif line.startswith("tests: "):
                current.tests = line[7:].split()
            elif line.startswith("why: "):
                current.why = line[5:].strip()
            elif line.startswith("- "):
                current.original = line[2:]
            elif line.startswith("+ "):
                current.replacement = line[2:]
            elif line == "+":
                current.replacement = ""
            else:
                errors.append(f"{path}:{number}: unknown line '{line}'")
    names = set()
    for mutant in mutants:
        where = f"{path}:{mutant.line}: mutant '{mutant.name}'"
        if mutant.name in names:
            errors.append(f"{where} is named twice")
        names.add(mutant.name)
        if not mutant.file or mutant.original is None or mutant.replacement is None or not mutant.why:
            errors.append(f"{where} needs file, why, '- original' and '+ replacement'")
        elif mutant.original == mutant.replacement:
            errors.append(f"{where} changes nothing")
    return mutants, errors


def check_mutants(mutants, root):
    """Each original text must occur exactly once in its file, so that the list does not rot."""
    errors = []
    for mutant in mutants:
        path = os.path.join(root, mutant.file)
        if not os.path.isfile(path):
            errors.append(f"mutant '{mutant.name}': no file {mutant.file}")
            continue
        with open(path, encoding="utf-8") as source:
            count = source.read().count(mutant.original)
        if count != 1:
            errors.append(f"mutant '{mutant.name}': its original text occurs {count} times in {mutant.file}")
        for test in mutant.tests:
            if not test.startswith("unit:") and not os.path.exists(os.path.join(root, "test", test)):
                errors.append(f"mutant '{mutant.name}': no test or test directory test/{test}")
    return errors


def tracked_files(root):
    listing = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, check=True,
                             capture_output=True, text=True).stdout
    return [name for name in listing.split("\0") if name and os.path.isfile(os.path.join(root, name))]


def sync_scratch(root, scratch):
    """Copies every source file whose content differs into the scratch tree (keeping the times of
    unchanged files, so that the rebuild stays incremental). This also undoes any mutant left
    behind by an interrupted run."""
    copied = 0
    for name in tracked_files(root):
        source, target = os.path.join(root, name), os.path.join(scratch, name)
        if os.path.isfile(target) and filecmp.cmp(source, target, shallow=False):
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target)
        copied += 1
    return copied


def run(command, timeout, log):
    """Runs `command` in its own process group, killing the group on timeout or interrupt.
    Gives (exit status or None on timeout, output)."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            log.write(output)
            return None, output
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    log.write(output)
    log.flush()
    return process.returncode, output


def build(scratch, deadline, log, targets=()):
    build_dir = os.path.join(scratch, "build")
    if not os.path.isfile(os.path.join(build_dir, "build.ninja")):
        # Warnings are not errors here: a mutant that leaves a variable unused is still a bug to catch.
        status, _ = run(["cmake", "-S", scratch, "-B", build_dir, "-G", "Ninja", "-DKILN_WERROR=OFF"],
                        max(deadline - time.time(), 1), log)
        if status != 0:
            return status
    status, _ = run(["ninja", "-C", build_dir, *targets], max(deadline - time.time(), 1), log)
    return status


def first_failure(output):
    """The first failing test lit names: `FAIL: name (i of n)` lines, or with -q its summary list."""
    match = re.search(r"^(?:FAIL|XPASS|UNRESOLVED|TIMEOUT): (.*?) \(\d+ of \d+\)$", output, re.MULTILINE)
    if not match:
        match = re.search(r"^\[  FAILED  \] ([\w/.]+)", output, re.MULTILINE)
    if not match:
        match = re.search(r"^(?:Failed|Unexpectedly Passed|Unresolved|Timed Out) Tests \(\d+\):\n  (.*)$", output,
                          re.MULTILINE)
    return match.group(1).strip() if match else "(lit failed before any test)"


def lit_commands(scratch, tests, jobs, skip_slow=False):
    """lit invocations for `tests` (directories under test/, unit:REGEX); all of the suite when empty."""
    build_test = os.path.join(scratch, "build", "test")
    common = ["/usr/bin/python3", LIT, "-q", f"-j{jobs}", "--max-failures=1", "--allow-empty-runs"]
    if not tests:
        # The whole suite, its few slow tests last, so that a quick test can kill the mutant first.
        everything = [build_test, os.path.join(build_test, "unit")]
        commands = [common + [f"--filter-out={EXCLUDED_TESTS}|{SLOW_TESTS}"] + everything]
        if not skip_slow:
            commands.append(common + [f"--filter={SLOW_TESTS}"] + everything)
        return commands
    commands = []
    # lit runs the gtest binary in shards, so a named gtest runs from the binary itself; first, as
    # the unit tests named are the quicker.
    patterns = [test[5:] if "*" in test[5:] else f"*{test[5:]}*" for test in tests if test.startswith("unit:")]
    if patterns:
        commands.append([os.path.join(build_test, "unit", "kiln-unittests"), f"--gtest_filter={':'.join(patterns)}"])
    paths = [os.path.join(build_test, test) for test in tests if not test.startswith("unit:")]
    if paths:
        commands.append(common + [f"--filter-out={EXCLUDED_TESTS}|{SLOW_TESTS}"] + paths)
    return commands


def run_tests(scratch, tests, jobs, deadline, log, skip_slow=False):
    """'pass', 'timeout' or the name of the first failing test."""
    for command in lit_commands(scratch, tests, jobs, skip_slow):
        status, output = run(command, max(deadline - time.time(), 1), log)
        if status is None:
            return "timeout"
        if status != 0:
            return first_failure(output)
    return "pass"


def try_mutant(mutant, scratch, args, log):
    """Gives (outcome, detail): outcome is killed, survived, not-compiled or timeout."""
    path = os.path.join(scratch, mutant.file)
    with open(path, encoding="utf-8") as source:
        original = source.read()
    if original.count(mutant.original) != 1:
        return "not-applied", "original text not found exactly once"
    log.write(f"\n===== mutant {mutant.name}: {mutant.file}\n- {mutant.original}\n+ {mutant.replacement}\n")
    deadline = time.time() + args.timeout
    try:
        with open(path, "w", encoding="utf-8") as source:
            source.write(original.replace(mutant.original, mutant.replacement))
        # First only what the named tests run: the unit-test binary, the command-line tools, or both.
        named = mutant.tests and not args.full
        targets = []
        if named and any(test.startswith("unit:") for test in mutant.tests):
            targets.append("test/unit/kiln-unittests")
        if named and any(not test.startswith("unit:") for test in mutant.tests):
            targets += ["bin/kiln-opt", "bin/kiln"]
        status = build(scratch, deadline, log, targets)
        if status is None:
            return "timeout", "build"
        if status != 0:
            return "not-compiled", ""
        if named:
            failure = run_tests(scratch, mutant.tests, args.jobs, deadline, log)
            if failure == "timeout":
                return "timeout", "named tests"
            if failure != "pass":
                return "killed", failure
        if targets:
            status = build(scratch, deadline, log)
            if status is None:
                return "timeout", "build"
            if status != 0:
                return "not-compiled", ""
        failure = run_tests(scratch, [], args.jobs, deadline, log, args.skip_slow)
        if failure == "timeout":
            return "timeout", "whole suite"
        if failure != "pass":
            return "killed", failure
        return "survived", ""
    finally:
        # The restored file is newer than the mutant's object file, so the next build recompiles it.
        with open(path, "w", encoding="utf-8") as source:
            source.write(original)


def read_results(path):
    results = {}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as stream:
            for line in stream:
                fields = line.rstrip("\n").split("\t")
                if len(fields) >= 3:
                    results[fields[0]] = (fields[1], fields[2])
    return results


def print_table(mutants, results):
    width = max([len(m.name) for m in mutants] + [6])
    print(f"\n{'mutant':<{width}}  {'outcome':<12}  detail / bug")
    for mutant in mutants:
        if mutant.name not in results:
            continue
        outcome, detail = results[mutant.name]
        print(f"{mutant.name:<{width}}  {outcome:<12}  {detail or mutant.why}")
    counts = {}
    for mutant in mutants:
        if mutant.name in results:
            counts[results[mutant.name][0]] = counts.get(results[mutant.name][0], 0) + 1
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    compiled = killed + counts.get("survived", 0)
    rate = 100.0 * killed / compiled if compiled else 0.0
    print(f"\nkilled {killed} of {compiled} compiled mutants: {rate:.1f}% "
          f"(timeouts {counts.get('timeout', 0)} among the killed; survived {counts.get('survived', 0)}; "
          f"not compiled {counts.get('not-compiled', 0)}; not applied {counts.get('not-applied', 0)})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], help="run only these mutants (comma-separated)")
    parser.add_argument("--jobs", type=int, default=1, help="lit workers (default 1)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--check", action="store_true", help="check the list against the sources and exit")
    parser.add_argument("--mutations", default=os.path.join(ROOT, "scripts", "mutations.txt"))
    parser.add_argument("--root", default=ROOT, help="the source tree (default: this script's)")
    parser.add_argument("--scratch", default=os.path.join(ROOT, "build-mutate"),
                        help="scratch copy of the tree, built in <scratch>/build (default: build-mutate/)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per mutant (build and tests)")
    parser.add_argument("--full", action="store_true", help="skip each mutant's named tests; run the whole suite")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of the named tests")
    parser.add_argument("--skip-slow", action="store_true",
                        help="leave the slow tests out of the whole-suite run (a survivor may then be killable)")
    parser.add_argument("--resume", action="store_true", help="skip mutants already in <scratch>/results.tsv")
    args = parser.parse_args()

    mutants, errors = parse_mutations(args.mutations)
    errors += check_mutants(mutants, args.root)
    if args.list:
        for mutant in mutants:
            print(f"{mutant.name}\t{mutant.file}\t{mutant.why}")
    if errors:
        for error in errors:
            print(f"mutate.py: {error}", file=sys.stderr)
        return 1
    if args.list:
        return 0
    if args.check:
        print(f"{len(mutants)} mutants, each original text found exactly once")
        return 0

    only = {name for group in args.only for name in group.split(",") if name}
    unknown = only - {mutant.name for mutant in mutants}
    if unknown:
        print(f"mutate.py: no mutant named {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    chosen = [mutant for mutant in mutants if not only or mutant.name in only]
    # Consecutive mutants of one file recompile one object; the files take turns by top directory
    # (backends/cpu, backends/interpreter, frontend, ir, passes, runtime), so that a run cut short
    # has tried every part.
    areas, turn = {}, {}
    for file in sorted({mutant.file for mutant in chosen}):
        area = "/".join(file.split("/")[:2]) if file.startswith("backends/") else file.split("/")[0]
        turn[file] = len(areas.setdefault(area, []))
        areas[area].append(file)
    chosen.sort(key=lambda mutant: (turn[mutant.file], mutant.file))

    # Ctrl-C or a kill ends the run through KeyboardInterrupt, which restores the scratch file, even
    # when started in the background (where SIGINT comes ignored).
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    scratch = os.path.abspath(args.scratch)
    os.makedirs(scratch, exist_ok=True)
    print(f"synced {sync_scratch(args.root, scratch)} files into {scratch}", flush=True)
    results_path = os.path.join(scratch, "results.tsv")
    results = read_results(results_path) if args.resume else {}
    if not args.resume and os.path.exists(results_path):
        os.remove(results_path)

    with open(os.path.join(scratch, "mutate.log"), "a", encoding="utf-8") as log:
        # Unmutated, the build and the named tests must pass, or no outcome would mean anything.
        if build(scratch, time.time() + args.timeout, log) != 0:
            print("mutate.py: the unmutated scratch tree does not build; see mutate.log", file=sys.stderr)
            return 1
        if not args.no_baseline:
            named = sorted({test for mutant in chosen for test in mutant.tests})
            failure = run_tests(scratch, named, args.jobs, time.time() + args.timeout, log)
            if failure != "pass":
                print(f"mutate.py: unmutated, the named tests fail ({failure}); see mutate.log", file=sys.stderr)
                return 1
            print("unmutated, the named tests pass", flush=True)
        try:
            for index, mutant in enumerate(chosen, 1):
                if mutant.name in results:
                    continue
                started = time.time()
                outcome, detail = try_mutant(mutant, scratch, args, log)
                results[mutant.name] = (outcome, detail)
                with open(results_path, "a", encoding="utf-8") as stream:
                    stream.write(f"{mutant.name}\t{outcome}\t{detail}\n")
                print(f"[{index}/{len(chosen)}] {mutant.name}: {outcome} {detail} ({time.time() - started:.0f} s)",
                      flush=True)
        except KeyboardInterrupt:
            print("\ninterrupted; the scratch file was restored", file=sys.stderr)
        finally:
            sync_scratch(args.root, scratch)
    print_table(chosen, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
