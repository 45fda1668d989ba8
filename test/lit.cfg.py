# lit configuration for Kiln: IR and model text tests with FileCheck, plus the gtest unit tests.
import os
import sys

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


# A fresh build's first run starts the longest tests first (test/lit_test_times.py says why).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lit_test_times  # noqa: E402

lit_test_times.seed(config.test_exec_root, config.name)

# The register the CPU backend's FMAs use on this host (it takes the widest vector register): zmm
# with AVX-512, ymm with AVX2 and FMA; tests of emitted assembly check it. Read from the host's
# CPU flags, so nothing about a particular CPU is written in a test.
def host_cpu_flags():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


flags = host_cpu_flags()
if "avx512f" in flags:
    config.available_features.add("host-fma")
    config.substitutions.append(("%host-fma-register", "zmm"))
    config.substitutions.append(("%host-fma-lanes", "16"))
    config.substitutions.append(("%host-narrow-registers", "(xmm|ymm)"))
elif "avx2" in flags and "fma" in flags:
    config.available_features.add("host-fma")
    config.substitutions.append(("%host-fma-register", "ymm"))
    config.substitutions.append(("%host-fma-lanes", "8"))
    config.substitutions.append(("%host-narrow-registers", "xmm"))

# The libFuzzer targets' smoke run (test/fuzz/*.test), when scripts/test.sh has built them with
# ASan and UBSan and written their seeds (scripts/fuzz.sh --prepare) and names that build here.
fuzz_build = lit_config.params.get("fuzz_build")
if fuzz_build and os.path.isdir(os.path.join(fuzz_build, "seeds")):
    config.available_features.add("fuzz")
    config.substitutions.append(("%fuzz-build", os.path.abspath(fuzz_build)))
