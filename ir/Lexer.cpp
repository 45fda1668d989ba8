// The IR lexer. `//` starts a comment to the end of the line, which lets lit's RUN lines live
// in the test files.
#include "ir/Lexer.h"

#include <cctype>

#include <fmt/format.h>

namespace kiln::ir_text {

namespace {
bool isNameCharacter(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }
bool isDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)); }
}  // namespace

std::string_view describe(TokenKind kind) {
  switch (kind) {
  case TokenKind::EndOfFile: return "end of file";
  case TokenKind::Error: return "invalid text";
  case TokenKind::Identifier: return "identifier";
  case TokenKind::ValueName: return "value name";
  case TokenKind::FunctionName: return "function name";
  case TokenKind::Integer: return "integer";
  case TokenKind::Float: return "float";
  case TokenKind::String: return "string";
  case TokenKind::LeftParen: return "'('";
  case TokenKind::RightParen: return "')'";
  case TokenKind::LeftBrace: return "'{'";
  case TokenKind::RightBrace: return "'}'";
  case TokenKind::LeftBracket: return "'['";
  case TokenKind::RightBracket: return "']'";
  case TokenKind::Comma: return "','";
  case TokenKind::Colon: return "':'";
  case TokenKind::Equals: return "'='";
  case TokenKind::Arrow: return "'->'";
  }
  return "token";
}

Token Lexer::make(TokenKind kind, const char *start, std::string text) {
  return Token{kind, std::move(text), llvm::SMLoc::getFromPointer(start)};
}

Token Lexer::next() {
  const char *end = buffer_.end();
  for (;;) {
    while (position_ != end && std::isspace(static_cast<unsigned char>(*position_))) ++position_;
    if (end - position_ >= 2 && position_[0] == '/' && position_[1] == '/') {
      while (position_ != end && *position_ != '\n') ++position_;
      continue;
    }
    break;
  }
  const char *start = position_;
  if (position_ == end) return make(TokenKind::EndOfFile, start);

  char c = *position_++;
  switch (c) {
  case '(': return make(TokenKind::LeftParen, start);
  case ')': return make(TokenKind::RightParen, start);
  case '{': return make(TokenKind::LeftBrace, start);
  case '}': return make(TokenKind::RightBrace, start);
  case '[': return make(TokenKind::LeftBracket, start);
  case ']': return make(TokenKind::RightBracket, start);
  case ',': return make(TokenKind::Comma, start);
  case ':': return make(TokenKind::Colon, start);
  case '=': return make(TokenKind::Equals, start);
  case '"': return lexString(start);
  case '%':
  case '@': {
    const char *nameStart = position_;
    while (position_ != end && isNameCharacter(*position_)) ++position_;
    if (position_ == nameStart) return make(TokenKind::Error, start, std::string("expected a name after '") + c + "'");
    return make(c == '%' ? TokenKind::ValueName : TokenKind::FunctionName, start, std::string(nameStart, position_));
  }
  case '-':
    if (position_ != end && *position_ == '>') {
      ++position_;
      return make(TokenKind::Arrow, start);
    }
    return lexNumber(start);
  default: break;
  }
  if (isDigit(c)) return lexNumber(start);
  if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
    while (position_ != end && isNameCharacter(*position_)) ++position_;
    std::string word(start, position_);
    if (word == "inf" || word == "nan") return make(TokenKind::Float, start, word);
    return make(TokenKind::Identifier, start, word);
  }
  unsigned char byte = static_cast<unsigned char>(c);
  return make(TokenKind::Error, start,
              std::isprint(byte) ? fmt::format("unexpected character '{}'", c)
                                 : fmt::format("unexpected byte 0x{:02x} in the text", byte));
}

DecimalScan scanDecimal(const char *position, const char *end) {
  while (position != end && isDigit(*position)) ++position;
  bool isFloat = false;
  if (position != end && *position == '.' && !(position + 1 != end && position[1] == '.')) {
    isFloat = true;
    ++position;
    while (position != end && isDigit(*position)) ++position;
  }
  if (position != end && (*position == 'e' || *position == 'E')) {
    const char *exponent = position + 1;
    if (exponent != end && (*exponent == '+' || *exponent == '-')) ++exponent;
    if (exponent != end && isDigit(*exponent)) {
      isFloat = true;
      position = exponent;
      while (position != end && isDigit(*position)) ++position;
    }
  }
  return {position, isFloat};
}

// integer := '-'? digit+ ; float := '-'? digit+ ('.' digit*)? ([eE] [+-]? digit+)? | '-'? 'inf' | 'nan'
Token Lexer::lexNumber(const char *start) {
  const char *end = buffer_.end();
  bool negative = *start == '-';
  if (negative && end - position_ >= 3 && llvm::StringRef(position_, 3) == "inf" &&
      (end - position_ == 3 || !isNameCharacter(position_[3]))) {
    position_ += 3;
    return make(TokenKind::Float, start, "-inf");
  }
  if (negative && (position_ == end || !isDigit(*position_)))
    return make(TokenKind::Error, start, "expected a number after '-'");
  auto [numberEnd, isFloat] = scanDecimal(position_, end);
  position_ = numberEnd;
  if (position_ != end && isNameCharacter(*position_)) {
    while (position_ != end && isNameCharacter(*position_)) ++position_;
    return make(TokenKind::Error, start, fmt::format("malformed number '{}'", std::string_view(start, position_)));
  }
  return make(isFloat ? TokenKind::Float : TokenKind::Integer, start, std::string(start, position_));
}

// string := '"' (character other than '"', '\\' and newline | '\\' character other than newline)* '"'
Token Lexer::lexString(const char *start) {
  const char *end = buffer_.end();
  std::string contents;
  while (position_ != end && *position_ != '"') {
    if (*position_ == '\\' && position_ + 1 != end) ++position_;
    if (*position_ == '\n') return make(TokenKind::Error, start, "string not closed on its line");
    contents += *position_++;
  }
  if (position_ == end) return make(TokenKind::Error, start, "string not closed before the end of the file");
  ++position_;
  return make(TokenKind::String, start, std::move(contents));
}

}  // namespace kiln::ir_text
