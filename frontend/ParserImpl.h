// The parser's class, shared by Parser.cpp (declarations, types, statements) and
// ParseExpr.cpp (expressions). Not part of the frontend's interface: use Parser.h.
#pragma once

#include <fmt/format.h>
#include <llvm/ADT/STLExtras.h>

#include "frontend/Lexer.h"
#include "frontend/Parser.h"

namespace kiln::lang::parser_detail {

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
      if (parser_.nesting_ > kMaxNesting)
        parser_.fail(parser_.token_.range, "expression is nested or chained too deeply");
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
    explicit StatementGuard(Parser &parser) : parser_(parser), saved_(parser.bracketDepth_) {
      parser_.bracketDepth_ = 0;
    }
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
  bool atContextualKeyword(std::string_view keyword) const;
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
  template <typename Parse> void recovering(Parse parse, void (Parser::*synchronise)()) {
    try {
      parse();
    } catch (const SyntaxError &) {
      (this->*synchronise)();
    }
  }

  // The items of a `{ ... }` body after its '{': each ends a statement, a syntax error skips
  // to the next statement, and `closing` describes the expected '}'.
  template <typename ParseOne> void parseItemsUntilBrace(ParseOne parseOne, std::string_view closing) {
    while (!is(TokenKind::RightBrace) && !is(TokenKind::EndOfFile) && !diagnostics_.tooManyErrors()) {
      if (accept(TokenKind::Semicolon)) continue;
      recovering(
          [&] {
            parseOne();
            expectStatementEnd();
          },
          &Parser::synchroniseStatement);
    }
    expect(TokenKind::RightBrace, closing);
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
  ExprPtr parsePower();
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
  std::vector<std::string> hyperParameterNames_;  // of the component being parsed: may name a dtype
  llvm::SMLoc previousEnd_;
  int nesting_ = 0;
  int bracketDepth_ = 0;
};

}  // namespace kiln::lang::parser_detail
