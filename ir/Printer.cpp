// The printer. Values keep their name hints where those are unique in the function and are
// numbered otherwise, so that the text reads like the model and still reads back exactly.
#include "ir/Printer.h"

#include <bit>
#include <unordered_map>

#include <fmt/format.h>
#include <llvm/ADT/StringSet.h>

namespace kiln {

namespace {
bool isNameCharacter(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }

// Numbers are reserved for values without a name, so a hint that is all digits is not used.
bool isNumeral(const std::string &name) {
  return !name.empty() &&
         std::all_of(name.begin(), name.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

class ValueNames {
public:
  // `numbered`: every value is numbered, its hint ignored (structureText).
  explicit ValueNames(bool numbered = false) : numbered_(numbered) {}

  std::string assign(const Value *value, const std::string &fallbackPrefix) {
    std::string base = numbered_ ? std::string() : value->name();
    for (char &c : base)
      if (!isNameCharacter(c)) c = '_';
    if (base.empty() || isNumeral(base)) base = fallbackPrefix.empty() ? "" : fallbackPrefix;
    std::string name;
    if (base.empty()) {
      do name = std::to_string(nextNumber_++);
      while (used_.contains(name));
    } else {
      // Suffixes below the one remembered for `base` are all taken (names are never released),
      // so the search resumes there: printing stays linear when thousands of values share a hint.
      name = base;
      int &suffix = nextSuffix_[base];
      while (used_.contains(name)) name = fmt::format("{}_{}", base, ++suffix);
    }
    used_.insert(name);
    names_[value] = name;
    return name;
  }

  std::string operator[](const Value *value) const {
    auto it = names_.find(value);
    return it == names_.end() ? std::string("<<undefined>>") : it->second;
  }

private:
  std::unordered_map<const Value *, std::string> names_;
  llvm::StringSet<> used_;
  llvm::StringMap<int> nextSuffix_;  // per name hint: the last suffix tried
  int nextNumber_ = 0;
  bool numbered_;
};

std::string quoted(const std::string &text) {
  std::string result;
  result.reserve(text.size() + 2);
  result.push_back('"');
  for (char c : text) {
    if (c == '"' || c == '\\') result.push_back('\\');
    result.push_back(c);
  }
  result.push_back('"');
  return result;
}

// A constant's elements print as one number when they are a splat.
AttrValue splatOrList(const AttrValue &elements) {
  if (const auto *ints = std::get_if<Ints>(&elements); ints && ints->size() == 1) return ints->front();
  if (const auto *floats = std::get_if<Floats>(&elements); floats && floats->size() == 1) return floats->front();
  return elements;
}

// A default is omitted only when the value has the same bits: -0.0 is not the default 0.0.
bool isDefault(const AttrSpec *spec, const AttrValue &value) {
  if (!spec || !spec->defaultValue) return false;
  const auto *real = std::get_if<double>(&value);
  const auto *defaultReal = std::get_if<double>(&*spec->defaultValue);
  if (real && defaultReal) return std::bit_cast<uint64_t>(*real) == std::bit_cast<uint64_t>(*defaultReal);
  return *spec->defaultValue == value;
}

// A callee prints in front of the operands, `call @f(%a, %b)`, not among the attributes.
bool isCallee(const NamedAttribute &attribute) {
  return attribute.name == "callee" && std::holds_alternative<Symbol>(attribute.value);
}

std::string attributesText(const Operation &op) {
  std::vector<std::string> shown;
  for (const NamedAttribute &attribute : op.attributes().entries()) {
    const AttrSpec *spec = op.info().findAttribute(attribute.name);
    if (isDefault(spec, attribute.value) || isCallee(attribute)) continue;
    bool isElements = spec && spec->kind == AttrKind::Elements;
    shown.push_back(fmt::format("{} = {}", attribute.name,
                                isElements ? toString(splatOrList(attribute.value), op.result(0)->type().dtype)
                                           : toString(attribute.value)));
  }
  if (shown.empty()) return "";
  return fmt::format(" {{{}}}", fmt::join(shown, ", "));
}

std::string locationText(const Location &location) {
  if (!location.known()) return "";
  return fmt::format(" loc({}:{}:{})", quoted(location.file), location.line, location.column);
}

// `f32[4]` for one type, `(f32[4], f32[])` for any other number.
std::string typeListText(const std::vector<const Value *> &values) {
  std::vector<std::string> types;
  for (const Value *value : values) types.push_back(toString(value->type()));
  return types.size() == 1 ? types.front() : fmt::format("({})", fmt::join(types, ", "));
}
}  // namespace

namespace {
// The function's text; `structure` leaves out its name, the values' name hints and the locations.
void printFunction(const Function &function, llvm::raw_ostream &out, bool structure) {
  ValueNames names(structure);
  std::vector<std::string> arguments;
  for (size_t i = 0; i < function.arguments().size(); ++i) {
    const Value *argument = function.argument(i);
    std::string_view role = argumentRoleKeyword(function.role(i));
    arguments.push_back(fmt::format("{}{}%{}: {}", role, role.empty() ? "" : " ",
                                    names.assign(argument, fmt::format("arg{}", i)), toString(argument->type())));
  }
  std::vector<const Value *> returnedValues(function.results().begin(), function.results().end());
  out << fmt::format("{} @{}({}) -> {} {{\n", functionKindKeyword(function.kind()), structure ? "" : function.name(),
                     fmt::join(arguments, ", "), typeListText(returnedValues));

  for (const auto &op : function.ops()) {
    std::vector<std::string> operands;
    for (const Value *operand : op->operands()) operands.push_back(fmt::format("%{}", names[operand]));
    std::vector<std::string> results;
    std::vector<const Value *> resultValues;
    for (const Value *result : op->results()) {
      results.push_back(fmt::format("%{}", names.assign(result, "")));
      resultValues.push_back(result);
    }
    std::string defined = results.empty() ? "" : fmt::format("{} = ", fmt::join(results, ", "));
    std::string reads;
    if (const AttrValue *callee = op->attributes().find("callee"); callee && std::holds_alternative<Symbol>(*callee))
      reads = fmt::format(" @{}({})", std::get<Symbol>(*callee).name, fmt::join(operands, ", "));
    else if (!operands.empty())
      reads = fmt::format(" {}", fmt::join(operands, ", "));
    out << fmt::format("  {}{}{}{} : {}{}\n", defined, op->name(), reads, attributesText(*op),
                       typeListText(resultValues), structure ? "" : locationText(op->location()));
  }

  std::vector<std::string> returned;
  for (const Value *result : function.results()) returned.push_back(fmt::format("%{}", names[result]));
  out << fmt::format("  return{}{}\n}}\n", returned.empty() ? "" : " ", fmt::join(returned, ", "));
}
}  // namespace

void print(const Function &function, llvm::raw_ostream &out) { printFunction(function, out, false); }

std::string structureText(const Function &function) {
  std::string text;
  llvm::raw_string_ostream out(text);
  printFunction(function, out, true);
  return text;
}

// The text a string literal reads back from.
std::string quoted(std::string_view text) {
  std::string result = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') result += '\\';
    result += c;
  }
  return result + "\"";
}

void print(const TrainingSettings &training, llvm::raw_ostream &out) {
  std::vector<std::string> metrics;
  for (const std::string &metric : training.metrics) metrics.push_back(quoted(metric));
  out << fmt::format("training @{} {{data = {}, batch = {}, epochs = {}, validation_split = {}, early_stopping = {}, "
                     "seed = {}, metrics = [{}]}}\n",
                     training.model, quoted(training.data), training.batch, training.epochs,
                     formatFloat(training.validationSplit), training.earlyStopping, training.seed,
                     fmt::join(metrics, ", "));
}

void print(const Module &module, llvm::raw_ostream &out) {
  bool first = true;
  if (module.training) {
    print(*module.training, out);
    first = false;
  }
  for (const auto &function : module.functions()) {
    if (!first) out << "\n";
    first = false;
    print(*function, out);
  }
}

std::string toString(const Function &function) {
  std::string text;
  llvm::raw_string_ostream stream(text);
  print(function, stream);
  return text;
}

std::string toString(const Module &module) {
  std::string text;
  llvm::raw_string_ostream stream(text);
  print(module, stream);
  return text;
}

}  // namespace kiln
