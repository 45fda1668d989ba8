// Attribute values: formatting that reads back exactly, and coercion to the expected kind.
#include "ir/Attributes.h"

#include <cassert>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <range/v3/algorithm/find_if.hpp>

namespace kiln {

std::string_view attrKindName(AttrKind kind) {
  switch (kind) {
  case AttrKind::Int: return "integer";
  case AttrKind::Float: return "float";
  case AttrKind::Bool: return "boolean";
  case AttrKind::Ints: return "list of integers";
  case AttrKind::Floats: return "list of floats";
  case AttrKind::Elements: return "number or list of numbers";
  case AttrKind::Symbol: return "function name";
  }
  return "?";
}

std::string formatFloat(double value, DType precision) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  std::string text = precision == DType::F32 ? fmt::format("{}", static_cast<float>(value)) : fmt::format("{}", value);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

std::string toString(const AttrValue &value, DType precision) {
  struct Formatter {
    DType precision;
    std::string operator()(int64_t v) const { return fmt::format("{}", v); }
    std::string operator()(double v) const { return formatFloat(v, precision); }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(const Ints &v) const { return fmt::format("[{}]", fmt::join(v, ", ")); }
    std::string operator()(const Floats &v) const {
      std::vector<std::string> parts;
      parts.reserve(v.size());
      for (double element : v) parts.push_back(formatFloat(element, precision));
      return fmt::format("[{}]", fmt::join(parts, ", "));
    }
    std::string operator()(const Symbol &v) const { return "@" + v.name; }
  };
  return std::visit(Formatter{precision}, value);
}

namespace {
std::optional<Floats> asFloats(const AttrValue &value) {
  if (const auto *floats = std::get_if<Floats>(&value)) return *floats;
  if (const auto *ints = std::get_if<Ints>(&value)) return Floats(ints->begin(), ints->end());
  return std::nullopt;
}

bool isWhole(double value) { return std::isfinite(value) && value == std::trunc(value) && std::fabs(value) < 9.0e18; }

std::optional<Ints> asInts(const AttrValue &value) {
  if (const auto *ints = std::get_if<Ints>(&value)) return *ints;
  return std::nullopt;
}

// F32 elements become the f32 values a tensor holds. One beyond f32's range is left as it is,
// for the constant's type rule to refuse with its value in the message.
Floats roundedTo(DType dtype, Floats elements) {
  if (dtype != DType::F32) return elements;
  for (double &element : elements) {
    float rounded = static_cast<float>(element);
    if (!std::isinf(rounded) || std::isinf(element)) element = rounded;
  }
  return elements;
}
}  // namespace

std::optional<AttrValue> coerceAttribute(AttrKind kind, const AttrValue &value, DType elementType) {
  switch (kind) {
  case AttrKind::Int:
    if (std::holds_alternative<int64_t>(value)) return value;
    return std::nullopt;
  case AttrKind::Float:
    if (const auto *integer = std::get_if<int64_t>(&value)) return static_cast<double>(*integer);
    if (std::holds_alternative<double>(value)) return value;
    return std::nullopt;
  case AttrKind::Bool:
    if (std::holds_alternative<bool>(value)) return value;
    return std::nullopt;
  case AttrKind::Ints:
    if (auto ints = asInts(value)) return *ints;
    return std::nullopt;
  case AttrKind::Floats:
    if (auto floats = asFloats(value)) return *floats;
    return std::nullopt;
  case AttrKind::Symbol:
    if (std::holds_alternative<Symbol>(value)) return value;
    return std::nullopt;
  case AttrKind::Elements: {
    // A scalar is a splat: stored as a list of one.
    AttrValue list = value;
    if (const auto *integer = std::get_if<int64_t>(&value))
      list = Ints{*integer};
    else if (const auto *real = std::get_if<double>(&value))
      list = Floats{*real};
    else if (const auto *boolean = std::get_if<bool>(&value))
      list = Ints{*boolean ? 1 : 0};
    if (isFloat(elementType)) {
      if (auto floats = asFloats(list)) return roundedTo(elementType, std::move(*floats));
      return std::nullopt;
    }
    if (auto ints = asInts(list)) return *ints;
    // Integers written as floats (`2.0`) are accepted when they are whole.
    if (const auto *floats = std::get_if<Floats>(&list)) {
      Ints whole;
      for (double element : *floats) {
        if (!isWhole(element)) return std::nullopt;
        whole.push_back(static_cast<int64_t>(element));
      }
      return whole;
    }
    return std::nullopt;
  }
  }
  return std::nullopt;
}

const AttrValue *Attributes::find(std::string_view name) const {
  auto it = ranges::find_if(entries_, [&](const NamedAttribute &entry) { return entry.name == name; });
  return it == entries_.end() ? nullptr : &it->value;
}

void Attributes::set(std::string_view name, AttrValue value) {
  auto it = ranges::find_if(entries_, [&](const NamedAttribute &entry) { return entry.name == name; });
  if (it != entries_.end())
    it->value = std::move(value);
  else
    entries_.push_back({std::string(name), std::move(value)});
}

const AttrValue &Attributes::get(std::string_view name) const {
  const AttrValue *value = find(name);
  assert(value && "attribute missing: the op table's schema guarantees it is set");
  return *value;
}

}  // namespace kiln
