// Issue 15's fault test: a child writes two checkpoints of a few MB in turn, forever, and is killed with
// SIGKILL at a random moment (seeded); after each kill the checkpoint must read back as one of the two,
// whole, and the temporary a killed writer leaves must not disturb the next write. 100 trials by
// default; KILN_CHECKPOINT_KILL_TRIALS and KILN_CHECKPOINT_KILL_SEED change the count and the seed.
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/Checkpoint.h"
#include "runtime/ProgramTable.h"

namespace kiln::checkpoint {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int environmentNumber(const char *name, int otherwise) {
  const char *text = std::getenv(name);
  return text && *text ? std::atoi(text) : otherwise;
}

// 2 MiB of parameters and as much optimizer state, different for each `epoch`.
Checkpoint checkpointOfEpoch(int epoch) {
  constexpr int64_t kCount = 1 << 19;
  Checkpoint checkpoint{"KillTest", {{"epoch", std::to_string(epoch)}}, {}};
  for (auto [name, role] :
       {std::pair{"layer.weight", KILN_ROLE_PARAMETER}, std::pair{"adam.m.layer.weight", KILN_ROLE_STATE}}) {
    std::vector<float> values(kCount);
    for (int64_t i = 0; i < kCount; ++i) values[i] = std::sin(static_cast<float>(i + epoch * 1000)) * epoch;
    npy::Array array{npy::ElementType::F32, {kCount / 1024, 1024}, std::vector<std::byte>(kCount * sizeof(float))};
    std::memcpy(array.data.data(), values.data(), array.data.size());
    checkpoint.tensors.push_back({name, role, std::move(array)});
  }
  return checkpoint;
}

bool same(const Checkpoint &a, const Checkpoint &b) {
  if (a.model != b.model || a.fields != b.fields || a.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i)
    if (a.tensors[i].name != b.tensors[i].name || a.tensors[i].role != b.tensors[i].role ||
        a.tensors[i].array.shape != b.tensors[i].array.shape || a.tensors[i].array.data != b.tensors[i].array.data)
      return false;
  return true;
}

size_t temporaryCount(const std::string &directory) {
  size_t count = 0;
  for (const fs::directory_entry &entry : fs::directory_iterator(directory))
    if (entry.path().filename().string().starts_with(".x.ckpt.kiln-tmp-")) ++count;
  return count;
}

TEST(CheckpointKill, ThePreviousCheckpointSurvivesSIGKILL) {
  int trials = environmentNumber("KILN_CHECKPOINT_KILL_TRIALS", 100);
  unsigned seed = static_cast<unsigned>(environmentNumber("KILN_CHECKPOINT_KILL_SEED", 15));
  fs::path directory = fs::path(testing::TempDir()) / fmt::format("kiln-checkpoint-kill-{}", ::getpid());
  fs::remove_all(directory);
  fs::create_directories(directory);
  std::string path = (directory / "x.ckpt").string();
  const Checkpoint first = checkpointOfEpoch(1), second = checkpointOfEpoch(2);

  // How long one write takes here (the fastest of three): kills are spread over two of them.
  auto writeTime = std::chrono::microseconds::max();
  for (int i = 0; i < 3; ++i) {
    Clock::time_point start = Clock::now();
    ASSERT_EQ(write(path, first), "");
    writeTime = std::min(writeTime, std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start));
  }
  std::mt19937 random(seed);
  std::uniform_int_distribution<int64_t> delay(0, 2 * writeTime.count());

  int readAsFirst = 0, readAsSecond = 0, temporariesLeft = 0;
  for (int trial = 0; trial < trials; ++trial) {
    SCOPED_TRACE(fmt::format("trial {} of seed {}", trial, seed));
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      for (;;)
        for (const Checkpoint *checkpoint : {&second, &first})
          if (!write(path, *checkpoint).empty()) ::_exit(1);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(delay(random)));
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the writer stopped by itself: " << status;

    npy::Result<Checkpoint> read = checkpoint::read(path);
    ASSERT_TRUE(read) << read.error();
    bool isFirst = same(*read, first), isSecond = same(*read, second);
    ASSERT_TRUE(isFirst || isSecond) << "the checkpoint read back is neither of the two written";
    readAsFirst += isFirst;
    readAsSecond += isSecond;
    // Each write removes the temporaries of dead writers before making its own: at most one is left.
    size_t temporaries = temporaryCount(directory.string());
    ASSERT_LE(temporaries, 1u);
    temporariesLeft += static_cast<int>(temporaries);
  }
  ASSERT_EQ(write(path, first), "");
  EXPECT_EQ(temporaryCount(directory.string()), 0u);
  std::cout << fmt::format("{} kills (seed {}, one write {} ms): read back {} times as the first checkpoint, {} as "
                           "the second; {} kills left a temporary\n",
                           trials, seed, writeTime.count() / 1000, readAsFirst, readAsSecond, temporariesLeft);
  fs::remove_all(directory);
}

}  // namespace
}  // namespace kiln::checkpoint
