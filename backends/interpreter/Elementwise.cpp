// Interpreter rules of the elementwise ops: unary maths, binary arithmetic and comparisons
// with NumPy broadcasting, and select. Each dtype is computed in its own C++ type (f32 in
// float); signed integer arithmetic wraps around instead of overflowing into undefined behaviour.
#include <cmath>
#include <concepts>
#include <limits>
#include <numbers>
#include <type_traits>

#include "backends/interpreter/Rules.h"

namespace kiln::interpreter {

namespace {

template <typename T> constexpr bool kIsSignedInteger = std::is_integral_v<T> &&std::is_signed_v<T>;

// Two's-complement wrap-around: computed in the unsigned type, where overflow is defined.
template <typename T> T wrap(std::make_unsigned_t<T> value) { return static_cast<T>(value); }
template <typename T> using Unsigned = std::make_unsigned_t<T>;

// --- Unary functors: operator()(x, attributes). Float-only ones take std::floating_point. ---

struct Negate {
  template <typename T> T operator()(T x, const Attributes &) const {
    if constexpr (kIsSignedInteger<T>)
      return wrap<T>(Unsigned<T>(0) - Unsigned<T>(x));
    else
      return -x;
  }
};
struct Absolute {
  template <typename T> T operator()(T x, const Attributes &attributes) const {
    return x < 0 ? Negate{}(x, attributes) : x;
  }
};
struct Sign {
  template <typename T> T operator()(T x, const Attributes &) const {
    if constexpr (std::is_floating_point_v<T>)
      if (std::isnan(x)) return x;
    return static_cast<T>((x > 0) - (x < 0));
  }
};
struct Square {
  template <typename T> T operator()(T x, const Attributes &) const {
    if constexpr (kIsSignedInteger<T>)
      return wrap<T>(Unsigned<T>(x) * Unsigned<T>(x));
    else
      return x * x;
  }
};
struct Relu {
  // NaN stays NaN, as max(NaN, 0) propagates it.
  template <typename T> T operator()(T x, const Attributes &) const { return x < 0 ? T(0) : x; }
};
struct LeakyRelu {
  template <std::floating_point T> T operator()(T x, const Attributes &attributes) const {
    return x > 0 ? x : static_cast<T>(attributes.getFloat("alpha")) * x;
  }
};
struct Exp {
  template <std::floating_point T> T operator()(T x, const Attributes &) const { return std::exp(x); }
};
struct Log {
  template <std::floating_point T> T operator()(T x, const Attributes &) const { return std::log(x); }
};
struct Log1p {
  template <std::floating_point T> T operator()(T x, const Attributes &) const { return std::log1p(x); }
};
struct Sqrt {
  template <std::floating_point T> T operator()(T x, const Attributes &) const { return std::sqrt(x); }
};
struct Rsqrt {
  template <std::floating_point T> T operator()(T x, const Attributes &) const { return T(1) / std::sqrt(x); }
};
struct Reciprocal {
  template <std::floating_point T> T operator()(T x, const Attributes &) const { return T(1) / x; }
};
struct Tanh {
  template <std::floating_point T> T operator()(T x, const Attributes &) const { return std::tanh(x); }
};
struct Sigmoid {
  // 1 / (1 + e^-x) = e^x / (1 + e^x): the form whose exponent is never positive cannot overflow.
  template <std::floating_point T> T operator()(T x, const Attributes &) const {
    if (x >= 0) return T(1) / (T(1) + std::exp(-x));
    T e = std::exp(x);
    return e / (T(1) + e);
  }
};
struct Gelu {
  // gelu(x) = x * Phi(x) = x/2 * (1 + erf(x / sqrt(2)))
  template <std::floating_point T> T operator()(T x, const Attributes &) const {
    return T(0.5) * x * (T(1) + std::erf(x / std::numbers::sqrt2_v<T>));
  }
};
struct Erf {
  template <std::floating_point T> T operator()(T x, const Attributes &) const { return std::erf(x); }
};
struct Sin {
  template <std::floating_point T> T operator()(T x, const Attributes &) const { return std::sin(x); }
};
struct Cos {
  template <std::floating_point T> T operator()(T x, const Attributes &) const { return std::cos(x); }
};

template <typename Function> llvm::Expected<Tensor> unaryRule(const Operation &op, std::span<const Tensor> operands) {
  const Tensor &input = operands[0];
  Tensor result(op.result()->type());
  llvm::Error error = visitDType(input.dtype(), [&](auto zero) -> llvm::Error {
    using T = decltype(zero);
    if constexpr (std::is_invocable_v<Function, T, const Attributes &> && !std::is_same_v<T, uint8_t>) {
      std::span<const T> in = input.values<T>();
      std::span<T> out = result.values<T>();
      for (size_t i = 0; i < in.size(); ++i) out[i] = Function{}(in[i], op.attributes());
      return llvm::Error::success();
    } else {
      return llvm::createStringError(fmt::format("no rule for {}", toString(input.type())));
    }
  });
  if (error) return error;
  return result;
}

// --- Binary functors: operator()(a, b) gives T, or bool for comparisons. ---

struct Add {
  template <typename T> T operator()(T a, T b) const {
    if constexpr (kIsSignedInteger<T>)
      return wrap<T>(Unsigned<T>(a) + Unsigned<T>(b));
    else
      return a + b;
  }
};
struct Subtract {
  template <typename T> T operator()(T a, T b) const {
    if constexpr (kIsSignedInteger<T>)
      return wrap<T>(Unsigned<T>(a) - Unsigned<T>(b));
    else
      return a - b;
  }
};
struct Multiply {
  template <typename T> T operator()(T a, T b) const {
    if constexpr (kIsSignedInteger<T>)
      return wrap<T>(Unsigned<T>(a) * Unsigned<T>(b));
    else
      return a * b;
  }
};
struct Divide {
  // Integer division truncates; divisors of zero are refused before this runs. The one
  // overflowing quotient, min / -1, wraps to min instead of trapping.
  template <typename T> T operator()(T a, T b) const {
    if constexpr (kIsSignedInteger<T>)
      return b == -1 ? Negate{}(a, Attributes{}) : a / b;
    else
      return a / b;
  }
};
struct Power {
  template <std::floating_point T> T operator()(T a, T b) const { return std::pow(a, b); }
};
struct Maximum {
  // NaN wins, as in NumPy's maximum.
  template <typename T> T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>)
      if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
    return a < b ? b : a;
  }
};
struct Minimum {
  template <typename T> T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>)
      if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
    return b < a ? b : a;
  }
};
struct Equal {
  template <typename T> bool operator()(T a, T b) const { return a == b; }
};
struct NotEqual {
  template <typename T> bool operator()(T a, T b) const { return a != b; }
};
struct Less {
  template <typename T> bool operator()(T a, T b) const { return a < b; }
};
struct LessOrEqual {
  template <typename T> bool operator()(T a, T b) const { return a <= b; }
};
struct Greater {
  template <typename T> bool operator()(T a, T b) const { return a > b; }
};
struct GreaterOrEqual {
  template <typename T> bool operator()(T a, T b) const { return a >= b; }
};

template <typename T> llvm::Error checkNoZeroDivisor(const Tensor &divisor) {
  if constexpr (std::is_integral_v<T>) {
    std::span<const T> values = divisor.values<T>();
    for (size_t i = 0; i < values.size(); ++i)
      if (values[i] == 0)
        return llvm::createStringError(
            fmt::format("integer division by zero (element {} of the divisor {})", i, toString(divisor.type())));
  }
  return llvm::Error::success();
}

template <typename Function, bool kComparison = false>
llvm::Expected<Tensor> binaryRule(const Operation &op, std::span<const Tensor> operands) {
  const Tensor &lhs = operands[0];
  const Tensor &rhs = operands[1];
  Tensor result(op.result()->type());
  const Shape &shape = result.shape();
  llvm::Error error = visitDType(lhs.dtype(), [&](auto zero) -> llvm::Error {
    using T = decltype(zero);
    if constexpr (std::is_invocable_v<Function, T, T> && (kComparison || !std::is_same_v<T, uint8_t>)) {
      if constexpr (std::is_same_v<Function, Divide>)
        if (auto divisorError = checkNoZeroDivisor<T>(rhs)) return divisorError;
      using Out = std::conditional_t<kComparison, uint8_t, T>;
      std::span<const T> a = lhs.values<T>();
      std::span<const T> b = rhs.values<T>();
      std::span<Out> out = result.values<Out>();
      int64_t flat = 0;
      forEachIndex<2>(
          shape, {broadcastStrides(lhs.shape(), shape), broadcastStrides(rhs.shape(), shape)},
          [&](const std::array<int64_t, 2> &at) { out[flat++] = static_cast<Out>(Function{}(a[at[0]], b[at[1]])); });
      return llvm::Error::success();
    } else {
      return llvm::createStringError(fmt::format("no rule for {}", toString(lhs.type())));
    }
  });
  if (error) return error;
  return result;
}

// select(cond, a, b) = cond ? a : b, all three broadcast to the result.
llvm::Expected<Tensor> selectRule(const Operation &op, std::span<const Tensor> operands) {
  Tensor result(op.result()->type());
  const Shape &shape = result.shape();
  visitDType(result.dtype(), [&](auto zero) {
    using T = decltype(zero);
    std::span<const uint8_t> condition = operands[0].values<uint8_t>();
    std::span<const T> whenTrue = operands[1].values<T>();
    std::span<const T> whenFalse = operands[2].values<T>();
    std::span<T> out = result.values<T>();
    int64_t flat = 0;
    forEachIndex<3>(
        shape,
        {broadcastStrides(operands[0].shape(), shape), broadcastStrides(operands[1].shape(), shape),
         broadcastStrides(operands[2].shape(), shape)},
        [&](const std::array<int64_t, 3> &at) { out[flat++] = condition[at[0]] ? whenTrue[at[1]] : whenFalse[at[2]]; });
  });
  return result;
}

const RuleEntry kRules[] = {
    {OpKind::Neg, unaryRule<Negate>},
    {OpKind::Abs, unaryRule<Absolute>},
    {OpKind::Sign, unaryRule<Sign>},
    {OpKind::Square, unaryRule<Square>},
    {OpKind::Relu, unaryRule<Relu>},
    {OpKind::LeakyRelu, unaryRule<LeakyRelu>},
    {OpKind::Exp, unaryRule<Exp>},
    {OpKind::Log, unaryRule<Log>},
    {OpKind::Log1p, unaryRule<Log1p>},
    {OpKind::Sqrt, unaryRule<Sqrt>},
    {OpKind::Rsqrt, unaryRule<Rsqrt>},
    {OpKind::Reciprocal, unaryRule<Reciprocal>},
    {OpKind::Tanh, unaryRule<Tanh>},
    {OpKind::Sigmoid, unaryRule<Sigmoid>},
    {OpKind::Gelu, unaryRule<Gelu>},
    {OpKind::Erf, unaryRule<Erf>},
    {OpKind::Sin, unaryRule<Sin>},
    {OpKind::Cos, unaryRule<Cos>},
    {OpKind::Add, binaryRule<Add>},
    {OpKind::Sub, binaryRule<Subtract>},
    {OpKind::Mul, binaryRule<Multiply>},
    {OpKind::Div, binaryRule<Divide>},
    {OpKind::Pow, binaryRule<Power>},
    {OpKind::Maximum, binaryRule<Maximum>},
    {OpKind::Minimum, binaryRule<Minimum>},
    {OpKind::Eq, binaryRule<Equal, true>},
    {OpKind::Ne, binaryRule<NotEqual, true>},
    {OpKind::Lt, binaryRule<Less, true>},
    {OpKind::Le, binaryRule<LessOrEqual, true>},
    {OpKind::Gt, binaryRule<Greater, true>},
    {OpKind::Ge, binaryRule<GreaterOrEqual, true>},
    {OpKind::Select, selectRule},
};
}  // namespace

std::span<const RuleEntry> elementwiseRules() { return kRules; }

}  // namespace kiln::interpreter
