// Tokens of the IR text.
#pragma once

#include <string>

#include <llvm/ADT/StringRef.h>
#include <llvm/Support/SMLoc.h>

namespace kiln::ir_text {

enum class TokenKind {
  EndOfFile,
  Error,         // text holds the message
  Identifier,    // func, return, loc, true, false, op names, dtypes, attribute names
  ValueName,     // %name (text without the %)
  FunctionName,  // @name (text without the @)
  Integer,
  Float,   // including inf, -inf and nan
  String,  // text holds the unescaped contents
  LeftParen,
  RightParen,
  LeftBrace,
  RightBrace,
  LeftBracket,
  RightBracket,
  Comma,
  Colon,
  Equals,
  Arrow,
};

struct Token {
  TokenKind kind;
  std::string text;
  llvm::SMLoc location;
};

class Lexer {
public:
  explicit Lexer(llvm::StringRef buffer) : buffer_(buffer), position_(buffer.begin()) {}
  Token next();

private:
  Token make(TokenKind kind, const char *start, std::string text = {});
  Token lexNumber(const char *start);
  Token lexString(const char *start);

  llvm::StringRef buffer_;
  const char *position_;
};

std::string_view describe(TokenKind kind);

// The digits of a decimal literal from `position`, shared by the IR and model lexers:
//   digit+ ('.' digit*)? ([eE] [+-]? digit+)?
// A dot followed by a dot ends the number, so that the model language's `0..N` is a range.
struct DecimalScan {
  const char *end;
  bool isFloat;  // a fraction or an exponent was present
};
DecimalScan scanDecimal(const char *position, const char *end);

}  // namespace kiln::ir_text
