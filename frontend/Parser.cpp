// The model-language parser: recursive descent with one token of lookahead (two for telling
// `name = value` from an expression). Grammar rules sit above the functions that parse them.
// A statement ends at a line break or ';'; inside brackets line breaks are ignored. This file
// holds declarations, types and statements; ParseExpr.cpp the expressions.
#include "frontend/ParserImpl.h"

namespace kiln::lang {

namespace parser_detail {

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

static bool startsItem(TokenKind kind) {
  return kind == TokenKind::KwLayer || kind == TokenKind::KwModel || kind == TokenKind::KwFn ||
         kind == TokenKind::KwTrain || kind == TokenKind::KwDim;
}

// `optimizer` is a keyword only where an item starts (followed by its name), so that code may
// still call a variable `optimizer`; likewise `state` inside an optimizer's body.
bool Parser::atContextualKeyword(std::string_view keyword) const {
  return is(TokenKind::Identifier) && token_.text == keyword && next_.kind == TokenKind::Identifier;
}

void Parser::synchroniseItem() {
  advance();
  while (!is(TokenKind::EndOfFile) &&
         !(token_.startsLine && (startsItem(token_.kind) || atContextualKeyword("optimizer"))))
    advance();
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
  if (atContextualKeyword("optimizer")) {
    file.components.push_back(parseComponent());
    return;
  }
  switch (token_.kind) {
  case TokenKind::KwLayer:
  case TokenKind::KwModel: file.components.push_back(parseComponent()); return;
  case TokenKind::KwFn: file.functions.push_back(parseFn()); return;
  case TokenKind::KwTrain: file.trains.push_back(parseTrain()); return;
  case TokenKind::KwDim: file.dims.push_back(parseDimDecl()); return;
  default: failExpected("'layer', 'model', 'optimizer', 'fn', 'train' or 'dim'");
  }
}

// component := ('layer' | 'model' | 'optimizer') IDENT ('(' parameters ')')? '{' component_item* '}'
std::unique_ptr<ComponentDecl> Parser::parseComponent() {
  auto component = std::make_unique<ComponentDecl>();
  llvm::SMLoc start = token_.location();
  component->isModel = is(TokenKind::KwModel);
  component->isOptimizer = is(TokenKind::Identifier);
  advance();
  Token name = expect(TokenKind::Identifier, fmt::format("a name for the {}", component->keyword()));
  component->name = name.text;
  component->nameRange = name.range;
  if (accept(TokenKind::LeftParen)) {
    BracketGuard brackets(*this);
    component->hyperParameters = parseParameters();
    expect(TokenKind::RightParen, "')' after the hyper-parameters");
  }
  for (const Parameter &hyperParameter : component->hyperParameters)
    hyperParameterNames_.push_back(hyperParameter.name);
  expect(TokenKind::LeftBrace, "'{'");
  parseItemsUntilBrace([&] { parseComponentItem(*component); }, "'}' closing the body");
  hyperParameterNames_.clear();
  component->range = from(start);
  return component;
}

// component_item := ('param' | 'buffer') IDENT ':' type '=' expr ('if' expr)? | 'state' IDENT '=' expr | fn
//                 | IDENT '=' expr
void Parser::parseComponentItem(ComponentDecl &component) {
  if (atContextualKeyword("state")) {
    if (!component.isOptimizer)
      fail(token_.range, "only an optimizer declares 'state'; a layer's tensors are 'param's");
    advance();
    StateDecl state;
    Token name = expect(TokenKind::Identifier, "a state name");
    state.name = name.text;
    state.nameRange = name.range;
    expect(TokenKind::Equals, "'=' and the state's initial value");
    state.initializer = parseExpr();
    component.states.push_back(std::move(state));
    return;
  }
  if (is(TokenKind::KwFn)) {
    component.methods.push_back(std::move(*parseFn()));
    return;
  }
  if (is(TokenKind::KwParam) && component.isOptimizer)
    fail(token_.range, "an optimizer has no trainable 'param's; its per-parameter tensors are 'state'");
  bool isBuffer = atContextualKeyword("buffer");
  if (isBuffer && component.isOptimizer)
    fail(token_.range, "an optimizer has no 'buffer's; its per-parameter tensors are 'state'");
  if (isBuffer || is(TokenKind::KwParam)) {
    advance();
    ParamDecl param;
    param.isBuffer = isBuffer;
    Token name = expect(TokenKind::Identifier, isBuffer ? "a buffer name" : "a parameter name");
    param.name = name.text;
    param.nameRange = name.range;
    expect(TokenKind::Colon, isBuffer ? "':' and the buffer's type" : "':' and the parameter's type");
    param.type = parseType();
    expect(TokenKind::Equals, isBuffer ? "'=' and the buffer's initial value" : "'=' and the parameter's initializer");
    param.initializer = parseExpr();
    if (accept(TokenKind::KwIf)) param.condition = parseExpr();
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

// type := 'int' | 'float' | 'bool' | (DTYPE | 'float' | IDENT) '[' (dim (',' dim)*)? ']' | '(' type (',' type)* ')'
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
  // Besides the dtypes, a hyper-parameter of the enclosing layer holding one (`dtype[n_in, n_out]`,
  // checked when lowered), and `float[...]`: a tensor of either float dtype, in a signature.
  bool isDType = name.text == "f32" || name.text == "f64" || name.text == "i32" || name.text == "i64" ||
                 (name.text == "float" && is(TokenKind::LeftBracket)) ||
                 llvm::is_contained(hyperParameterNames_, name.text);
  if (!isDType && name.text != "int" && name.text != "float" && name.text != "bool")
    fail(name.range, fmt::format("unknown type '{}' (expected int, float, bool, or f32, f64, i32, i64, bool "
                                 "followed by a shape)",
                                 name.text));
  if (!isDType && !is(TokenKind::LeftBracket)) {
    type.kind = name.text == "int"     ? TypeExpr::Kind::Int
                : name.text == "float" ? TypeExpr::Kind::Float
                                       : TypeExpr::Kind::Bool;
    type.range = name.range;
    return type;
  }
  if (name.text == "int") fail(name.range, fmt::format("'{}' is a number, not a tensor dtype", name.text));
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
  if (accept(TokenKind::Ellipsis))
    dim.isEllipsis = true;
  else
    dim.size = parseAdditive();
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
  parseItemsUntilBrace([&] { parseTrainItem(*train); }, "'}' closing the train block");
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
  parseItemsUntilBrace([&] { block.statements.push_back(parseStatement()); }, "'}' closing the block");
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

}  // namespace parser_detail

File parseFile(unsigned bufferId, DiagnosticEngine &diagnostics) {
  return parser_detail::Parser(diagnostics.sources().getMemoryBuffer(bufferId)->getBuffer(), diagnostics).parseFile();
}

}  // namespace kiln::lang
