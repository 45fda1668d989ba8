"""exit_code.py CODE COMMAND...: runs COMMAND and exits 0 when it exits with CODE, else 1 (saying so)."""
import subprocess
import sys

expected = int(sys.argv[1])
status = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
if status != expected:
    print(f"exit_code.py: {sys.argv[2]} exited with {status}, not {expected}", file=sys.stderr)
    sys.exit(1)
