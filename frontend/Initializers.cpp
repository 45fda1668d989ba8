// The parameter initializers of `param NAME: T = INITIALIZER(...)`: Glorot (Xavier) and He
// (Kaiming) scaled draws, uniform, normal and constant, each filling the parameter being
// initialized (fans: [in, out] for a matrix, OIHW for a filter).
#include <cmath>

#include "frontend/BuiltinCall.h"

namespace kiln::lang {

namespace {
// Fan-in and fan-out of a weight: [in, out] for a matrix, OIHW for a filter.
std::pair<double, double> fans(const Shape &shape) {
  if (shape.empty()) return {1, 1};
  if (shape.size() == 1) return {double(shape[0]), double(shape[0])};
  if (shape.size() == 2) return {double(shape[0]), double(shape[1])};
  double receptive = 1;
  for (size_t axis = 2; axis < shape.size(); ++axis) receptive *= double(shape[axis]);
  return {double(shape[1]) * receptive, double(shape[0]) * receptive};
}

enum class Distribution { Uniform, Normal };

// Draws the parameter being initialized from uniform(-limit, limit) or normal(0, stddev).
Object randomParameter(BuiltinCall &call, Distribution distribution, double first, double second) {
  const ParameterSlot &parameter = *call.lowerer.initializing;
  if (!call.lowerer.randomKey())
    return call.error(call.where, fmt::format("'{}' draws random numbers, but an optimizer's state starts from fixed "
                                              "values",
                                              call.name));
  if (!isFloat(parameter.type.dtype))
    return call.error(call.where, fmt::format("'{}' draws floats, but '{}' is {}", call.name, parameter.path,
                                              toString(parameter.type)));
  if (distribution == Distribution::Uniform)
    return call.create(OpKind::RandomUniform, {call.lowerer.randomKey()}, {{"low", first}, {"high", second}},
                       parameter.type);
  return call.create(OpKind::RandomNormal, {call.lowerer.randomKey()}, {{"mean", first}, {"stddev", second}},
                     parameter.type);
}

// glorot (Xavier): limit = sqrt(6 / (fan_in + fan_out)), stddev = sqrt(2 / (fan_in + fan_out));
// he (Kaiming): limit = sqrt(6 / fan_in), stddev = sqrt(2 / fan_in).
template <Distribution D, bool He> Object scaledInitializer(BuiltinCall &call) {
  if (!call.bind({}, 0)) return Object::poison();
  auto [fanIn, fanOut] = fans(call.lowerer.initializing->type.shape);
  double denominator = He ? fanIn : fanIn + fanOut;
  if (D == Distribution::Uniform) {
    double limit = std::sqrt(6.0 / denominator);
    return randomParameter(call, D, -limit, limit);
  }
  return randomParameter(call, D, 0.0, std::sqrt(2.0 / denominator));
}

Object uniformInitializer(BuiltinCall &call) {
  if (!call.bind({"low", "high"}, 0)) return Object::poison();
  std::optional<double> low = call.number(0, -0.05), high = call.number(1, 0.05);
  if (!low || !high) return Object::poison();
  return randomParameter(call, Distribution::Uniform, *low, *high);
}

Object normalInitializer(BuiltinCall &call) {
  if (!call.bind({"mean", "stddev"}, 0)) return Object::poison();
  std::optional<double> mean = call.number(0, 0.0), stddev = call.number(1, 0.05);
  if (!mean || !stddev) return Object::poison();
  return randomParameter(call, Distribution::Normal, *mean, *stddev);
}

Object constantInitializer(BuiltinCall &call) {
  if (!call.bind({"value"}, 1)) return Object::poison();
  std::optional<double> value = call.number(0, 0.0);
  if (!value) return Object::poison();
  const TensorType &type = call.lowerer.initializing->type;
  AttrValue elements = isFloat(type.dtype) ? AttrValue(Floats{*value}) : AttrValue(Ints{static_cast<int64_t>(*value)});
  return call.create(OpKind::Constant, {}, {{"value", elements}}, type);
}
}  // namespace

// Initializers make sense only for the `param` being initialized.
const llvm::StringMap<BuiltinHandler> &initializers() {
  static const llvm::StringMap<BuiltinHandler> table = {
      {"glorot_uniform", scaledInitializer<Distribution::Uniform, false>},
      {"xavier_uniform", scaledInitializer<Distribution::Uniform, false>},
      {"glorot_normal", scaledInitializer<Distribution::Normal, false>},
      {"xavier_normal", scaledInitializer<Distribution::Normal, false>},
      {"he_uniform", scaledInitializer<Distribution::Uniform, true>},
      {"kaiming_uniform", scaledInitializer<Distribution::Uniform, true>},
      {"he_normal", scaledInitializer<Distribution::Normal, true>},
      {"kaiming_normal", scaledInitializer<Distribution::Normal, true>},
      {"uniform", uniformInitializer},
      {"normal", normalInitializer},
      {"constant", constantInitializer},
  };
  return table;
}

}  // namespace kiln::lang
