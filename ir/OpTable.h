// The op table's C++ face: the OpKind enum and one OpInfo per row of Ops.def.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <llvm/Support/Error.h>

#include "ir/Attributes.h"
#include "ir/Types.h"

namespace kiln {

enum class OpKind {
#define KILN_OP(Enum, ...) Enum,
#include "ir/Ops.def"
};

// The number of rows of Ops.def, for tables of rules indexed by OpKind.
inline constexpr size_t kOpCount = 0
#define KILN_OP(...) +1
#include "ir/Ops.def"
    ;

inline constexpr int kVariadic = -1;  // one or more operands
inline constexpr int kAnyCount = -2;  // zero or more operands

// How lowering and fusion treat an op; Ops.def's header says what each class means.
enum class OpClass { Elementwise, IndexMap, Reduction, Contraction, Window, Creation, Random, Opaque };
std::string_view opClassName(OpClass opClass);

// Properties of an op that passes ask about, as bits. copies(i) and indexes(i) cover operands 0..7.
using OpTraits = uint32_t;
inline constexpr OpTraits kNoTraits = 0;
inline constexpr OpTraits kCommutative = 1u << 0;
inline constexpr OpTraits kCopiesEveryOperand = 1u << 1;
// Each element costs a maths-library call or a long polynomial (exp, tanh, erf...): fusion does
// not recompute such an op in each of several readers.
inline constexpr OpTraits kCostly = 1u << 2;
// The op's result is written tile by tile by the matrix-product template (a matmul; a conv2d, one
// image's product at a time), so that an elementwise epilogue can run on each finished tile while
// it is in cache: fusion merges the op with its one elementwise reader (ir/EpilogueAnalysis.h).
inline constexpr OpTraits kTakesEpilogue = 1u << 3;
constexpr OpTraits copies(unsigned operand) { return 1u << (8 + operand); }
constexpr OpTraits indexes(unsigned operand) { return 1u << (16 + operand); }

struct AttrSpec {
  AttrSpec(std::string_view name, AttrKind kind) : name(name), kind(kind) {}
  AttrSpec(std::string_view name, AttrKind kind, AttrValue defaultValue)
      : name(name), kind(kind), defaultValue(std::move(defaultValue)) {}

  std::string_view name;
  AttrKind kind;
  std::optional<AttrValue> defaultValue;  // nullopt: the attribute is required
};

// What a result-type rule sees. `declared` is the result type written in the IR, when there
// is one; rules for ops whose result cannot be derived (reshape, constant, cast...) need it.
// `allDeclared` holds every declared result type, for the one op of several results (call).
struct TypeRuleInput {
  std::span<const TensorType> operands;
  const Attributes &attributes;
  std::optional<TensorType> declared;
  std::span<const TensorType> allDeclared;
};
using TensorTypes = std::vector<TensorType>;
// A row's rule gives every result type; the single-result rules of TypeRules.h are adapted.
using TypeRule = llvm::Expected<TensorTypes> (*)(const TypeRuleInput &);

struct OpInfo {
  OpKind kind;
  std::string_view name;
  int operandCount;  // or kVariadic, kAnyCount
  TypeRule resultTypes;
  OpClass opClass;
  OpTraits traits;
  std::string_view summary;
  std::vector<AttrSpec> attributes;

  const AttrSpec *findAttribute(std::string_view attributeName) const;
  bool has(OpTraits trait) const { return (traits & trait) == trait; }
  bool isCommutative() const { return has(kCommutative); }
  // Whether the result holds elements of operand `index` unchanged (views, select's branches).
  bool copiesOperand(size_t index) const { return has(kCopiesEveryOperand) || (index < 8 && has(copies(index))); }
  // Whether operand `index` holds integer indices into a dimension (gather, scatter, one_hot).
  bool indexesWith(size_t index) const { return index < 8 && has(indexes(index)); }
  // "2", "1+", "0+": the operand count as the listing and error messages write it.
  std::string operandCountText() const;
  // Fails with `'add' takes 2 operands, not 3` when `count` does not fit the row.
  llvm::Error checkOperandCount(size_t count) const;
};

const OpInfo &opInfo(OpKind kind);
std::span<const OpInfo> allOps();
std::optional<OpKind> lookupOp(std::string_view name);
inline std::string_view opName(OpKind kind) { return opInfo(kind).name; }

// The axes a reduction's `axes` attribute names: all of them when it is empty (Ops.def). The
// axes are valid ones (the type rule checks them).
Ints reducedAxes(const Ints &axes, int64_t rank);
// The same as one flag per axis of the operand.
std::vector<bool> reducedAxisMask(const Ints &axes, int64_t rank);

// Puts written attributes into the row's order, fills defaults and checks names and kinds.
// `elementType` is the result dtype, which decides how a constant's elements are stored.
llvm::Expected<Attributes> completeAttributes(const OpInfo &info, const std::vector<NamedAttribute> &written,
                                              DType elementType);

// Infers and checks an op's result types from its row's rule; `declared` are the types written
// in the IR (empty when none are).
llvm::Expected<TensorTypes> inferResultTypes(OpKind kind, std::span<const TensorType> operands,
                                             const Attributes &attributes, std::span<const TensorType> declared);
// The same for an op of one result.
llvm::Expected<TensorType> inferResultType(OpKind kind, std::span<const TensorType> operands,
                                           const Attributes &attributes, std::optional<TensorType> declared);

}  // namespace kiln
