// Tokens of the Kiln model language. Newlines separate statements, so each token records
// whether a line break came before it instead of the lexer emitting newline tokens.
#pragma once

#include <string>
#include <string_view>

#include <llvm/ADT/StringRef.h>
#include <llvm/Support/SMLoc.h>

namespace kiln::lang {

enum class TokenKind {
  EndOfFile,
  Error,  // text holds the message
  Identifier,
  Integer,
  Float,
  String,  // text holds the unescaped contents
  // Keywords.
  KwLayer,
  KwModel,
  KwFn,
  KwParam,
  KwLet,
  KwFor,
  KwIn,
  KwIf,
  KwElse,
  KwTrain,
  KwInput,
  KwLabel,
  KwDim,
  KwTrue,
  KwFalse,
  KwAnd,
  KwOr,
  KwNot,
  // Punctuation.
  LeftParen,
  RightParen,
  LeftBracket,
  RightBracket,
  LeftBrace,
  RightBrace,
  Comma,
  Colon,
  Semicolon,
  Dot,
  DotDot,
  Ellipsis,
  Arrow,
  Equals,
  EqualEqual,
  NotEqual,
  Less,
  LessEqual,
  Greater,
  GreaterEqual,
  Plus,
  Minus,
  Star,
  StarStar,
  Slash,
  Percent,
  At,
};

struct Token {
  TokenKind kind = TokenKind::EndOfFile;
  std::string text;
  llvm::SMRange range;
  bool startsLine = false;  // a line break (or the start of the file) precedes the token

  llvm::SMLoc location() const { return range.Start; }
};

class Lexer {
public:
  explicit Lexer(llvm::StringRef buffer) : buffer_(buffer), position_(buffer.begin()) {}
  Token next();

private:
  Token make(TokenKind kind, const char *start, std::string text = {});
  Token lexNumber(const char *start);
  Token lexString(const char *start);
  Token lexWord(const char *start);

  llvm::StringRef buffer_;
  const char *position_;
  bool sawNewline_ = true;
};

// How a token kind is named in messages: `'('`, `identifier`, `'layer'`.
std::string_view describe(TokenKind kind);

}  // namespace kiln::lang
