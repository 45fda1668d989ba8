# lit suite of the gtest unit tests: every TEST is one lit test.
import lit.formats

config.name = "Kiln-Unit"
config.test_format = lit.formats.GoogleTest(".", "unittests")
config.test_source_root = config.kiln_unit_test_dir
config.test_exec_root = config.kiln_unit_test_dir

# A fresh build's first run starts the longest shards first (test/lit_test_times.py says why).
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lit_test_times  # noqa: E402

lit_test_times.seed(config.test_exec_root, config.name)
