# lit configuration for Kiln: IR and model text tests with FileCheck, plus the gtest unit tests.
import os

import lit.formats

config.name = "Kiln"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".kir", ".kiln", ".test"]
config.excludes = ["Inputs", "unit", "lit.cfg.py", "lit.site.cfg.py.in", "CMakeLists.txt"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(os.path.dirname(config.kiln_unit_test_dir), "lit-output")

config.environment["PATH"] = os.pathsep.join([config.kiln_bin_dir, config.llvm_tools_dir, config.environment.get("PATH", "")])
config.substitutions.append(("%kiln-opt", os.path.join(config.kiln_bin_dir, "kiln-opt")))
# After %kiln-opt, which it is a prefix of.
config.substitutions.append(("%kiln", os.path.join(config.kiln_bin_dir, "kiln")))
config.substitutions.append(("%python", "/usr/bin/python3"))
config.substitutions.append(("%test-root", config.test_source_root))
