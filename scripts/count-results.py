"""Reads lit's xunit XML and prints the closing line `N passed, N failed`; exits 1 on any failure.
An optional second argument counts failures that happened before lit ran (a build that failed)."""
import sys
import xml.etree.ElementTree as ElementTree

try:
    root = ElementTree.parse(sys.argv[1]).getroot()
except (OSError, ElementTree.ParseError) as error:
    print(f"cannot read test results: {error}")
    print("0 passed, 1 failed")
    sys.exit(1)

passed = skipped = 0
failed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
for case in root.iter("testcase"):
    if case.find("failure") is not None or case.find("error") is not None:
        failed += 1
    elif case.find("skipped") is not None:
        skipped += 1
    else:
        passed += 1
if passed + failed == 0:
    failed = 1
    print("no test ran")
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed else 0)
