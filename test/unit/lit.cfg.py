# lit suite of the gtest unit tests: every TEST is one lit test.
import lit.formats

config.name = "Kiln-Unit"
config.test_format = lit.formats.GoogleTest(".", "unittests")
config.test_source_root = config.kiln_unit_test_dir
config.test_exec_root = config.kiln_unit_test_dir
