// Builds the OpInfo rows from Ops.def and checks attributes and result types against them.
#include "ir/OpTable.h"

#include <fmt/format.h>
#include <llvm/ADT/StringMap.h>
#include <range/v3/algorithm/find_if.hpp>

#include "ir/TypeRules.h"

namespace kiln {

namespace {
std::string withArticle(std::string_view noun) {
  bool vowel = !noun.empty() && std::string_view("aeiou").find(noun.front()) != std::string_view::npos;
  return fmt::format("{} {}", vowel ? "an" : "a", noun);
}

const std::vector<OpInfo> &table() {
  using namespace type_rules;
  static const std::vector<OpInfo> rows = {
#define KILN_OP(Enum, mnemonic, operands, rule, summary, ...) \
  OpInfo{OpKind::Enum, mnemonic, operands, &rule, summary, {__VA_ARGS__}},
#include "ir/Ops.def"
  };
  return rows;
}
}  // namespace

const AttrSpec *OpInfo::findAttribute(std::string_view attributeName) const {
  auto it = ranges::find_if(attributes, [&](const AttrSpec &spec) { return spec.name == attributeName; });
  return it == attributes.end() ? nullptr : &*it;
}

const OpInfo &opInfo(OpKind kind) { return table()[static_cast<size_t>(kind)]; }
std::span<const OpInfo> allOps() { return table(); }

std::optional<OpKind> lookupOp(std::string_view name) {
  static const llvm::StringMap<OpKind> byName = [] {
    llvm::StringMap<OpKind> map;
    for (const OpInfo &info : table()) map[info.name] = info.kind;
    return map;
  }();
  auto it = byName.find(name);
  if (it == byName.end()) return std::nullopt;
  return it->second;
}

llvm::Expected<Attributes> completeAttributes(const OpInfo &info, const std::vector<NamedAttribute> &written,
                                              DType elementType) {
  for (const NamedAttribute &attribute : written)
    if (!info.findAttribute(attribute.name))
      return llvm::createStringError(fmt::format("'{}' has no attribute '{}'", info.name, attribute.name));
  for (size_t i = 0; i < written.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (written[i].name == written[j].name)
        return llvm::createStringError(fmt::format("attribute '{}' given twice", written[i].name));

  Attributes complete;
  for (const AttrSpec &spec : info.attributes) {
    auto it = ranges::find_if(written, [&](const NamedAttribute &attribute) { return attribute.name == spec.name; });
    if (it == written.end()) {
      if (!spec.defaultValue)
        return llvm::createStringError(fmt::format("'{}' needs attribute '{}' ({})", info.name, spec.name, attrKindName(spec.kind)));
      complete.set(spec.name, *spec.defaultValue);
      continue;
    }
    std::optional<AttrValue> coerced = coerceAttribute(spec.kind, it->value, elementType);
    if (!coerced && spec.kind == AttrKind::Elements)
      return llvm::createStringError(fmt::format("attribute '{}' of '{}' must hold {} elements, not {}", spec.name, info.name,
                               dtypeName(elementType), toString(it->value)));
    if (!coerced)
      return llvm::createStringError(fmt::format("attribute '{}' of '{}' must be {}, not {}", spec.name, info.name,
                               withArticle(attrKindName(spec.kind)), toString(it->value)));
    complete.set(spec.name, std::move(*coerced));
  }
  return complete;
}

llvm::Expected<TensorType> inferResultType(OpKind kind, std::span<const TensorType> operands,
                                           const Attributes &attributes, std::optional<TensorType> declared) {
  const OpInfo &info = opInfo(kind);
  bool countOk = info.operandCount == kVariadic ? !operands.empty()
                                                : operands.size() == static_cast<size_t>(info.operandCount);
  if (!countOk) {
    std::string expected = info.operandCount == kVariadic ? "one or more" : std::to_string(info.operandCount);
    return llvm::createStringError(fmt::format("'{}' takes {} operand{}, not {}", info.name, expected,
                             info.operandCount == 1 ? "" : "s", operands.size()));
  }
  auto result = info.resultType(TypeRuleInput{operands, attributes, std::move(declared)});
  if (result && !result->checkedElementCount())
    return llvm::createStringError(fmt::format("the result {} would have more than 2^40 elements", toString(*result)));
  return result;
}

}  // namespace kiln
