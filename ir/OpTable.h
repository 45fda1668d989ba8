// The op table's C++ face: the OpKind enum and one OpInfo per row of Ops.def.
#pragma once

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

inline constexpr int kVariadic = -1;

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
struct TypeRuleInput {
  std::span<const TensorType> operands;
  const Attributes &attributes;
  std::optional<TensorType> declared;
};
using TypeRule = llvm::Expected<TensorType> (*)(const TypeRuleInput &);

struct OpInfo {
  OpKind kind;
  std::string_view name;
  int operandCount;  // or kVariadic: one or more
  TypeRule resultType;
  std::string_view summary;
  std::vector<AttrSpec> attributes;

  const AttrSpec *findAttribute(std::string_view attributeName) const;
};

const OpInfo &opInfo(OpKind kind);
std::span<const OpInfo> allOps();
std::optional<OpKind> lookupOp(std::string_view name);
inline std::string_view opName(OpKind kind) { return opInfo(kind).name; }

// Puts written attributes into the row's order, fills defaults and checks names and kinds.
// `elementType` is the result dtype, which decides how a constant's elements are stored.
llvm::Expected<Attributes> completeAttributes(const OpInfo &info, const std::vector<NamedAttribute> &written,
                                              DType elementType);

// Infers and checks an op's result type from its row's rule.
llvm::Expected<TensorType> inferResultType(OpKind kind, std::span<const TensorType> operands,
                                           const Attributes &attributes, std::optional<TensorType> declared);

}  // namespace kiln
