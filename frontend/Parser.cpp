// The model-language parser: recursive descent with one token of lookahead (two for telling
// `name = value` from an expression). Grammar rules sit above the functions that parse them.
// A statement ends at a line break or ';'; inside brackets line breaks are ignored.
#include "frontend/Parser.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "frontend/Lexer.h"

namespace kiln::lang {

namespace {
// Deep enough for any real model, shallow enough that a hostile file cannot exhaust the stack.
constexpr int kMaxNesting = 200;

class Parser {
public:
  Parser(llvm::StringRef text, DiagnosticEngine &diagnostics) : lexer_(text), diagnostics_(diagnostics) {
    token_ = lexer_.next();
    next_ = lexer_.next();
  }

  File parseFile();

private:
  // Thrown after a syntax error has been reported; caught where the parser resynchronises.
  struct SyntaxError {};

  // Counts nesting of expressions, blocks and types; refuses to go deeper than kMaxNesting.
  class NestingGuard {
  public:
    explicit NestingGuard(Parser &parser) : parser_(parser) {
      if (++parser_.nesting_ > kMaxNesting) {
        --parser_.nesting_;
        parser_.fail(parser_.token_.range, "nesting is too deep");
      }
    }
    ~NestingGuard() { --parser_.nesting_; }
    NestingGuard(const NestingGuard &) = delete;
    NestingGuard &operator=(const NestingGuard &) = delete;

  private:
    Parser &parser_;
  };

  // A chain like `a + b + c ...` or `x.a.b ...` nests one tree level per link: each link
  // counts toward kMaxNesting until the chain's parse function returns.
  class ChainGuard {
  public:
    explicit ChainGuard(Parser &parser) : parser_(parser) {}
    void link() {
      ++parser_.nesting_;
      ++links_;
      if (parser_.nesting_ > kMaxNesting) parser_.fail(parser_.token_.range, "expression is nested or chained too deeply");
    }
    ~ChainGuard() { parser_.nesting_ -= links_; }
    ChainGuard(const ChainGuard &) = delete;
    ChainGuard &operator=(const ChainGuard &) = delete;

  private:
    Parser &parser_;
    int links_ = 0;
  };

  // Line breaks are ignored inside (), [] and {} of an expression.
  class BracketGuard {
  public:
    explicit BracketGuard(Parser &parser) : parser_(parser), saved_(parser.bracketDepth_) { ++parser_.bracketDepth_; }
    ~BracketGuard() { parser_.bracketDepth_ = saved_; }
    BracketGuard(const BracketGuard &) = delete;
    BracketGuard &operator=(const BracketGuard &) = delete;

  private:
    Parser &parser_;
    int saved_;
  };
  // A block inside brackets (an `if` in an argument) brings statement line breaks back.
  class StatementGuard {
  public:
    explicit StatementGuard(Parser &parser) : parser_(parser), saved_(parser.bracketDepth_) { parser_.bracketDepth_ = 0; }
    ~StatementGuard() { parser_.bracketDepth_ = saved_; }
    StatementGuard(const StatementGuard &) = delete;
    StatementGuard &operator=(const StatementGuard &) = delete;

  private:
    Parser &parser_;
    int saved_;
  };

  void advance() {
    previousEnd_ = token_.range.End;
    token_ = std::move(next_);
    next_ = lexer_.next();
  }
  bool is(TokenKind kind) const { return token_.kind == kind; }
  // Whether the current token continues the expression on the previous line.
  bool onSameLine() const { return bracketDepth_ > 0 || !token_.startsLine; }
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
  [[noreturn]] void fail(llvm::SMRange where, const std::string &message) {
    diagnostics_.error(where, message);
    throw SyntaxError{};
  }
  [[noreturn]] void failExpected(std::string_view what) {
    if (is(TokenKind::Error)) fail(token_.range, token_.text);
    fail(token_.range, fmt::format("expected {}, found {}", what, spelling(token_)));
  }
  static std::string spelling(const Token &token) {
    switch (token.kind) {
    case TokenKind::Identifier:
    case TokenKind::Integer:
    case TokenKind::Float: return "'" + token.text + "'";
    case TokenKind::String: return "a string";
    default: return std::string(describe(token.kind));
    }
  }
  llvm::SMRange from(llvm::SMLoc start) const { return {start, previousEnd_}; }

  // Skips to where parsing can resume: a token starting a line outside any bracket opened
  // while skipping, a '}' that closes the enclosing block, or the end of the file.
  void synchroniseStatement();
  void synchroniseItem();
  template <typename Parse>
  void recovering(Parse parse, void (Parser::*synchronise)()) {
    try {
      parse();
    } catch (const SyntaxError &) {
      (this->*synchronise)();
    }
  }

  void parseItem(File &file);
  std::unique_ptr<ComponentDecl> parseComponent();
  void parseComponentItem(ComponentDecl &component);
  std::unique_ptr<FnDecl> parseFn();
  std::vector<Parameter> parseParameters();
  Parameter parseParameter();
  TypeExpr parseType();
  DimExpr parseDim();
  std::unique_ptr<TrainDecl> parseTrain();
  void parseTrainItem(TrainDecl &train);
  DimDecl parseDimDecl();
  Block parseBlock();
  StmtPtr parseStatement();
  void expectStatementEnd();
  BoundName parseBoundName();

  ExprPtr parseExpr();
  ExprPtr parseOr();
  ExprPtr parseAnd();
  ExprPtr parseNot();
  ExprPtr parseComparison();
  ExprPtr parseRange();
  ExprPtr parseAdditive();
  ExprPtr parseMultiplicative();
  ExprPtr parseUnary();
  ExprPtr parsePostfix();
  ExprPtr parsePrimary();
  ExprPtr parseParenthesised();
  ExprPtr parseBracketed();
  ExprPtr parseIf();
  std::vector<Argument> parseArguments();
  IndexItem parseIndexItem();
  ExprPtr makeBinary(BinaryOp op, llvm::SMRange operatorRange, ExprPtr lhs, ExprPtr rhs);

  Lexer lexer_;
  DiagnosticEngine &diagnostics_;
  Token token_, next_;
  llvm::SMLoc previousEnd_;
  int nesting_ = 0;
  int bracketDepth_ = 0;
};

void Parser::synchroniseStatement() {
  int depth = 0;
  bool first = true;
  while (!is(TokenKind::EndOfFile)) {
    if (!first && depth == 0 && token_.startsLine) return;
    if (depth == 0 && is(TokenKind::RightBrace)) return;
    if (is(TokenKind::LeftParen) || is(TokenKind::LeftBracket) || is(TokenKind::LeftBrace)) ++depth;
    if ((is(TokenKind::RightParen) || is(TokenKind::RightBracket) || is(TokenKind::RightBrace)) && depth > 0) --depth;
    first = false;
    advance();
  }
}

bool startsItem(TokenKind kind) {
  return kind == TokenKind::KwLayer || kind == TokenKind::KwModel || kind == TokenKind::KwFn ||
         kind == TokenKind::KwTrain || kind == TokenKind::KwDim;
}

void Parser::synchroniseItem() {
  advance();
  while (!is(TokenKind::EndOfFile) && !(token_.startsLine && startsItem(token_.kind))) advance();
}

// file := item*
File Parser::parseFile() {
  File file;
  while (!is(TokenKind::EndOfFile) && !diagnostics_.tooManyErrors())
    recovering([&] { parseItem(file); }, &Parser::synchroniseItem);
  return file;
}

// item := component | fn | train | dim_decl
void Parser::parseItem(File &file) {
  switch (token_.kind) {
  case TokenKind::KwLayer:
  case TokenKind::KwModel: file.components.push_back(parseComponent()); return;
  case TokenKind::KwFn: file.functions.push_back(parseFn()); return;
  case TokenKind::KwTrain: file.trains.push_back(parseTrain()); return;
  case TokenKind::KwDim: file.dims.push_back(parseDimDecl()); return;
  default: failExpected("'layer', 'model', 'fn', 'train' or 'dim'");
  }
}

// component := ('layer' | 'model') IDENT ('(' parameters ')')? '{' component_item* '}'
std::unique_ptr<ComponentDecl> Parser::parseComponent() {
  auto component = std::make_unique<ComponentDecl>();
  llvm::SMLoc start = token_.location();
  component->isModel = is(TokenKind::KwModel);
  advance();
  Token name = expect(TokenKind::Identifier, component->isModel ? "a model name" : "a layer name");
  component->name = name.text;
  component->nameRange = name.range;
  if (accept(TokenKind::LeftParen)) {
    BracketGuard brackets(*this);
    component->hyperParameters = parseParameters();
    expect(TokenKind::RightParen, "')' after the hyper-parameters");
  }
  expect(TokenKind::LeftBrace, "'{'");
  while (!is(TokenKind::RightBrace) && !is(TokenKind::EndOfFile) && !diagnostics_.tooManyErrors()) {
    if (accept(TokenKind::Semicolon)) continue;
    recovering(
        [&] {
          parseComponentItem(*component);
          expectStatementEnd();
        },
        &Parser::synchroniseStatement);
  }
  expect(TokenKind::RightBrace, "'}' closing the body");
  component->range = from(start);
  return component;
}

// component_item := 'param' IDENT ':' type '=' expr | fn | IDENT '=' expr
void Parser::parseComponentItem(ComponentDecl &component) {
  if (is(TokenKind::KwFn)) {
    component.methods.push_back(std::move(*parseFn()));
    return;
  }
  if (accept(TokenKind::KwParam)) {
    ParamDecl param;
    Token name = expect(TokenKind::Identifier, "a parameter name");
    param.name = name.text;
    param.nameRange = name.range;
    expect(TokenKind::Colon, "':' and the parameter's type");
    param.type = parseType();
    expect(TokenKind::Equals, "'=' and the parameter's initializer");
    param.initializer = parseExpr();
    component.params.push_back(std::move(param));
    return;
  }
  MemberDecl member;
  Token name = expect(TokenKind::Identifier, "'param', 'fn' or a member name");
  member.name = name.text;
  member.nameRange = name.range;
  expect(TokenKind::Equals, "'=' after the member name");
  member.value = parseExpr();
  component.members.push_back(std::move(member));
}

// fn := 'fn' IDENT? '(' parameters ')' ('->' type)? block
std::unique_ptr<FnDecl> Parser::parseFn() {
  auto fn = std::make_unique<FnDecl>();
  llvm::SMLoc start = token_.location();
  Token keyword = expect(TokenKind::KwFn, "'fn'");
  fn->nameRange = keyword.range;
  if (is(TokenKind::Identifier)) {
    fn->name = token_.text;
    fn->nameRange = token_.range;
    advance();
  }
  expect(TokenKind::LeftParen, "'(' starting the parameters");
  {
    BracketGuard brackets(*this);
    fn->parameters = parseParameters();
    expect(TokenKind::RightParen, "')' after the parameters");
  }
  if (accept(TokenKind::Arrow)) fn->result = parseType();
  fn->body = parseBlock();
  fn->range = from(start);
  return fn;
}

// parameters := (parameter (',' parameter)* ','?)?
std::vector<Parameter> Parser::parseParameters() {
  std::vector<Parameter> parameters;
  while (is(TokenKind::Identifier)) {
    parameters.push_back(parseParameter());
    if (!accept(TokenKind::Comma)) break;
  }
  return parameters;
}

// parameter := IDENT (':' type)? ('=' expr)?
Parameter Parser::parseParameter() {
  Parameter parameter;
  Token name = expect(TokenKind::Identifier, "a parameter name");
  parameter.name = name.text;
  parameter.nameRange = name.range;
  if (accept(TokenKind::Colon)) parameter.type = parseType();
  if (accept(TokenKind::Equals)) parameter.defaultValue = parseExpr();
  return parameter;
}

// type := 'int' | 'float' | 'bool' | DTYPE '[' (dim (',' dim)*)? ']' | '(' type (',' type)* ')'
//   DTYPE := 'f32' | 'f64' | 'i32' | 'i64' | 'bool'
TypeExpr Parser::parseType() {
  NestingGuard nesting(*this);
  TypeExpr type;
  llvm::SMLoc start = token_.location();
  if (accept(TokenKind::LeftParen)) {
    BracketGuard brackets(*this);
    type.kind = TypeExpr::Kind::Tuple;
    do type.elements.push_back(parseType());
    while (accept(TokenKind::Comma) && !is(TokenKind::RightParen));
    expect(TokenKind::RightParen, "')' closing the tuple type");
    type.range = from(start);
    return type;
  }
  Token name = expect(TokenKind::Identifier, "a type");
  bool isDType = name.text == "f32" || name.text == "f64" || name.text == "i32" || name.text == "i64";
  if (!isDType && name.text != "int" && name.text != "float" && name.text != "bool")
    fail(name.range, fmt::format("unknown type '{}' (expected int, float, bool, or f32, f64, i32, i64, bool "
                                 "followed by a shape)",
                                 name.text));
  if (!isDType && !is(TokenKind::LeftBracket)) {
    type.kind = name.text == "int" ? TypeExpr::Kind::Int : name.text == "float" ? TypeExpr::Kind::Float : TypeExpr::Kind::Bool;
    type.range = name.range;
    return type;
  }
  if (name.text == "int" || name.text == "float") fail(name.range, fmt::format("'{}' is a number, not a tensor dtype", name.text));
  type.dtype = name.text;
  expect(TokenKind::LeftBracket, fmt::format("'[' and the shape after '{}'", name.text));
  {
    BracketGuard brackets(*this);
    if (!is(TokenKind::RightBracket)) {
      do type.dims.push_back(parseDim());
      while (accept(TokenKind::Comma));
    }
    expect(TokenKind::RightBracket, "']' closing the shape");
  }
  type.range = from(start);
  return type;
}

// dim := '...' | additive
DimExpr Parser::parseDim() {
  DimExpr dim;
  llvm::SMLoc start = token_.location();
  if (accept(TokenKind::Ellipsis)) dim.isEllipsis = true;
  else dim.size = parseAdditive();
  dim.range = from(start);
  return dim;
}

// train := 'train' IDENT '{' train_item* '}'
std::unique_ptr<TrainDecl> Parser::parseTrain() {
  auto train = std::make_unique<TrainDecl>();
  llvm::SMLoc start = token_.location();
  expect(TokenKind::KwTrain, "'train'");
  Token model = expect(TokenKind::Identifier, "the name of the model to train");
  train->modelName = model.text;
  train->modelRange = model.range;
  expect(TokenKind::LeftBrace, "'{'");
  while (!is(TokenKind::RightBrace) && !is(TokenKind::EndOfFile) && !diagnostics_.tooManyErrors()) {
    if (accept(TokenKind::Semicolon)) continue;
    recovering(
        [&] {
          parseTrainItem(*train);
          expectStatementEnd();
        },
        &Parser::synchroniseStatement);
  }
  expect(TokenKind::RightBrace, "'}' closing the train block");
  train->range = from(start);
  return train;
}

// train_item := ('input' | 'label') IDENT ':' type | IDENT '=' expr
void Parser::parseTrainItem(TrainDecl &train) {
  if (is(TokenKind::KwInput) || is(TokenKind::KwLabel)) {
    bool isInput = is(TokenKind::KwInput);
    advance();
    Parameter parameter;
    Token name = expect(TokenKind::Identifier, isInput ? "an input name" : "a label name");
    parameter.name = name.text;
    parameter.nameRange = name.range;
    expect(TokenKind::Colon, "':' and a type");
    parameter.type = parseType();
    (isInput ? train.inputs : train.labels).push_back(std::move(parameter));
    return;
  }
  TrainEntry entry;
  Token key = expect(TokenKind::Identifier, "'input', 'label' or a setting name");
  entry.key = key.text;
  entry.keyRange = key.range;
  expect(TokenKind::Equals, "'=' after the setting name");
  entry.value = parseExpr();
  train.entries.push_back(std::move(entry));
}

// dim_decl := 'dim' IDENT '=' expr
DimDecl Parser::parseDimDecl() {
  expect(TokenKind::KwDim, "'dim'");
  DimDecl dim;
  Token name = expect(TokenKind::Identifier, "a dimension name");
  dim.name = name.text;
  dim.nameRange = name.range;
  expect(TokenKind::Equals, "'=' and the dimension's default size");
  dim.value = parseExpr();
  return dim;
}

// block := '{' (statement (NEWLINE | ';'))* '}'
Block Parser::parseBlock() {
  NestingGuard nesting(*this);
  StatementGuard statements(*this);
  Block block;
  llvm::SMLoc start = token_.location();
  expect(TokenKind::LeftBrace, "'{' starting a block");
  while (!is(TokenKind::RightBrace) && !is(TokenKind::EndOfFile) && !diagnostics_.tooManyErrors()) {
    if (accept(TokenKind::Semicolon)) continue;
    recovering(
        [&] {
          block.statements.push_back(parseStatement());
          expectStatementEnd();
        },
        &Parser::synchroniseStatement);
  }
  expect(TokenKind::RightBrace, "'}' closing the block");
  block.range = from(start);
  return block;
}

void Parser::expectStatementEnd() {
  if (is(TokenKind::RightBrace) || is(TokenKind::EndOfFile) || token_.startsLine) return;
  if (accept(TokenKind::Semicolon)) return;
  if (is(TokenKind::Error)) fail(token_.range, token_.text);
  fail(token_.range, fmt::format("expected a new line or ';' after the statement, found {}", spelling(token_)));
}

BoundName Parser::parseBoundName() {
  Token name = expect(TokenKind::Identifier, "a name");
  return {name.text, name.range};
}

// statement := 'let' (IDENT | '(' IDENT (',' IDENT)* ')') '=' expr
//            | 'for' IDENT 'in' expr block
//            | IDENT '=' expr
//            | expr
StmtPtr Parser::parseStatement() {
  llvm::SMLoc start = token_.location();
  if (accept(TokenKind::KwLet)) {
    auto let = std::make_unique<LetStmt>(llvm::SMRange());
    if (accept(TokenKind::LeftParen)) {
      let->destructures = true;
      do let->names.push_back(parseBoundName());
      while (accept(TokenKind::Comma));
      expect(TokenKind::RightParen, "')' closing the names");
    } else {
      let->names.push_back(parseBoundName());
    }
    expect(TokenKind::Equals, "'=' after the name");
    let->value = parseExpr();
    let->range = from(start);
    return let;
  }
  if (accept(TokenKind::KwFor)) {
    auto loop = std::make_unique<ForStmt>(llvm::SMRange());
    loop->variable = parseBoundName();
    expect(TokenKind::KwIn, "'in'");
    loop->iterable = parseExpr();
    loop->body = parseBlock();
    loop->range = from(start);
    return loop;
  }
  if (is(TokenKind::Identifier) && next_.kind == TokenKind::Equals) {
    auto assign = std::make_unique<AssignStmt>(llvm::SMRange());
    assign->target = parseBoundName();
    advance();
    assign->value = parseExpr();
    assign->range = from(start);
    return assign;
  }
  auto statement = std::make_unique<ExprStmt>(llvm::SMRange());
  statement->expr = parseExpr();
  statement->range = statement->expr->range;
  return statement;
}

ExprPtr Parser::makeBinary(BinaryOp op, llvm::SMRange operatorRange, ExprPtr lhs, ExprPtr rhs) {
  auto binary = std::make_unique<BinaryExpr>(llvm::SMRange(lhs->range.Start, rhs->range.End));
  binary->op = op;
  binary->operatorRange = operatorRange;
  binary->lhs = std::move(lhs);
  binary->rhs = std::move(rhs);
  return binary;
}

// expr := or
ExprPtr Parser::parseExpr() {
  NestingGuard nesting(*this);
  return parseOr();
}

// or := and ('or' and)*
ExprPtr Parser::parseOr() {
  ExprPtr lhs = parseAnd();
  ChainGuard chain(*this);
  while (onSameLine() && is(TokenKind::KwOr)) {
    chain.link();
    llvm::SMRange operatorRange = token_.range;
    advance();
    lhs = makeBinary(BinaryOp::Or, operatorRange, std::move(lhs), parseAnd());
  }
  return lhs;
}

// and := not ('and' not)*
ExprPtr Parser::parseAnd() {
  ExprPtr lhs = parseNot();
  ChainGuard chain(*this);
  while (onSameLine() && is(TokenKind::KwAnd)) {
    chain.link();
    llvm::SMRange operatorRange = token_.range;
    advance();
    lhs = makeBinary(BinaryOp::And, operatorRange, std::move(lhs), parseNot());
  }
  return lhs;
}

// not := 'not' not | comparison
ExprPtr Parser::parseNot() {
  if (!is(TokenKind::KwNot)) return parseComparison();
  NestingGuard nesting(*this);
  llvm::SMLoc start = token_.location();
  advance();
  ExprPtr operand = parseNot();
  auto unary = std::make_unique<UnaryExpr>(llvm::SMRange(start, operand->range.End));
  unary->op = UnaryOp::Not;
  unary->operand = std::move(operand);
  return unary;
}

// comparison := range (('==' | '!=' | '<' | '<=' | '>' | '>=') range)?
ExprPtr Parser::parseComparison() {
  ExprPtr lhs = parseRange();
  if (!onSameLine()) return lhs;
  std::optional<BinaryOp> op;
  switch (token_.kind) {
  case TokenKind::EqualEqual: op = BinaryOp::Equal; break;
  case TokenKind::NotEqual: op = BinaryOp::NotEqual; break;
  case TokenKind::Less: op = BinaryOp::Less; break;
  case TokenKind::LessEqual: op = BinaryOp::LessEqual; break;
  case TokenKind::Greater: op = BinaryOp::Greater; break;
  case TokenKind::GreaterEqual: op = BinaryOp::GreaterEqual; break;
  default: return lhs;
  }
  llvm::SMRange operatorRange = token_.range;
  advance();
  return makeBinary(*op, operatorRange, std::move(lhs), parseRange());
}

// range := additive ('..' additive)?
ExprPtr Parser::parseRange() {
  ExprPtr start = parseAdditive();
  if (!onSameLine() || !is(TokenKind::DotDot)) return start;
  advance();
  ExprPtr stop = parseAdditive();
  auto range = std::make_unique<RangeExpr>(llvm::SMRange(start->range.Start, stop->range.End));
  range->start = std::move(start);
  range->stop = std::move(stop);
  return range;
}

// additive := multiplicative (('+' | '-') multiplicative)*
ExprPtr Parser::parseAdditive() {
  ExprPtr lhs = parseMultiplicative();
  ChainGuard chain(*this);
  while (onSameLine() && (is(TokenKind::Plus) || is(TokenKind::Minus))) {
    chain.link();
    BinaryOp op = is(TokenKind::Plus) ? BinaryOp::Add : BinaryOp::Sub;
    llvm::SMRange operatorRange = token_.range;
    advance();
    lhs = makeBinary(op, operatorRange, std::move(lhs), parseMultiplicative());
  }
  return lhs;
}

// multiplicative := unary (('*' | '/' | '%' | '@') unary)*
ExprPtr Parser::parseMultiplicative() {
  ExprPtr lhs = parseUnary();
  ChainGuard chain(*this);
  for (;;) {
    if (!onSameLine()) return lhs;
    BinaryOp op;
    switch (token_.kind) {
    case TokenKind::Star: op = BinaryOp::Mul; break;
    case TokenKind::Slash: op = BinaryOp::Div; break;
    case TokenKind::Percent: op = BinaryOp::Mod; break;
    case TokenKind::At: op = BinaryOp::MatMul; break;
    default: return lhs;
    }
    chain.link();
    llvm::SMRange operatorRange = token_.range;
    advance();
    lhs = makeBinary(op, operatorRange, std::move(lhs), parseUnary());
  }
}

// unary := '-' unary | postfix
ExprPtr Parser::parseUnary() {
  if (!is(TokenKind::Minus)) return parsePostfix();
  NestingGuard nesting(*this);
  llvm::SMLoc start = token_.location();
  advance();
  ExprPtr operand = parseUnary();
  // A negative literal stays a literal, so that `-1` reads as the number it is.
  if (auto *integer = llvm::dyn_cast<IntegerExpr>(operand.get()); integer && integer->value != INT64_MIN) {
    integer->value = -integer->value;
    integer->range.Start = start;
    return operand;
  }
  if (auto *number = llvm::dyn_cast<FloatExpr>(operand.get())) {
    number->value = -number->value;
    number->range.Start = start;
    return operand;
  }
  auto unary = std::make_unique<UnaryExpr>(llvm::SMRange(start, operand->range.End));
  unary->op = UnaryOp::Negate;
  unary->operand = std::move(operand);
  return unary;
}

// postfix := primary ('(' arguments ')' | '[' index_item (',' index_item)* ']' | '.' IDENT)*
// The '(' or '[' must be on the primary's line: on the next one it starts a new statement.
ExprPtr Parser::parsePostfix() {
  ExprPtr expr = parsePrimary();
  ChainGuard chain(*this);
  for (;;) {
    if (is(TokenKind::Dot) || (onSameLine() && (is(TokenKind::LeftParen) || is(TokenKind::LeftBracket)))) chain.link();
    if (is(TokenKind::Dot)) {
      advance();
      Token member = expect(TokenKind::Identifier, "a member name after '.'");
      auto access = std::make_unique<MemberExpr>(llvm::SMRange(expr->range.Start, member.range.End));
      access->base = std::move(expr);
      access->member = member.text;
      access->memberRange = member.range;
      expr = std::move(access);
    } else if (onSameLine() && is(TokenKind::LeftParen)) {
      NestingGuard nesting(*this);
      advance();
      auto call = std::make_unique<CallExpr>(llvm::SMRange());
      {
        BracketGuard brackets(*this);
        call->arguments = parseArguments();
        expect(TokenKind::RightParen, "',' or ')' in the argument list");
      }
      call->range = llvm::SMRange(expr->range.Start, previousEnd_);
      call->callee = std::move(expr);
      expr = std::move(call);
    } else if (onSameLine() && is(TokenKind::LeftBracket)) {
      NestingGuard nesting(*this);
      advance();
      auto index = std::make_unique<IndexExpr>(llvm::SMRange());
      {
        BracketGuard brackets(*this);
        do index->items.push_back(parseIndexItem());
        while (accept(TokenKind::Comma));
        expect(TokenKind::RightBracket, "',' or ']' in the index");
      }
      index->range = llvm::SMRange(expr->range.Start, previousEnd_);
      index->base = std::move(expr);
      expr = std::move(index);
    } else {
      return expr;
    }
  }
}

// arguments := (argument (',' argument)* ','?)?
// argument := (IDENT ':')? expr
std::vector<Argument> Parser::parseArguments() {
  std::vector<Argument> arguments;
  while (!is(TokenKind::RightParen)) {
    Argument argument;
    if (is(TokenKind::Identifier) && next_.kind == TokenKind::Colon) {
      argument.name = token_.text;
      argument.nameRange = token_.range;
      advance();
      advance();
    }
    argument.value = parseExpr();
    arguments.push_back(std::move(argument));
    if (!accept(TokenKind::Comma)) break;
  }
  return arguments;
}

// index_item := additive | additive? ':' additive? (':' additive?)?
IndexItem Parser::parseIndexItem() {
  IndexItem item;
  llvm::SMLoc start = token_.location();
  auto boundEnds = [&] { return is(TokenKind::Colon) || is(TokenKind::Comma) || is(TokenKind::RightBracket); };
  ExprPtr first = boundEnds() ? nullptr : parseAdditive();
  if (!accept(TokenKind::Colon)) {
    if (!first) failExpected("an index");
    item.index = std::move(first);
    item.range = from(start);
    return item;
  }
  item.isSlice = true;
  item.start = std::move(first);
  if (!boundEnds()) item.stop = parseAdditive();
  if (accept(TokenKind::Colon) && !boundEnds()) item.step = parseAdditive();
  item.range = from(start);
  return item;
}

// primary := INT | FLOAT | STRING | 'true' | 'false' | IDENT | if_expr
//          | '(' expr ')' | '(' (expr (',' expr)* ','?)? ')'
//          | '[' (expr (',' expr)* ','?)? ']' | '[' expr 'for' IDENT 'in' expr ']'
ExprPtr Parser::parsePrimary() {
  Token token = token_;
  switch (token.kind) {
  case TokenKind::Integer: {
    advance();
    auto literal = std::make_unique<IntegerExpr>(token.range);
    auto [end, error] = std::from_chars(token.text.data(), token.text.data() + token.text.size(), literal->value);
    if (error != std::errc() || end != token.text.data() + token.text.size())
      fail(token.range, fmt::format("integer {} is too large", token.text));
    return literal;
  }
  case TokenKind::Float: {
    advance();
    auto literal = std::make_unique<FloatExpr>(token.range);
    literal->value = std::strtod(token.text.c_str(), nullptr);
    if (!std::isfinite(literal->value)) fail(token.range, fmt::format("float {} is too large", token.text));
    return literal;
  }
  case TokenKind::String: {
    advance();
    auto literal = std::make_unique<StringExpr>(token.range);
    literal->value = token.text;
    return literal;
  }
  case TokenKind::KwTrue:
  case TokenKind::KwFalse: {
    advance();
    auto literal = std::make_unique<BoolExpr>(token.range);
    literal->value = token.kind == TokenKind::KwTrue;
    return literal;
  }
  case TokenKind::Identifier: {
    advance();
    auto name = std::make_unique<NameExpr>(token.range);
    name->name = token.text;
    return name;
  }
  case TokenKind::KwIf: return parseIf();
  case TokenKind::LeftParen: return parseParenthesised();
  case TokenKind::LeftBracket: return parseBracketed();
  default: failExpected("an expression");
  }
}

ExprPtr Parser::parseParenthesised() {
  NestingGuard nesting(*this);
  BracketGuard brackets(*this);
  llvm::SMLoc start = token_.location();
  expect(TokenKind::LeftParen, "'('");
  std::vector<ExprPtr> elements;
  bool sawComma = false;
  while (!is(TokenKind::RightParen)) {
    elements.push_back(parseExpr());
    if (!accept(TokenKind::Comma)) break;
    sawComma = true;
  }
  expect(TokenKind::RightParen, "',' or ')'");
  if (elements.size() == 1 && !sawComma) {
    elements.front()->range = from(start);
    return std::move(elements.front());
  }
  auto tuple = std::make_unique<TupleExpr>(from(start));
  tuple->elements = std::move(elements);
  return tuple;
}

ExprPtr Parser::parseBracketed() {
  NestingGuard nesting(*this);
  BracketGuard brackets(*this);
  llvm::SMLoc start = token_.location();
  expect(TokenKind::LeftBracket, "'['");
  std::vector<ExprPtr> elements;
  while (!is(TokenKind::RightBracket)) {
    elements.push_back(parseExpr());
    if (elements.size() == 1 && is(TokenKind::KwFor)) {
      advance();
      auto comprehension = std::make_unique<ComprehensionExpr>(llvm::SMRange());
      comprehension->element = std::move(elements.front());
      BoundName variable = parseBoundName();
      comprehension->variable = variable.name;
      comprehension->variableRange = variable.range;
      expect(TokenKind::KwIn, "'in'");
      comprehension->iterable = parseExpr();
      expect(TokenKind::RightBracket, "']' closing the list");
      comprehension->range = from(start);
      return comprehension;
    }
    if (!accept(TokenKind::Comma)) break;
  }
  expect(TokenKind::RightBracket, "',' or ']' in the list");
  auto list = std::make_unique<ListExpr>(from(start));
  list->elements = std::move(elements);
  return list;
}

// if_expr := 'if' expr block ('else' (if_expr | block))?
ExprPtr Parser::parseIf() {
  NestingGuard nesting(*this);
  llvm::SMLoc start = token_.location();
  expect(TokenKind::KwIf, "'if'");
  auto conditional = std::make_unique<IfExpr>(llvm::SMRange());
  conditional->condition = parseExpr();
  conditional->thenBlock = parseBlock();
  if (is(TokenKind::KwElse)) {
    advance();
    if (is(TokenKind::KwIf)) {
      Block elseBlock;
      auto nested = std::make_unique<ExprStmt>(llvm::SMRange());
      nested->expr = parseIf();
      nested->range = nested->expr->range;
      elseBlock.range = nested->range;
      elseBlock.statements.push_back(std::move(nested));
      conditional->elseBlock = std::move(elseBlock);
    } else {
      conditional->elseBlock = parseBlock();
    }
  }
  conditional->range = from(start);
  return conditional;
}
}  // namespace

File parseFile(unsigned bufferId, DiagnosticEngine &diagnostics) {
  return Parser(diagnostics.sources().getMemoryBuffer(bufferId)->getBuffer(), diagnostics).parseFile();
}

}  // namespace kiln::lang
