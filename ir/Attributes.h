// Op attributes: typed compile-time values (axis, perm, alpha, constant elements, ...).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "ir/Types.h"

namespace kiln {

using Ints = std::vector<int64_t>;
using Floats = std::vector<double>;
// A reference to a function of the module by name, `@name` in the text (a call's callee).
struct Symbol {
  std::string name;
  bool operator==(const Symbol &) const = default;
};
using AttrValue = std::variant<int64_t, double, bool, Ints, Floats, Symbol>;

// What an attribute holds. `Elements` is the payload of a constant: integers for integer and
// boolean tensors, floats for float tensors, one value (a splat) or one per element.
enum class AttrKind { Int, Float, Bool, Ints, Floats, Elements, Symbol };

std::string_view attrKindName(AttrKind kind);

// Shortest decimal that reads back to the same value in `precision` (f32 or f64), always
// recognisable as a float.
std::string formatFloat(double value, DType precision = DType::F64);
// Floats in `precision`: a constant's f32 elements print as the f32 values they are.
std::string toString(const AttrValue &value, DType precision = DType::F64);

// Converts a parsed literal to the kind an attribute expects (an integer where a float is
// expected, say); nullopt when it cannot be. `elementType` decides what `Elements` holds; f32
// elements are rounded to f32. Whether the elements fit the dtype is the constant's type rule.
std::optional<AttrValue> coerceAttribute(AttrKind kind, const AttrValue &value, DType elementType);

struct NamedAttribute {
  std::string name;
  AttrValue value;
  bool operator==(const NamedAttribute &) const = default;
};

// Attributes of one op, in the order of its table row, defaults filled in.
class Attributes {
public:
  const AttrValue *find(std::string_view name) const;
  void set(std::string_view name, AttrValue value);

  int64_t getInt(std::string_view name) const { return std::get<int64_t>(get(name)); }
  double getFloat(std::string_view name) const { return std::get<double>(get(name)); }
  bool getBool(std::string_view name) const { return std::get<bool>(get(name)); }
  const Ints &getInts(std::string_view name) const { return std::get<Ints>(get(name)); }
  const std::string &getSymbol(std::string_view name) const { return std::get<Symbol>(get(name)).name; }

  const std::vector<NamedAttribute> &entries() const { return entries_; }
  bool operator==(const Attributes &) const = default;

private:
  const AttrValue &get(std::string_view name) const;
  std::vector<NamedAttribute> entries_;
};

}  // namespace kiln
