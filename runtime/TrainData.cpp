// Reading, checking and batching a program's training data: see TrainData.h.
#include "runtime/TrainData.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <ranges>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "runtime/Idx.h"
#include "runtime/Npz.h"
#include "runtime/Random.h"

namespace kiln::program {

namespace {
std::string_view elementName(npy::ElementType type) {
  for (size_t i = 0; i < std::size(kElementTypes); ++i)
    if (kElementTypes[i] == type) return kDTypeNames[i];
  return "?";
}

// Narrows i64 to i32 and f64 to f32 (the dtypes NumPy writes by default); an i64 value outside
// i32's range is an error.
Outcome narrow(npy::Array &array, npy::ElementType wanted, const std::string &what) {
  if (array.type == wanted) return std::nullopt;
  int64_t count = array.elementCount();
  std::vector<std::byte> narrowed(size_t(count) * 4);
  if (array.type == npy::ElementType::I64 && wanted == npy::ElementType::I32) {
    for (int64_t i = 0; i < count; ++i) {
      int64_t value;
      std::memcpy(&value, array.data.data() + i * 8, 8);
      if (value < INT32_MIN || value > INT32_MAX)
        return dataError(fmt::format("{}: element {} is {}, which does not fit in i32", what, i, value));
      int32_t small = int32_t(value);
      std::memcpy(narrowed.data() + i * 4, &small, 4);
    }
  } else if (array.type == npy::ElementType::F64 && wanted == npy::ElementType::F32) {
    for (int64_t i = 0; i < count; ++i) {
      double value;
      std::memcpy(&value, array.data.data() + i * 8, 8);
      float small = float(value);
      std::memcpy(narrowed.data() + i * 4, &small, 4);
    }
  } else {
    return dataError(fmt::format("{} holds {} elements, but the model expects {}", what, elementName(array.type),
                                 elementName(wanted)));
  }
  array.type = wanted;
  array.data = std::move(narrowed);
  return std::nullopt;
}

// Checks one array against the argument it feeds: dtype, extents after the batch axis, values.
Outcome checkArray(npy::Array &array, const KilnTensorInfo &argument, int64_t classes, const std::string &what) {
  if (Outcome failure = narrow(array, kElementTypes[argument.dtype], what)) return failure;
  std::vector<int64_t> example(argument.shape + 1, argument.shape + argument.rank);
  bool sameExtents = array.shape.size() == size_t(argument.rank) &&
                     std::equal(example.begin(), example.end(), array.shape.begin() + 1);
  if (!sameExtents) {
    std::vector<int64_t> expected = example;
    expected.insert(expected.begin(), -1);
    std::string wanted = typeText(argument.dtype, expected.data(), expected.size());
    wanted.replace(wanted.find("-1"), 2, "N");
    return dataError(fmt::format("{} is {}, but %{} takes examples of {}: the array should be {}", what,
                                 typeText(array), argument.name,
                                 typeText(argument.dtype, example.data(), example.size()), wanted));
  }
  int64_t count = array.elementCount();
  if (argument.dtype == KILN_F32 || argument.dtype == KILN_F64) {
    for (int64_t i = 0; i < count; ++i) {
      double value;
      if (argument.dtype == KILN_F32) {
        float small;
        std::memcpy(&small, array.data.data() + i * 4, 4);
        value = small;
      } else {
        std::memcpy(&value, array.data.data() + i * 8, 8);
      }
      if (!std::isfinite(value))
        return dataError(fmt::format("{}: element {} (example {}) is {}", what, i,
                                     i / std::max<int64_t>(1, count / array.shape[0]), value));
    }
  }
  if (argument.role == KILN_ROLE_LABEL && argument.dtype == KILN_I32 && classes > 0) {
    for (int64_t i = 0; i < count; ++i) {
      int32_t label;
      std::memcpy(&label, array.data.data() + i * 4, 4);
      if (label < 0 || label >= classes)
        return dataError(fmt::format("{}: label {} (element {}) is outside the model's {} classes [0, {})", what, label,
                                     i, classes, classes));
    }
  }
  return std::nullopt;
}

// Checks a split's arrays and that they hold one number of examples.
Outcome finishSplit(Examples &examples, int64_t classes, const std::vector<std::string> &what) {
  for (size_t i = 0; i < examples.arrays.size(); ++i) {
    if (examples.arrays[i].shape.empty())
      return dataError(
          fmt::format("{} is a scalar, but %{} takes a batch of examples", what[i], examples.arguments[i]->name));
    if (Outcome failure = checkArray(examples.arrays[i], *examples.arguments[i], classes, what[i])) return failure;
    int64_t count = examples.arrays[i].shape[0];
    if (i > 0 && count != examples.count)
      return dataError(fmt::format("{} holds {} examples, but {} holds {}", what[i], count, what[0], examples.count));
    examples.count = count;
  }
  return std::nullopt;
}

Outcome loadNpz(const std::string &path, int64_t classes, DataSet &data) {
  npy::Result<std::vector<npz::NamedArray>> archive = npz::read(path);
  if (!archive) return dataError(archive.error());
  std::vector<std::string> trainingWhat, testWhat;
  size_t testArrays = 0;
  for (const KilnTensorInfo *argument : data.training.arguments) {
    std::string name = argument->name;
    npy::Result<npy::Array> array = npz::find(*archive, name, path);
    if (!array)
      return dataError(fmt::format("{} (the examples of {} %{})", array.error(),
                                   argument->role == KILN_ROLE_LABEL ? "label" : "input", name));
    data.training.arrays.push_back(std::move(*array));
    trainingWhat.push_back(fmt::format("{}: array '{}'", path, name));
    for (npz::NamedArray &named : *archive)
      if (named.name == name + "_test") {
        data.test.arrays.push_back(std::move(named.array));
        testWhat.push_back(fmt::format("{}: array '{}_test'", path, name));
        ++testArrays;
      }
  }
  if (testArrays != 0 && testArrays != data.training.arguments.size())
    return dataError(fmt::format("{} holds a test split for some inputs and labels but not all: give NAME_test for "
                                 "each of them or for none",
                                 path));
  if (Outcome failure = finishSplit(data.training, classes, trainingWhat)) return failure;
  if (testArrays == 0) data.test.arguments.clear();
  return finishSplit(data.test, classes, testWhat);
}

// The IDX file `stem` in `folder`, gzipped or not.
npy::Result<npy::Array> readIdx(const std::filesystem::path &folder, const std::string &stem) {
  std::error_code status;
  for (const char *suffix : {".gz", ""})
    if (std::filesystem::exists(folder / (stem + suffix), status)) return idx::read(folder / (stem + suffix));
  return npy::Result<npy::Array>::failure(
      fmt::format("{}: no file {} or {}.gz (a data folder holds the IDX files of MNIST or Fashion-MNIST)",
                  folder.string(), stem, stem));
}

// Integer images of the IDX files (grey levels 0..255) as floats in [0, 1], one example per image.
npy::Array imagesAsFloats(npy::Array images, const KilnTensorInfo &input) {
  if (images.type != npy::ElementType::I32 || (input.dtype != KILN_F32 && input.dtype != KILN_F64)) return images;
  int64_t count = images.elementCount();
  npy::Array scaled;
  scaled.type = kElementTypes[input.dtype];
  scaled.data.resize(size_t(count) * npy::byteSize(scaled.type));
  for (int64_t i = 0; i < count; ++i) {
    int32_t level;
    std::memcpy(&level, images.data.data() + i * 4, 4);
    double value = level / 255.0;
    if (input.dtype == KILN_F32) {
      float small = float(value);
      std::memcpy(scaled.data.data() + i * 4, &small, 4);
    } else {
      std::memcpy(scaled.data.data() + i * 8, &value, 8);
    }
  }
  // [N, 28, 28] images feed an input of [B, 1, 28, 28] or [B, 784]: the same elements per example.
  int64_t examples = images.shape.empty() ? 0 : images.shape[0];
  int64_t perExample = examples == 0 ? 0 : count / examples;
  int64_t wanted = 1;
  for (int32_t axis = 1; axis < input.rank; ++axis) wanted *= input.shape[axis];
  if (perExample == wanted) {
    scaled.shape.assign(input.shape, input.shape + input.rank);
    scaled.shape[0] = examples;
  } else {
    scaled.shape = images.shape;
  }
  return scaled;
}

Outcome loadText(const std::string &path, int64_t classes, DataSet &data) {
  std::vector<const KilnTensorInfo *> &arguments = data.training.arguments;
  bool fits = arguments.size() == 2 && arguments[0]->role == KILN_ROLE_INPUT && arguments[1]->role == KILN_ROLE_LABEL;
  for (const KilnTensorInfo *argument : arguments)
    fits &= argument->dtype == KILN_I32 && argument->rank == 2 && argument->shape[1] == arguments[0]->shape[1];
  if (!fits)
    return dataError(fmt::format("{} is text, which feeds a model with one input and one label, both i32[B, T] "
                                 "(characters and the characters after them); this one has {}",
                                 path,
                                 fmt::join(data.training.arguments | std::views::transform([](auto *argument) {
                                             return fmt::format("%{}: {}", argument->name, typeText(*argument));
                                           }),
                                           ", ")));
  npy::Result<std::string> text = npy::readFileBytes(path, "a text file");
  if (!text) return dataError(text.error());
  int64_t length = arguments[0]->shape[1];
  auto count = int64_t(text->size() > 0 ? (text->size() - 1) / size_t(length) : 0);
  for (int part = 0; part < 2; ++part) {
    npy::Array array;
    array.type = npy::ElementType::I32;
    array.shape = {count, length};
    array.data.resize(size_t(count * length) * 4);
    auto *tokens = reinterpret_cast<int32_t *>(array.data.data());
    for (int64_t i = 0; i < count * length; ++i) {
      auto byte = static_cast<unsigned char>((*text)[size_t(i + part)]);
      if (classes > 0 && byte >= classes)
        return dataError(fmt::format("{}: byte {} (at offset {}) is outside the model's {} tokens [0, {})", path,
                                     int(byte), i + part, classes, classes));
      tokens[i] = byte;
    }
    data.training.arrays.push_back(std::move(array));
  }
  data.training.count = count;
  data.test.arguments.clear();
  data.ordered = true;
  return std::nullopt;
}

Outcome generateReversal(const std::string &path, int64_t seed, DataSet &data) {
  std::vector<const KilnTensorInfo *> &arguments = data.training.arguments;
  bool fits = arguments.size() == 3 && arguments[0]->role == KILN_ROLE_INPUT && arguments[1]->role == KILN_ROLE_INPUT &&
              arguments[2]->role == KILN_ROLE_LABEL;
  for (const KilnTensorInfo *argument : arguments)
    fits &= argument->dtype == KILN_I32 && argument->rank == 2 && argument->shape[1] == arguments[0]->shape[1];
  if (!fits)
    return dataError(fmt::format("{} feeds a model with inputs source and target and a label, each i32[B, S] of one "
                                 "length S",
                                 path));
  int64_t length = arguments[0]->shape[1];
  constexpr int32_t kStartToken = 1;
  Examples *splits[2] = {&data.training, &data.test};
  const int64_t counts[2] = {16384, 1024};
  for (int split = 0; split < 2; ++split) {
    int64_t count = counts[split];
    std::vector<std::vector<int32_t>> parts(3, std::vector<int32_t>(size_t(count * length)));
    // Each split and example draws from its own stream of the seed.
    int64_t key = int64_t(uint64_t(seed) * 0x9E3779B97F4A7C15ull ^ uint64_t(0x5EED0000 + split));
    for (int64_t example = 0; example < count; ++example)
      for (int64_t position = 0; position < length; ++position) {
        auto digit = int32_t('0' + int32_t(random::uniform(key, example * length + position) * 10));
        size_t at = size_t(example * length);
        parts[0][at + size_t(position)] = digit;
        parts[2][at + size_t(length - 1 - position)] = digit;
      }
    for (int64_t example = 0; example < count; ++example) {
      size_t at = size_t(example * length);
      parts[1][at] = kStartToken;
      for (int64_t position = 1; position < length; ++position)
        parts[1][at + size_t(position)] = parts[2][at + size_t(position - 1)];
    }
    for (std::vector<int32_t> &values : parts) {
      npy::Array array;
      array.type = npy::ElementType::I32;
      array.shape = {count, length};
      array.data.resize(values.size() * 4);
      std::memcpy(array.data.data(), values.data(), array.data.size());
      splits[split]->arrays.push_back(std::move(array));
    }
    splits[split]->count = count;
  }
  return std::nullopt;
}

Outcome loadIdxFolder(const std::string &path, int64_t classes, DataSet &data) {
  std::vector<const KilnTensorInfo *> &arguments = data.training.arguments;
  if (arguments.size() != 2 || arguments[0]->role != KILN_ROLE_INPUT || arguments[1]->role != KILN_ROLE_LABEL)
    return dataError(fmt::format("{} is a folder of IDX files (images and labels), which feeds a model with one "
                                 "input and one label; this one has {}",
                                 path, arguments.size()));
  const char *stems[2][2] = {{"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
                             {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}};
  Examples *splits[2] = {&data.training, &data.test};
  for (int split = 0; split < 2; ++split) {
    std::vector<std::string> what;
    for (int part = 0; part < 2; ++part) {
      npy::Result<npy::Array> array = readIdx(path, stems[split][part]);
      if (!array) return dataError(array.error());
      splits[split]->arrays.push_back(part == 0 ? imagesAsFloats(std::move(*array), *arguments[0]) : std::move(*array));
      what.push_back((std::filesystem::path(path) / stems[split][part]).string());
    }
    if (Outcome failure = finishSplit(*splits[split], classes, what)) return failure;
  }
  return std::nullopt;
}
}  // namespace

Outcome loadDataSet(const std::string &path, const KilnFunctionInfo &step, int64_t classes, int64_t seed,
                    DataSet &data) {
  for (int32_t i = 0; i < step.argumentCount; ++i)
    if (step.arguments[i].role == KILN_ROLE_INPUT || step.arguments[i].role == KILN_ROLE_LABEL)
      data.training.arguments.push_back(&step.arguments[i]);
  data.test.arguments = data.training.arguments;
  if (path == "generated:reverse") return generateReversal(path, seed, data);
  if (path.starts_with("generated:"))
    return dataError(fmt::format("{}: no such generated data (there is generated:reverse)", path));
  std::error_code status;
  if (std::filesystem::is_directory(path, status)) return loadIdxFolder(path, classes, data);
  if (!std::filesystem::exists(path, status))
    return dataError(fmt::format("{}: no such file (give the data with --data FILE)", path));
  if (path.ends_with(".txt")) return loadText(path, classes, data);
  return loadNpz(path, classes, data);
}

std::vector<int64_t> shuffled(int64_t count, int64_t seed, int64_t stream) {
  auto order = std::vector<int64_t>(size_t(count));
  for (int64_t i = 0; i < count; ++i) order[size_t(i)] = i;
  // The key mixes the seed and the stream (an epoch) so that every epoch has its own order.
  int64_t key = int64_t(uint64_t(seed) * 0x9E3779B97F4A7C15ull ^ uint64_t(stream + 1));
  for (int64_t i = count - 1; i > 0; --i) {
    auto j = int64_t(random::uniform(key, i) * double(i + 1));
    std::swap(order[size_t(i)], order[size_t(std::min(j, i))]);
  }
  return order;
}

void gatherBatch(const Examples &examples, const std::vector<int64_t> &indices, std::vector<npy::Array> &batch) {
  for (size_t k = 0; k < examples.arrays.size(); ++k) {
    const npy::Array &source = examples.arrays[k];
    size_t rowBytes = source.data.size() / size_t(source.shape[0]);
    for (size_t row = 0; row < indices.size(); ++row)
      std::memcpy(batch[k].data.data() + row * rowBytes, source.data.data() + size_t(indices[row]) * rowBytes,
                  rowBytes);
  }
}

}  // namespace kiln::program
