"""Seeds lit's record of test times in a fresh build from test/lit-test-times.txt.

lit starts the tests it knows to be longest first, from the times it writes after each run into
.lit_test_times.txt in the suite's build directory. A fresh build (CI's) has no such file, and in
alphabetical order the longest tests start late and finish alone on one of two workers. The
listing holds the times of a full run; only their order matters, so they need not be current, and
a test missing from it runs after the listed ones. Refresh it from a build's own files with
`scripts/lit-test-times.sh`."""
import os

LISTING = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lit-test-times.txt")


def seed(exec_root, suite):
    """Writes EXEC_ROOT/.lit_test_times.txt from the listing's lines of SUITE, unless lit has one."""
    seeded = os.path.join(exec_root, ".lit_test_times.txt")
    if os.path.exists(seeded):
        return
    with open(LISTING) as listing:
        lines = [line.split(None, 1)[1] for line in listing if line.startswith(suite + " ")]
    os.makedirs(exec_root, exist_ok=True)
    with open(seeded, "w") as out:
        out.writelines(lines)
