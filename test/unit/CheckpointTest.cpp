// Checkpoints: a bit-for-bit round trip, each checkFits message, every truncation and damaged byte
// refused, each malformed header named, and writes that fail (missing or unwritable directory, a
// file size limit, a full tmpfs) leaving the previous checkpoint as it was and no temporary behind.
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/Checkpoint.h"
#include "runtime/Npz.h"
#include "runtime/ProgramTable.h"

namespace kiln::checkpoint {
namespace {

namespace fs = std::filesystem;

// A fresh empty directory for one test.
std::string temporaryDirectory(std::string_view name) {
  fs::path directory = fs::path(testing::TempDir()) / fmt::format("kiln-checkpoint-test-{}-{}", name, ::getpid());
  fs::remove_all(directory);
  fs::create_directories(directory);
  return directory.string();
}

std::string fileBytes(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

std::vector<std::string> directoryEntries(const std::string &directory) {
  std::vector<std::string> names;
  for (const fs::directory_entry &entry : fs::directory_iterator(directory))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

template <typename T> npy::Array arrayOf(npy::ElementType type, std::vector<int64_t> shape, std::vector<T> values) {
  npy::Array array{type, std::move(shape), std::vector<std::byte>(values.size() * sizeof(T))};
  if (!values.empty()) std::memcpy(array.data.data(), values.data(), array.data.size());
  return array;
}

// `count` floats that differ from one `seed` to the next.
npy::Array floats(std::vector<int64_t> shape, int seed) {
  int64_t count = 1;
  for (int64_t extent : shape) count *= extent;
  std::vector<float> values(count);
  for (int64_t i = 0; i < count; ++i) values[i] = std::sin(static_cast<float>(i * 7 + seed)) * (seed + 1);
  return arrayOf(npy::ElementType::F32, std::move(shape), values);
}

Checkpoint smallCheckpoint() {
  return {"DigitClassifier",
          {{"epoch", "3"}, {"batch", "0"}},
          {{"hidden.weight", KILN_ROLE_PARAMETER, floats({2, 3}, 0)},
           {"adam.m.hidden.weight", KILN_ROLE_STATE, floats({2, 3}, 1)}}};
}

std::string decodeError(std::string_view bytes) {
  npy::Result<Checkpoint> result = decode(bytes, "x.ckpt");
  return result ? "no error" : result.error();
}

// A checkpoint archive made of `members` as they are, to hold what `write` never writes.
std::string archiveOf(const std::vector<npz::Member> &members) {
  std::string bytes;
  std::string error = npz::encodeMembers(members, npz::Compression::Stored, "test", [&](std::string_view piece) {
    bytes += piece;
    return std::string();
  });
  EXPECT_EQ(error, "");
  return bytes;
}

std::string headerMember(std::string_view tensorLines) {
  return fmt::format("kiln-checkpoint 1\nmodel M\nfield epoch 1\n{}", tensorLines);
}

// Runs `body` in a forked child and returns what it returns; "child died" when it does not return.
std::string inChild(const std::function<std::string()> &body) {
  int pipeEnds[2];
  if (::pipe(pipeEnds) != 0) return "pipe failed";
  pid_t child = ::fork();
  if (child == 0) {
    ::close(pipeEnds[0]);
    std::string result = body();
    size_t written = 0;
    while (written < result.size()) {
      ssize_t count = ::write(pipeEnds[1], result.data() + written, result.size() - written);
      if (count <= 0) break;
      written += static_cast<size_t>(count);
    }
    ::_exit(0);
  }
  ::close(pipeEnds[1]);
  std::string result;
  char buffer[4096];
  for (ssize_t count; (count = ::read(pipeEnds[0], buffer, sizeof buffer)) > 0;) result.append(buffer, count);
  ::close(pipeEnds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "child died";
  return result;
}

void expectSameCheckpoint(const Checkpoint &actual, const Checkpoint &expected) {
  EXPECT_EQ(actual.model, expected.model);
  EXPECT_EQ(actual.fields, expected.fields);
  ASSERT_EQ(actual.tensors.size(), expected.tensors.size());
  for (size_t i = 0; i < expected.tensors.size(); ++i) {
    EXPECT_EQ(actual.tensors[i].name, expected.tensors[i].name);
    EXPECT_EQ(actual.tensors[i].role, expected.tensors[i].role);
    EXPECT_EQ(actual.tensors[i].array.type, expected.tensors[i].array.type);
    EXPECT_EQ(actual.tensors[i].array.shape, expected.tensors[i].array.shape);
    EXPECT_EQ(actual.tensors[i].array.data, expected.tensors[i].array.data) << expected.tensors[i].name;
  }
}

TEST(Checkpoint, RoundTripsBitForBit) {
  float nan = std::numeric_limits<float>::quiet_NaN();
  Checkpoint checkpoint{
      "Model with spaces",
      {{"epoch", "12"}, {"lr", "0.001"}, {"note", "values may hold spaces"}, {"empty", ""}},
      {{"w", KILN_ROLE_PARAMETER, arrayOf<float>(npy::ElementType::F32, {2, 2}, {-0.0f, nan, 1e-45f, -3.5f})},
       {"adam.step", KILN_ROLE_STATE, arrayOf<int64_t>(npy::ElementType::I64, {}, {1ll << 40})},
       {"d", KILN_ROLE_STATE, arrayOf<double>(npy::ElementType::F64, {1, 3}, {1e300, -2.0, 0.1})},
       {"i", KILN_ROLE_INPUT, arrayOf<int32_t>(npy::ElementType::I32, {2}, {-7, 1 << 30})},
       {"mask-0", KILN_ROLE_LABEL, arrayOf<uint8_t>(npy::ElementType::Bool, {3}, {1, 0, 1})},
       {"empty_", KILN_ROLE_NONE, arrayOf<float>(npy::ElementType::F32, {0, 4}, {})}}};
  std::string directory = temporaryDirectory("round-trip");
  std::string path = directory + "/model.ckpt";
  ASSERT_EQ(write(path, checkpoint), "");
  npy::Result<Checkpoint> read = checkpoint::read(path);
  ASSERT_TRUE(read) << read.error();
  expectSameCheckpoint(*read, checkpoint);
  EXPECT_EQ(*read->field("lr"), "0.001");
  EXPECT_EQ(*read->field("empty"), "");
  EXPECT_EQ(read->field("batch"), nullptr);
  // Nothing else is left in the directory.
  EXPECT_EQ(directoryEntries(directory), std::vector<std::string>{"model.ckpt"});
  fs::remove_all(directory);
}

TEST(Checkpoint, IsANpzArchiveWithATextHeaderFirst) {
  npy::Result<std::string> bytes = encode(smallCheckpoint(), "x.ckpt");
  ASSERT_TRUE(bytes) << bytes.error();
  npy::Result<npz::ArchiveReader> archive = npz::ArchiveReader::open(*bytes, "x.ckpt");
  ASSERT_TRUE(archive) << archive.error();
  ASSERT_EQ(archive->memberCount(), 3u);
  EXPECT_EQ(*archive->memberName(0), "kiln-checkpoint.txt");
  EXPECT_EQ(*archive->readMember(0), "kiln-checkpoint 1\n"
                                     "model DigitClassifier\n"
                                     "field epoch 3\n"
                                     "field batch 0\n"
                                     "tensor hidden.weight parameter f32[2,3]\n"
                                     "tensor adam.m.hidden.weight state f32[2,3]\n");
  EXPECT_EQ(*archive->memberName(1), "hidden.weight.npy");
  EXPECT_EQ(*archive->readMember(1), npy::encode(floats({2, 3}, 0)));
  EXPECT_EQ(*archive->memberName(2), "adam.m.hidden.weight.npy");
}

TEST(Checkpoint, ChecksThatItFitsTheModel) {
  Checkpoint checkpoint = smallCheckpoint();
  std::vector<ExpectedTensor> expected = {{"hidden.weight", KILN_ROLE_PARAMETER, npy::ElementType::F32, {2, 3}},
                                          {"adam.m.hidden.weight", KILN_ROLE_STATE, npy::ElementType::F32, {2, 3}}};
  EXPECT_EQ(checkFits(checkpoint, "x.ckpt", "DigitClassifier", expected), "");
  EXPECT_EQ(checkFits(checkpoint, "x.ckpt", "LeNet5", expected),
            "x.ckpt is a checkpoint of model 'DigitClassifier', not of 'LeNet5'");

  std::vector<ExpectedTensor> more = expected;
  more.push_back({"hidden.bias", KILN_ROLE_PARAMETER, npy::ElementType::F32, {3}});
  EXPECT_EQ(checkFits(checkpoint, "x.ckpt", "DigitClassifier", more), "x.ckpt lacks hidden.bias, which the model has");
  std::vector<ExpectedTensor> fewer(expected.begin(), expected.begin() + 1);
  EXPECT_EQ(checkFits(checkpoint, "x.ckpt", "DigitClassifier", fewer),
            "x.ckpt has adam.m.hidden.weight, which the model does not have");

  std::vector<ExpectedTensor> otherType = expected;
  otherType[1].type = npy::ElementType::F64;
  EXPECT_EQ(checkFits(checkpoint, "x.ckpt", "DigitClassifier", otherType),
            "adam.m.hidden.weight is f32[2,3] in x.ckpt but the model has f64[2,3]");
  std::vector<ExpectedTensor> otherShape = expected;
  otherShape[0].shape = {2, 6};
  EXPECT_EQ(checkFits(checkpoint, "x.ckpt", "DigitClassifier", otherShape),
            "hidden.weight is f32[2,3] in x.ckpt but the model has f32[2,6]");
  otherShape[0].shape = {};
  EXPECT_EQ(checkFits(checkpoint, "x.ckpt", "DigitClassifier", otherShape),
            "hidden.weight is f32[2,3] in x.ckpt but the model has f32[]");
  std::vector<ExpectedTensor> otherRole = expected;
  otherRole[0].role = KILN_ROLE_STATE;
  EXPECT_EQ(checkFits(checkpoint, "x.ckpt", "DigitClassifier", otherRole),
            "hidden.weight is a parameter in x.ckpt but optimizer state in the model");
  std::vector<ExpectedTensor> otherOrder = {expected[1], expected[0]};
  EXPECT_EQ(checkFits(checkpoint, "x.ckpt", "DigitClassifier", otherOrder),
            "x.ckpt holds the model's tensors in another order: tensor 1 is hidden.weight there but "
            "adam.m.hidden.weight in the model");
}

TEST(Checkpoint, RefusesEveryTruncation) {
  npy::Result<std::string> bytes = encode(smallCheckpoint(), "x.ckpt");
  ASSERT_TRUE(bytes) << bytes.error();
  for (size_t length = 0; length < bytes->size(); ++length) {
    std::string error = decodeError(bytes->substr(0, length));
    EXPECT_TRUE(error.starts_with("x.ckpt: ")) << "cut at " << length << ": " << error;
  }
  EXPECT_EQ(decodeError(""), "x.ckpt: not a Kiln checkpoint (not a .npz file (expected a zip archive of .npy files); "
                             "it is empty)");
  EXPECT_EQ(decodeError(bytes->substr(0, 100)),
            "x.ckpt: truncated or damaged checkpoint (not a .npz file (expected a zip archive of .npy files))");
}

TEST(Checkpoint, RefusesAFlippedByteOfData) {
  Checkpoint checkpoint = smallCheckpoint();
  npy::Result<std::string> bytes = encode(checkpoint, "x.ckpt");
  ASSERT_TRUE(bytes) << bytes.error();
  // The last float of the first tensor's data, found by its bytes.
  const npy::Array &array = checkpoint.tensors[0].array;
  std::string_view data(reinterpret_cast<const char *>(array.data.data()), array.data.size());
  size_t at = bytes->find(data);
  ASSERT_NE(at, std::string::npos);
  std::string damaged = *bytes;
  damaged[at + data.size() - 1] ^= 0x01;
  EXPECT_EQ(decodeError(damaged), "x.ckpt: member 'hidden.weight.npy': CRC error");
  // A flipped byte of the header is caught the same way.
  damaged = *bytes;
  damaged[bytes->find("field epoch 3") + 12] = '4';
  EXPECT_EQ(decodeError(damaged), "x.ckpt: member 'kiln-checkpoint.txt': CRC error");
}

TEST(Checkpoint, SurvivesEveryFlippedByte) {
  Checkpoint checkpoint = smallCheckpoint();
  npy::Result<std::string> bytes = encode(checkpoint, "x.ckpt");
  ASSERT_TRUE(bytes) << bytes.error();
  // A flip in a field no reader uses (a timestamp, the creating system) may pass; then nothing changed.
  for (size_t at = 0; at < bytes->size(); ++at)
    for (unsigned char flip : {0x01, 0x80, 0xff}) {
      std::string damaged = *bytes;
      damaged[at] = static_cast<char>(damaged[at] ^ flip);
      npy::Result<Checkpoint> result = decode(damaged, "x.ckpt");
      if (result) {
        SCOPED_TRACE(fmt::format("byte {} xor {:#x} was accepted", at, flip));
        expectSameCheckpoint(*result, checkpoint);
      } else {
        EXPECT_TRUE(result.error().starts_with("x.ckpt: ")) << result.error();
      }
    }
}

TEST(Checkpoint, RefusesWhatIsNotACheckpoint) {
  EXPECT_EQ(decodeError("\x93NUMPY not a checkpoint"),
            "x.ckpt: not a Kiln checkpoint (not a .npz file (expected a zip archive of .npy files))");
  npy::Result<std::string> npz = npz::encode({{"w", floats({2}, 0)}});
  ASSERT_TRUE(npz) << npz.error();
  EXPECT_EQ(decodeError(*npz), "x.ckpt: not a Kiln checkpoint (its first member is 'w.npy', not kiln-checkpoint.txt)");
  npy::Result<Checkpoint> missing = read("/nonexistent/kiln/x.ckpt");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), "/nonexistent/kiln/x.ckpt: cannot open the file for reading");
}

TEST(Checkpoint, RefusesAnotherVersionAndMalformedHeaders) {
  std::string npy = npy::encode(floats({2, 2}, 0));
  auto withHeader = [&](std::string header) { return decodeError(archiveOf({{"kiln-checkpoint.txt", header}})); };
  EXPECT_EQ(withHeader("kiln-checkpoint 2\nmodel M\n"),
            "x.ckpt: checkpoint format version '2', but this program reads version 1");
  EXPECT_EQ(withHeader("kiln-checkpoint\nmodel M\n"),
            "x.ckpt: malformed header: line 1 is 'kiln-checkpoint', expected 'kiln-checkpoint 1'");
  EXPECT_EQ(withHeader("kiln-checkpoint 1\nmodel M"), "x.ckpt: malformed header: it does not end with a line break");
  EXPECT_EQ(withHeader("kiln-checkpoint 1\nfield epoch 1\n"), "x.ckpt: malformed header: no model line");
  EXPECT_EQ(withHeader("kiln-checkpoint 1\nmodel M\nmodel N\n"), "x.ckpt: header line 3: a second model line");
  EXPECT_EQ(withHeader("kiln-checkpoint 1\nmodel M\nweights w\n"),
            "x.ckpt: header line 3: expected 'model', 'field' or 'tensor', not 'weights'");
  EXPECT_EQ(withHeader(headerMember("field Epoch 1\n")),
            "x.ckpt: header line 4: the field key 'Epoch' is not made of [a-z_0-9]");
  EXPECT_EQ(withHeader(headerMember("field epoch 2\n")), "x.ckpt: header line 4: a second field 'epoch'");
  EXPECT_EQ(withHeader(headerMember("tensor w parameter\n")),
            "x.ckpt: header line 4: expected 'tensor NAME ROLE TYPE'");
  EXPECT_EQ(withHeader(headerMember("tensor w/x parameter f32[2]\n")),
            "x.ckpt: header line 4: the tensor name 'w/x' is not made of letters, digits, '_', '.' and '-'");
  EXPECT_EQ(withHeader(headerMember("tensor w weight f32[2]\n")),
            "x.ckpt: header line 4: unknown role 'weight' (expected parameter, state, input, label or none)");
  for (std::string_view type : {"f32", "f16[2]", "f32[2,]", "f32[-2]", "f32[2", "f32[99999999999999999999]"})
    EXPECT_EQ(
        withHeader(headerMember(fmt::format("tensor w parameter {}\n", type))),
        fmt::format("x.ckpt: header line 4: malformed type '{}' (expected a dtype and a shape, as f32[64,128])", type));
  EXPECT_EQ(withHeader(headerMember("tensor w parameter f32[4611686018427387904,4]\n")),
            "x.ckpt: header line 4: the type f32[4611686018427387904,4] holds too many bytes");
  EXPECT_EQ(withHeader(headerMember("tensor w parameter f32[2,2]\ntensor w state f32[2,2]\n")),
            "x.ckpt: header line 5: a second tensor 'w'");
}

TEST(Checkpoint, RefusesAHeaderThatDisagreesWithTheMembers) {
  std::string npy = npy::encode(floats({2, 2}, 0));
  EXPECT_EQ(decodeError(archiveOf({{"kiln-checkpoint.txt", headerMember("tensor w parameter f32[2,2]\n")}})),
            "x.ckpt: the header lists 1 tensors but the archive holds 0 members after it");
  EXPECT_EQ(decodeError(archiveOf({{"kiln-checkpoint.txt", headerMember("")}, {"w.npy", npy}})),
            "x.ckpt: the header lists 0 tensors but the archive holds 1 members after it");
  EXPECT_EQ(
      decodeError(archiveOf({{"kiln-checkpoint.txt", headerMember("tensor w parameter f32[2,2]\n")}, {"v.npy", npy}})),
      "x.ckpt: member 1 is 'v.npy', but the header's tensor 1 is w");
  EXPECT_EQ(
      decodeError(archiveOf({{"kiln-checkpoint.txt", headerMember("tensor w parameter f32[4]\n")}, {"w.npy", npy}})),
      "x.ckpt: member 'w.npy' holds f32[2,2], but the header says f32[4]");
  EXPECT_EQ(
      decodeError(archiveOf({{"kiln-checkpoint.txt", headerMember("tensor w parameter i32[2,2]\n")}, {"w.npy", npy}})),
      "x.ckpt: member 'w.npy' holds f32[2,2], but the header says i32[2,2]");
  // A header promising more data than the member declares is refused before the member is read.
  EXPECT_EQ(decodeError(archiveOf(
                {{"kiln-checkpoint.txt", headerMember("tensor w parameter f32[1000000000]\n")}, {"w.npy", npy}})),
            "x.ckpt: member 'w.npy' declares 144 bytes, which cannot hold the 4000000000 bytes of f32[1000000000]");
  EXPECT_EQ(
      decodeError(archiveOf({{"kiln-checkpoint.txt", headerMember("tensor w parameter f32[2,2]\n")}, {"w.npy", "x"}})),
      "x.ckpt: member 'w.npy' declares 1 bytes, which cannot hold the 16 bytes of f32[2,2]");
  std::string bad = npy;
  bad[0] = 'X';
  EXPECT_EQ(
      decodeError(archiveOf({{"kiln-checkpoint.txt", headerMember("tensor w parameter f32[2,2]\n")}, {"w.npy", bad}})),
      "x.ckpt: member 'w.npy': not a .npy file (expected the magic string \\x93NUMPY at its start)");
}

TEST(Checkpoint, RefusesToWriteWhatItCannotReadBack) {
  auto writeError = [](auto change) {
    Checkpoint checkpoint = smallCheckpoint();
    change(checkpoint);
    npy::Result<std::string> bytes = encode(checkpoint, "x.ckpt");
    return bytes ? "no error" : bytes.error();
  };
  EXPECT_EQ(writeError([](Checkpoint &c) { c.model = ""; }), "x.ckpt: the checkpoint has no model name");
  EXPECT_EQ(writeError([](Checkpoint &c) { c.model = "a\nb"; }), "x.ckpt: the model's name contains a line break");
  EXPECT_EQ(writeError([](Checkpoint &c) {
              c.fields.push_back({"Epoch", "1"});
            }),
            "x.ckpt: the field key 'Epoch' is not made of [a-z_0-9]");
  EXPECT_EQ(writeError([](Checkpoint &c) {
              c.fields.push_back({"epoch", "1"});
            }),
            "x.ckpt: two fields are named 'epoch'");
  EXPECT_EQ(writeError([](Checkpoint &c) {
              c.fields.push_back({"note", "a\nb"});
            }),
            "x.ckpt: the value of field 'note' contains a line break");
  EXPECT_EQ(writeError([](Checkpoint &c) { c.tensors[1].name = "hidden weight"; }),
            "x.ckpt: the tensor name 'hidden weight' is not made of letters, digits, '_', '.' and '-'");
  EXPECT_EQ(writeError([](Checkpoint &c) { c.tensors[1].name = c.tensors[0].name; }),
            "x.ckpt: two tensors are named 'hidden.weight'");
  EXPECT_EQ(writeError([](Checkpoint &c) { c.tensors[0].role = 9; }),
            "x.ckpt: tensor 'hidden.weight' has the unknown role 9");
  EXPECT_EQ(writeError([](Checkpoint &c) {
              c.tensors[0].array.shape = {4, 4};
            }),
            "x.ckpt: tensor 'hidden.weight' of type f32[4,4] holds 24 bytes");
}

TEST(Checkpoint, ReportsAMissingOrUnwritableDirectory) {
  EXPECT_EQ(write("/nonexistent/kiln/x.ckpt", smallCheckpoint()),
            "/nonexistent/kiln/x.ckpt: cannot open the directory /nonexistent/kiln: No such file or directory");
  // Root writes anywhere: the write is made by a child without capabilities, in a directory without
  // write permission.
  std::string directory = temporaryDirectory("unwritable");
  std::string path = directory + "/x.ckpt";
  ASSERT_EQ(write(path, smallCheckpoint()), "");
  std::string before = fileBytes(path);
  fs::permissions(directory, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                                 fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  Checkpoint other = smallCheckpoint();
  other.fields[0].second = "4";
  std::string error = inChild([&] {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capset, &header, none) != 0) return fmt::format("capset: {}", std::strerror(errno));
    return write(path, other);
  });
  fs::permissions(directory, fs::perms::owner_all);
  EXPECT_EQ(error, fmt::format("{}: cannot create a temporary file in {}: Permission denied", path, directory));
  EXPECT_EQ(fileBytes(path), before);
  EXPECT_EQ(directoryEntries(directory), std::vector<std::string>{"x.ckpt"});
  fs::remove_all(directory);
}

TEST(Checkpoint, KeepsTheOldCheckpointWhenTheFileSizeLimitIsReached) {
  std::string directory = temporaryDirectory("size-limit");
  std::string path = directory + "/x.ckpt";
  ASSERT_EQ(write(path, smallCheckpoint()), "");
  std::string before = fileBytes(path);
  Checkpoint large = smallCheckpoint();
  large.tensors[0].array = floats({256, 1024}, 5);  // 1 MiB against a limit of 64 KiB
  std::string error = inChild([&] {
    // Past the limit write() fails with EFBIG, as on a full disk, instead of the process being killed.
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit{64 << 10, 64 << 10};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return std::string("setrlimit failed");
    return write(path, large);
  });
  EXPECT_EQ(error, path + ": cannot write the checkpoint: File too large");
  EXPECT_EQ(fileBytes(path), before);
  EXPECT_EQ(directoryEntries(directory), std::vector<std::string>{"x.ckpt"});
  fs::remove_all(directory);
}

TEST(Checkpoint, KeepsTheOldCheckpointOnAFullDisk) {
  std::string directory = temporaryDirectory("full-disk");
  // The child mounts a 256 KiB tmpfs in a mount namespace of its own (a user namespace too when not
  // root), writes a small checkpoint, fails to write a large one, and reports what it saw.
  std::string report = inChild([&]() -> std::string {
    int flags = CLONE_NEWNS | (::geteuid() == 0 ? 0 : CLONE_NEWUSER);
    if (::unshare(flags) != 0) return fmt::format("skip: unshare: {}", std::strerror(errno));
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      return fmt::format("skip: making / private: {}", std::strerror(errno));
    if (::mount("kiln-test", directory.c_str(), "tmpfs", 0, "size=256k") != 0)
      return fmt::format("skip: mounting a tmpfs: {}", std::strerror(errno));
    std::string path = directory + "/x.ckpt";
    if (std::string error = write(path, smallCheckpoint()); !error.empty()) return "first write: " + error;
    std::string before = fileBytes(path);
    Checkpoint large = smallCheckpoint();
    large.tensors[0].array = floats({256, 1024}, 5);
    std::string error = write(path, large);
    std::string report = error + "\n";
    if (fileBytes(path) != before) report += "the old checkpoint changed\n";
    for (const std::string &name : directoryEntries(directory)) report += name + "\n";
    return report;
  });
  fs::remove_all(directory);
  if (report.starts_with("skip: ")) GTEST_SKIP() << report;
  EXPECT_EQ(report,
            fmt::format("{}/x.ckpt: cannot write the checkpoint: No space left on device\nx.ckpt\n", directory));
}

TEST(Checkpoint, RemovesOnlyItsOwnStaleTemporaries) {
  std::string directory = temporaryDirectory("stale");
  std::string path = directory + "/x.ckpt";
  for (std::string name : {".x.ckpt.kiln-tmp-0badf00d", ".x.ckpt.kiln-tmp-live", ".y.ckpt.kiln-tmp-0badf00d",
                           "x.ckpt.kiln-tmp-0badf00d", ".x.ckpt.other"})
    std::ofstream(directory + "/" + name) << "partial";
  // A writer still at work holds its temporary locked.
  int live = ::open((directory + "/.x.ckpt.kiln-tmp-live").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(live, 0);
  ASSERT_EQ(::flock(live, LOCK_EX), 0);
  ASSERT_EQ(write(path, smallCheckpoint()), "");
  EXPECT_EQ(directoryEntries(directory),
            (std::vector<std::string>{".x.ckpt.kiln-tmp-live", ".x.ckpt.other", ".y.ckpt.kiln-tmp-0badf00d", "x.ckpt",
                                      "x.ckpt.kiln-tmp-0badf00d"}));
  ::close(live);
  fs::remove_all(directory);
}

TEST(Checkpoint, WritesIntoTheWorkingDirectory) {
  std::string directory = temporaryDirectory("relative");
  fs::path previous = fs::current_path();
  fs::current_path(directory);
  EXPECT_EQ(write("plain.ckpt", smallCheckpoint()), "");
  npy::Result<Checkpoint> read = checkpoint::read("plain.ckpt");
  EXPECT_TRUE(read) << read.error();
  EXPECT_EQ(write(directory + "/", smallCheckpoint()), directory + "/: a checkpoint's path must name a file");
  fs::current_path(previous);
  fs::remove_all(directory);
}

}  // namespace
}  // namespace kiln::checkpoint
