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

// Rows name either a rule of several results (call's) or, for every other op, a rule of one.
template <auto Rule> llvm::Expected<TensorTypes> resultTypesOf(const TypeRuleInput &input) {
  if constexpr (std::is_same_v<decltype(Rule(input)), llvm::Expected<TensorTypes>>) {
    return Rule(input);
  } else {
    llvm::Expected<TensorType> type = Rule(input);
    if (!type) return type.takeError();
    return TensorTypes{std::move(*type)};
  }
}

const std::vector<OpInfo> &table() {
  using namespace type_rules;
  static const std::vector<OpInfo> rows = {
#define KILN_OP(Enum, mnemonic, operands, rule, opClass, traits, summary, ...)                                         \
  OpInfo{OpKind::Enum, mnemonic, operands, &resultTypesOf<&rule>, OpClass::opClass, traits, summary, {__VA_ARGS__}},
#include "ir/Ops.def"
  };
  return rows;
}
}  // namespace

std::string_view opClassName(OpClass opClass) {
  switch (opClass) {
  case OpClass::Elementwise: return "elementwise";
  case OpClass::IndexMap: return "index-map";
  case OpClass::Reduction: return "reduction";
  case OpClass::Contraction: return "contraction";
  case OpClass::Window: return "window";
  case OpClass::Creation: return "creation";
  case OpClass::Random: return "random";
  case OpClass::Opaque: return "opaque";
  }
  return "?";
}

std::string OpInfo::operandCountText() const {
  if (operandCount == kVariadic) return "1+";
  if (operandCount == kAnyCount) return "0+";
  return std::to_string(operandCount);
}

llvm::Error OpInfo::checkOperandCount(size_t count) const {
  bool fits = operandCount == kAnyCount || (operandCount == kVariadic ? count > 0 : count == size_t(operandCount));
  if (fits) return llvm::Error::success();
  std::string expected = operandCount == kVariadic ? "one or more" : std::to_string(operandCount);
  return llvm::createStringError(
      fmt::format("'{}' takes {} operand{}, not {}", name, expected, operandCount == 1 ? "" : "s", count));
}

Ints reducedAxes(const Ints &axes, int64_t rank) {
  if (!axes.empty()) return axes;
  Ints all;
  for (int64_t axis = 0; axis < rank; ++axis) all.push_back(axis);
  return all;
}

std::vector<bool> reducedAxisMask(const Ints &axes, int64_t rank) {
  std::vector<bool> reduced(rank, false);
  for (int64_t axis : reducedAxes(axes, rank)) reduced[axis] = true;
  return reduced;
}

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
        return llvm::createStringError(
            fmt::format("'{}' needs attribute '{}' ({})", info.name, spec.name, attrKindName(spec.kind)));
      complete.set(spec.name, *spec.defaultValue);
      continue;
    }
    std::optional<AttrValue> coerced = coerceAttribute(spec.kind, it->value, elementType);
    if (!coerced && spec.kind == AttrKind::Elements)
      return llvm::createStringError(fmt::format("attribute '{}' of '{}' must hold {} elements, not {}", spec.name,
                                                 info.name, dtypeName(elementType), toString(it->value)));
    if (!coerced)
      return llvm::createStringError(fmt::format("attribute '{}' of '{}' must be {}, not {}", spec.name, info.name,
                                                 withArticle(attrKindName(spec.kind)), toString(it->value)));
    complete.set(spec.name, std::move(*coerced));
  }
  return complete;
}

llvm::Expected<TensorTypes> inferResultTypes(OpKind kind, std::span<const TensorType> operands,
                                             const Attributes &attributes, std::span<const TensorType> declared) {
  const OpInfo &info = opInfo(kind);
  if (auto error = info.checkOperandCount(operands.size())) return error;
  std::optional<TensorType> first = declared.empty() ? std::nullopt : std::optional<TensorType>(declared.front());
  auto results = info.resultTypes(TypeRuleInput{operands, attributes, std::move(first), declared});
  if (!results) return results.takeError();
  for (const TensorType &result : *results)
    if (!result.checkedElementCount())
      return llvm::createStringError(fmt::format("the result {} would have more than 2^40 elements", toString(result)));
  return results;
}

llvm::Expected<TensorType> inferResultType(OpKind kind, std::span<const TensorType> operands,
                                           const Attributes &attributes, std::optional<TensorType> declared) {
  std::span<const TensorType> written =
      declared ? std::span<const TensorType>(&*declared, 1) : std::span<const TensorType>();
  auto results = inferResultTypes(kind, operands, attributes, written);
  if (!results) return results.takeError();
  if (results->size() != 1)
    return llvm::createStringError(fmt::format("'{}' gives {} results, not one", opName(kind), results->size()));
  return std::move(results->front());
}

}  // namespace kiln
