// The expression half of the model-language parser: one function per precedence level, from
// `or` down to primaries. Grammar rules sit above the functions that parse them.
#include <charconv>
#include <cmath>

#include "frontend/ParserImpl.h"

namespace kiln::lang::parser_detail {

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

// unary := '-' unary | power
ExprPtr Parser::parseUnary() {
  if (!is(TokenKind::Minus)) return parsePower();
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

// power := postfix ('**' unary)?
// As in Python, `**` binds tighter than a unary minus on its left (-x ** 2 is -(x ** 2)) and
// groups to the right (a ** b ** c is a ** (b ** c)).
ExprPtr Parser::parsePower() {
  ExprPtr base = parsePostfix();
  if (!onSameLine() || !is(TokenKind::StarStar)) return base;
  NestingGuard nesting(*this);
  llvm::SMRange operatorRange = token_.range;
  advance();
  return makeBinary(BinaryOp::Power, operatorRange, std::move(base), parseUnary());
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

}  // namespace kiln::lang::parser_detail
