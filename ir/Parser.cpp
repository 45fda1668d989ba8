// The IR parser: recursive descent over the tokens of Lexer.h. Grammar rules sit above the
// functions that parse them. Types are checked here only as far as reading needs (names
// defined, attributes of the schema); the verifier checks the rest.
#include "ir/Parser.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>
#include <llvm/ADT/StringMap.h>

#include "ir/Lexer.h"

namespace kiln {

namespace {
using ir_text::Lexer;
using ir_text::Token;
using ir_text::TokenKind;

class Parser {
public:
  Parser(llvm::StringRef text, Diagnostics &diagnostics) : lexer_(text), diagnostics_(diagnostics) {}

  std::optional<ParsedModule> parseModule();

private:
  // A failed parse unwinds through every caller: nothing is built from a broken file.
  struct Failure {};

  void advance() {
    token_ = lexer_.next();
    if (token_.kind == TokenKind::Error) fail(token_.location, token_.text);
  }
  [[noreturn]] void fail(llvm::SMLoc where, const std::string &message) {
    diagnostics_.error(where, message);
    throw Failure{};
  }
  [[noreturn]] void failExpected(std::string_view what) {
    fail(token_.location, fmt::format("expected {}, found {}", what, spelling()));
  }
  std::string spelling() const {
    switch (token_.kind) {
    case TokenKind::ValueName: return "'%" + token_.text + "'";
    case TokenKind::FunctionName: return "'@" + token_.text + "'";
    case TokenKind::String: return "'\"" + token_.text + "\"'";
    case TokenKind::Identifier:
    case TokenKind::Integer:
    case TokenKind::Float: return "'" + token_.text + "'";
    default: return std::string(ir_text::describe(token_.kind));
    }
  }
  bool is(TokenKind kind) const { return token_.kind == kind; }
  bool isKeyword(std::string_view word) const { return is(TokenKind::Identifier) && token_.text == word; }
  bool accept(TokenKind kind) {
    if (!is(kind)) return false;
    advance();
    return true;
  }
  Token expect(TokenKind kind, std::string_view what) {
    if (!is(kind)) failExpected(what);
    Token taken = token_;
    advance();
    return taken;
  }
  void expectKeyword(std::string_view word) {
    if (!isKeyword(word)) failExpected(fmt::format("'{}'", word));
    advance();
  }

  int64_t integerValue(const Token &token);
  double floatValue(const Token &token);

  std::unique_ptr<Function> parseFunction(ParsedModule &parsed);
  TrainingSettings parseTraining();
  TensorType parseType();
  std::vector<TensorType> parseResultTypes();
  void parseStatement(Function &function, ParsedModule &parsed);
  std::vector<NamedAttribute> parseAttributeDictionary();
  AttrValue parseAttributeValue();
  Location parseLocation();
  Value *lookupValue(const Token &name);
  void defineValue(const Token &name, Value *value);

  Lexer lexer_;
  Diagnostics &diagnostics_;
  Token token_{TokenKind::EndOfFile, {}, {}};
  llvm::StringMap<Value *> values_;  // of the function being parsed
};

int64_t Parser::integerValue(const Token &token) {
  int64_t value = 0;
  auto [end, error] = std::from_chars(token.text.data(), token.text.data() + token.text.size(), value);
  if (error != std::errc() || end != token.text.data() + token.text.size())
    fail(token.location, fmt::format("integer {} does not fit in 64 bits", token.text));
  return value;
}

double Parser::floatValue(const Token &token) {
  if (token.text == "inf") return INFINITY;
  if (token.text == "-inf") return -INFINITY;
  if (token.text == "nan") return NAN;
  double value = 0;
  auto [end, error] = std::from_chars(token.text.data(), token.text.data() + token.text.size(), value);
  if (error != std::errc() || end != token.text.data() + token.text.size())
    fail(token.location, fmt::format("float {} is out of range", token.text));
  return value;
}

// module := training? function*
std::optional<ParsedModule> Parser::parseModule() {
  ParsedModule parsed;
  parsed.module = std::make_unique<Module>();
  try {
    advance();  // here, not in the constructor: the first token may already be an error
    if (isKeyword("training")) parsed.module->training = parseTraining();
    while (!is(TokenKind::EndOfFile)) {
      llvm::SMLoc where = token_.location;
      auto function = parseFunction(parsed);
      if (parsed.module->lookup(function->name()))
        fail(where, fmt::format("function @{} is defined twice", function->name()));
      parsed.module->addFunction(std::move(function));
    }
  } catch (const Failure &) {
    return std::nullopt;
  }
  return parsed;
}

// training := 'training' '@' model '{' setting (',' setting)* '}'
// setting  := 'data' '=' string | 'metrics' '=' '[' (string (',' string)*)? ']'
//           | ('batch' | 'epochs' | 'early_stopping' | 'seed') '=' integer | 'validation_split' '=' number
// Every setting is written once; the printer writes all of them.
TrainingSettings Parser::parseTraining() {
  advance();
  TrainingSettings training;
  training.model = expect(TokenKind::FunctionName, "the trained model's name such as @Classifier").text;
  expect(TokenKind::LeftBrace, "'{'");
  llvm::StringMap<bool> seen;
  const std::pair<std::string_view, int64_t *> integers[] = {{"batch", &training.batch},
                                                             {"epochs", &training.epochs},
                                                             {"early_stopping", &training.earlyStopping},
                                                             {"seed", &training.seed}};
  do {
    Token key = expect(TokenKind::Identifier, "a training setting such as epochs");
    if (!seen.try_emplace(key.text, true).second)
      fail(key.location, fmt::format("training setting '{}' is given twice", key.text));
    expect(TokenKind::Equals, "'='");
    if (key.text == "data") {
      training.data = expect(TokenKind::String, "a string").text;
    } else if (key.text == "metrics") {
      expect(TokenKind::LeftBracket, "'['");
      if (!is(TokenKind::RightBracket)) do
          training.metrics.push_back(expect(TokenKind::String, "a metric's name as a string").text);
        while (accept(TokenKind::Comma));
      expect(TokenKind::RightBracket, "']'");
    } else if (key.text == "validation_split") {
      Token number = token_;
      if (!accept(TokenKind::Float) && !accept(TokenKind::Integer)) failExpected("a number");
      training.validationSplit = number.kind == TokenKind::Float ? floatValue(number) : double(integerValue(number));
      if (!(training.validationSplit >= 0 && training.validationSplit < 1))
        fail(number.location, fmt::format("validation_split must be in [0, 1), not {}", number.text));
    } else {
      auto found = std::find_if(std::begin(integers), std::end(integers),
                                [&](const auto &entry) { return entry.first == key.text; });
      if (found == std::end(integers))
        fail(key.location, fmt::format("unknown training setting '{}' (known: data, batch, epochs, "
                                       "validation_split, early_stopping, seed, metrics)",
                                       key.text));
      Token number = expect(TokenKind::Integer, "an integer");
      *found->second = integerValue(number);
      bool positive = key.text == "batch" || key.text == "epochs";
      if (key.text != "seed" && (*found->second < 0 || (positive && *found->second == 0)))
        fail(number.location,
             fmt::format("{} must be {}, not {}", key.text, positive ? "positive" : "non-negative", number.text));
    }
  } while (accept(TokenKind::Comma));
  expect(TokenKind::RightBrace, "'}'");
  return training;
}

// function := ('func' | 'kernel') '@' name '(' (argument (',' argument)*)? ')' '->' result-types
//             '{' statement* '}'
// argument := role? '%' name ':' type          role := 'input' | 'label' | 'param' | 'state'
std::unique_ptr<Function> Parser::parseFunction(ParsedModule &parsed) {
  FunctionKind kind = FunctionKind::Function;
  if (isKeyword("kernel"))
    kind = FunctionKind::Kernel;
  else if (!isKeyword("func"))
    failExpected("'func' or 'kernel'");
  llvm::SMLoc where = token_.location;
  advance();
  Token name = expect(TokenKind::FunctionName, "a function name such as @forward");
  auto function = std::make_unique<Function>(name.text, Location{}, kind);
  parsed.positions.functions[function.get()] = where;
  values_.clear();

  expect(TokenKind::LeftParen, "'('");
  if (!is(TokenKind::RightParen)) {
    do {
      ArgumentRole role = ArgumentRole::None;
      if (is(TokenKind::Identifier)) {
        std::optional<ArgumentRole> written = parseArgumentRole(token_.text);
        if (!written) failExpected("an argument such as %x or param %w");
        role = *written;
        advance();
      }
      Token argumentName = expect(TokenKind::ValueName, "an argument such as %x");
      expect(TokenKind::Colon, "':' and the argument's type");
      TensorType type = parseType();
      defineValue(argumentName, function->addArgument(type, argumentName.text, role));
    } while (accept(TokenKind::Comma));
  }
  expect(TokenKind::RightParen, "')' after the arguments");
  expect(TokenKind::Arrow, "'->' and the result types");
  llvm::SMLoc resultsWhere = token_.location;
  std::vector<TensorType> resultTypes = parseResultTypes();
  expect(TokenKind::LeftBrace, "'{' to open the function body");

  while (!isKeyword("return")) parseStatement(*function, parsed);

  // statement := 'return' (value (',' value)*)?
  llvm::SMLoc returnWhere = token_.location;
  advance();
  std::vector<Value *> results;
  if (is(TokenKind::ValueName)) {
    do results.push_back(lookupValue(expect(TokenKind::ValueName, "a value to return")));
    while (accept(TokenKind::Comma));
  }
  if (results.size() != resultTypes.size())
    fail(returnWhere, fmt::format("@{} declares {} result{} but returns {}", function->name(), resultTypes.size(),
                                  resultTypes.size() == 1 ? "" : "s", results.size()));
  for (size_t i = 0; i < results.size(); ++i)
    if (results[i]->type() != resultTypes[i])
      fail(resultsWhere, fmt::format("result {} of @{} is declared {} but the returned value is {}", i,
                                     function->name(), toString(resultTypes[i]), toString(results[i]->type())));
  function->setResults(std::move(results));
  expect(TokenKind::RightBrace, "'}' after the return");
  return function;
}

// result-types := type | '(' (type (',' type)*)? ')'
std::vector<TensorType> Parser::parseResultTypes() {
  std::vector<TensorType> types;
  if (!accept(TokenKind::LeftParen)) {
    types.push_back(parseType());
    return types;
  }
  if (!is(TokenKind::RightParen)) {
    do types.push_back(parseType());
    while (accept(TokenKind::Comma));
  }
  expect(TokenKind::RightParen, "')' after the result types");
  return types;
}

// type := dtype '[' (integer (',' integer)*)? ']'      e.g. f32[32,64], i1[]
TensorType Parser::parseType() {
  if (!is(TokenKind::Identifier)) failExpected("a type such as f32[2,3]");
  std::optional<DType> dtype = parseDType(token_.text);
  if (!dtype) fail(token_.location, fmt::format("unknown dtype '{}'; expected f32, f64, i32, i64 or i1", token_.text));
  llvm::SMLoc where = token_.location;
  advance();
  expect(TokenKind::LeftBracket, "'[' and the shape");
  Shape shape;
  if (!is(TokenKind::RightBracket)) {
    do {
      Token extent = expect(TokenKind::Integer, "a dimension size");
      int64_t value = integerValue(extent);
      if (value < 0) fail(extent.location, fmt::format("dimension size {} is negative", value));
      shape.push_back(value);
    } while (accept(TokenKind::Comma));
  }
  expect(TokenKind::RightBracket, "']' after the shape");
  TensorType type{*dtype, std::move(shape)};
  // Keeps a mutated or hostile file from asking for more memory than any model needs.
  if (!type.checkedElementCount()) fail(where, fmt::format("{} has more than 2^40 elements", toString(type)));
  return type;
}

// statement := (result-names '=')? op-name operands attribute-dictionary? ':' result-types location?
// result-names := '%' name (',' '%' name)*
// operands := (value (',' value)*)?  |  '@' callee '(' (value (',' value)*)? ')'     (call)
void Parser::parseStatement(Function &function, ParsedModule &parsed) {
  if (is(TokenKind::RightBrace)) fail(token_.location, fmt::format("@{} ends without a return", function.name()));
  if (is(TokenKind::EndOfFile)) fail(token_.location, fmt::format("file ends inside @{}", function.name()));
  std::vector<Token> resultNames;
  if (is(TokenKind::ValueName)) {
    do resultNames.push_back(expect(TokenKind::ValueName, "a result name such as %y"));
    while (accept(TokenKind::Comma));
    expect(TokenKind::Equals, "'='");
  }
  if (!is(TokenKind::Identifier)) failExpected("a statement such as %y = add %a, %b : f32[4]");
  Token opName = token_;
  std::optional<OpKind> kind = lookupOp(opName.text);
  if (!kind) fail(opName.location, fmt::format("unknown op '{}' (kiln-opt --list-ops lists them)", opName.text));
  advance();
  const OpInfo &info = opInfo(*kind);

  std::vector<NamedAttribute> written;
  std::vector<Value *> operands;
  auto parseOperands = [&] {
    do operands.push_back(lookupValue(expect(TokenKind::ValueName, "an operand")));
    while (accept(TokenKind::Comma));
  };
  const AttrSpec *callee = info.findAttribute("callee");
  if (callee && callee->kind == AttrKind::Symbol && is(TokenKind::FunctionName)) {
    written.push_back({"callee", Symbol{token_.text}});
    advance();
    expect(TokenKind::LeftParen, "'(' and the arguments of the call");
    if (!is(TokenKind::RightParen)) parseOperands();
    expect(TokenKind::RightParen, "')' after the arguments of the call");
  } else if (is(TokenKind::ValueName)) {
    parseOperands();
  }
  if (auto error = info.checkOperandCount(operands.size())) fail(opName.location, llvm::toString(std::move(error)));

  llvm::SMLoc attributesWhere = token_.location;
  if (is(TokenKind::LeftBrace)) {
    std::vector<NamedAttribute> dictionary = parseAttributeDictionary();
    written.insert(written.end(), dictionary.begin(), dictionary.end());
  }
  expect(TokenKind::Colon, "':' and the result type");
  llvm::SMLoc typesWhere = token_.location;
  std::vector<TensorType> resultTypes = parseResultTypes();
  if (resultNames.empty() && !resultTypes.empty())
    fail(opName.location,
         fmt::format("expected a statement such as %y = add %a, %b : f32[4], found '{}'", opName.text));
  if (resultTypes.size() != resultNames.size())
    fail(typesWhere,
         fmt::format("{} result name{} but {} result type{}", resultNames.size(), resultNames.size() == 1 ? "" : "s",
                     resultTypes.size(), resultTypes.size() == 1 ? "" : "s"));
  Location location;
  if (isKeyword("loc")) location = parseLocation();

  // A constant's elements are stored in its result dtype; an op of no results has none.
  DType elementType = resultTypes.empty() ? DType::F32 : resultTypes.front().dtype;
  auto attributes = completeAttributes(info, written, elementType);
  if (!attributes) fail(attributesWhere, llvm::toString(attributes.takeError()));
  std::vector<std::string> hints;
  for (const Token &name : resultNames) hints.push_back(name.text);
  auto op = std::make_unique<Operation>(*kind, std::move(operands), std::move(*attributes), std::move(resultTypes),
                                        std::move(location), std::move(hints));
  parsed.positions.ops[op.get()] = opName.location;
  for (size_t i = 0; i < resultNames.size(); ++i) defineValue(resultNames[i], op->result(i));
  function.insert(function.ops().end(), std::move(op));
}

// attribute-dictionary := '{' (name '=' attribute-value (',' name '=' attribute-value)*)? '}'
std::vector<NamedAttribute> Parser::parseAttributeDictionary() {
  expect(TokenKind::LeftBrace, "'{'");
  std::vector<NamedAttribute> attributes;
  if (!is(TokenKind::RightBrace)) {
    do {
      Token name = expect(TokenKind::Identifier, "an attribute name");
      expect(TokenKind::Equals, "'=' after the attribute name");
      attributes.push_back({name.text, parseAttributeValue()});
    } while (accept(TokenKind::Comma));
  }
  expect(TokenKind::RightBrace, "'}' after the attributes");
  return attributes;
}

// attribute-value := integer | float | 'true' | 'false' | '@' name | '[' (number (',' number)*)? ']'
AttrValue Parser::parseAttributeValue() {
  if (is(TokenKind::FunctionName)) {
    Symbol symbol{token_.text};
    advance();
    return symbol;
  }
  if (is(TokenKind::Integer)) {
    int64_t value = integerValue(token_);
    advance();
    return value;
  }
  if (is(TokenKind::Float)) {
    double value = floatValue(token_);
    advance();
    return value;
  }
  if (isKeyword("true") || isKeyword("false")) {
    bool value = token_.text == "true";
    advance();
    return value;
  }
  if (!accept(TokenKind::LeftBracket)) failExpected("an attribute value");
  Ints ints;
  Floats floats;
  bool anyFloat = false;
  if (!is(TokenKind::RightBracket)) {
    do {
      if (is(TokenKind::Integer)) {
        int64_t value = integerValue(token_);
        ints.push_back(value);
        floats.push_back(static_cast<double>(value));
      } else if (is(TokenKind::Float)) {
        anyFloat = true;
        floats.push_back(floatValue(token_));
      } else {
        failExpected("a number in the list");
      }
      advance();
    } while (accept(TokenKind::Comma));
  }
  expect(TokenKind::RightBracket, "']' after the list");
  if (anyFloat) return floats;
  return ints;
}

// location := 'loc' '(' string ':' integer ':' integer ')'
Location Parser::parseLocation() {
  expectKeyword("loc");
  expect(TokenKind::LeftParen, "'(' after loc");
  Token file = expect(TokenKind::String, "a quoted file name");
  expect(TokenKind::Colon, "':' and a line number");
  Token line = expect(TokenKind::Integer, "a line number");
  expect(TokenKind::Colon, "':' and a column number");
  Token column = expect(TokenKind::Integer, "a column number");
  expect(TokenKind::RightParen, "')' after the location");
  int64_t lineNumber = integerValue(line);
  int64_t columnNumber = integerValue(column);
  if (lineNumber < 1 || lineNumber > UINT32_MAX)
    fail(line.location, fmt::format("line number {} is not between 1 and {}", lineNumber, UINT32_MAX));
  if (columnNumber < 1 || columnNumber > UINT32_MAX)
    fail(column.location, fmt::format("column number {} is not between 1 and {}", columnNumber, UINT32_MAX));
  return Location{file.text, static_cast<unsigned>(lineNumber), static_cast<unsigned>(columnNumber)};
}

Value *Parser::lookupValue(const Token &name) {
  auto it = values_.find(name.text);
  if (it == values_.end()) fail(name.location, fmt::format("use of undefined value %{}", name.text));
  return it->second;
}

void Parser::defineValue(const Token &name, Value *value) {
  if (!values_.try_emplace(name.text, value).second)
    fail(name.location, fmt::format("value %{} is defined twice", name.text));
}
}  // namespace

std::optional<ParsedModule> parseModule(unsigned bufferId, Diagnostics &diagnostics) {
  const llvm::MemoryBuffer *buffer = diagnostics.sources().getMemoryBuffer(bufferId);
  Parser parser(buffer->getBuffer(), diagnostics);
  return parser.parseModule();
}

llvm::Expected<std::unique_ptr<Module>> parseModule(llvm::StringRef text, llvm::StringRef bufferName) {
  llvm::SourceMgr sources;
  unsigned id = sources.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(text, bufferName), llvm::SMLoc());
  std::string messages;
  llvm::raw_string_ostream stream(messages);
  Diagnostics diagnostics(sources, stream);
  std::optional<ParsedModule> parsed = parseModule(id, diagnostics);
  if (!parsed) return llvm::createStringError(messages);
  return std::move(parsed->module);
}

}  // namespace kiln
