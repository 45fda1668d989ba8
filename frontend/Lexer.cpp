// The model-language lexer. `#` starts a comment to the end of the line, which also lets lit's
// RUN and CHECK lines live in .kiln test files.
#include "frontend/Lexer.h"

#include <cctype>

#include <llvm/ADT/StringSwitch.h>

#include "ir/Lexer.h"

namespace kiln::lang {

namespace {
bool isDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)); }
bool isWordStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool isWordCharacter(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
}  // namespace

std::string_view describe(TokenKind kind) {
  switch (kind) {
  case TokenKind::EndOfFile: return "end of file";
  case TokenKind::Error: return "invalid text";
  case TokenKind::Identifier: return "identifier";
  case TokenKind::Integer: return "integer";
  case TokenKind::Float: return "float";
  case TokenKind::String: return "string";
  case TokenKind::KwLayer: return "'layer'";
  case TokenKind::KwModel: return "'model'";
  case TokenKind::KwFn: return "'fn'";
  case TokenKind::KwParam: return "'param'";
  case TokenKind::KwLet: return "'let'";
  case TokenKind::KwFor: return "'for'";
  case TokenKind::KwIn: return "'in'";
  case TokenKind::KwIf: return "'if'";
  case TokenKind::KwElse: return "'else'";
  case TokenKind::KwTrain: return "'train'";
  case TokenKind::KwInput: return "'input'";
  case TokenKind::KwLabel: return "'label'";
  case TokenKind::KwDim: return "'dim'";
  case TokenKind::KwTrue: return "'true'";
  case TokenKind::KwFalse: return "'false'";
  case TokenKind::KwAnd: return "'and'";
  case TokenKind::KwOr: return "'or'";
  case TokenKind::KwNot: return "'not'";
  case TokenKind::LeftParen: return "'('";
  case TokenKind::RightParen: return "')'";
  case TokenKind::LeftBracket: return "'['";
  case TokenKind::RightBracket: return "']'";
  case TokenKind::LeftBrace: return "'{'";
  case TokenKind::RightBrace: return "'}'";
  case TokenKind::Comma: return "','";
  case TokenKind::Colon: return "':'";
  case TokenKind::Semicolon: return "';'";
  case TokenKind::Dot: return "'.'";
  case TokenKind::DotDot: return "'..'";
  case TokenKind::Ellipsis: return "'...'";
  case TokenKind::Arrow: return "'->'";
  case TokenKind::Equals: return "'='";
  case TokenKind::EqualEqual: return "'=='";
  case TokenKind::NotEqual: return "'!='";
  case TokenKind::Less: return "'<'";
  case TokenKind::LessEqual: return "'<='";
  case TokenKind::Greater: return "'>'";
  case TokenKind::GreaterEqual: return "'>='";
  case TokenKind::Plus: return "'+'";
  case TokenKind::Minus: return "'-'";
  case TokenKind::Star: return "'*'";
  case TokenKind::StarStar: return "'**'";
  case TokenKind::Slash: return "'/'";
  case TokenKind::Percent: return "'%'";
  case TokenKind::At: return "'@'";
  }
  return "token";
}

Token Lexer::make(TokenKind kind, const char *start, std::string text) {
  Token token{kind, std::move(text),
              llvm::SMRange(llvm::SMLoc::getFromPointer(start), llvm::SMLoc::getFromPointer(position_)), sawNewline_};
  sawNewline_ = false;
  return token;
}

Token Lexer::next() {
  const char *end = buffer_.end();
  while (position_ != end) {
    char c = *position_;
    if (c == '\n') {
      sawNewline_ = true;
      ++position_;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      ++position_;
    } else if (c == '#') {
      while (position_ != end && *position_ != '\n') ++position_;
    } else {
      break;
    }
  }
  const char *start = position_;
  if (position_ == end) return make(TokenKind::EndOfFile, start);

  auto followedBy = [&](char expected) {
    if (position_ != end && *position_ == expected) {
      ++position_;
      return true;
    }
    return false;
  };
  char c = *position_++;
  switch (c) {
  case '(': return make(TokenKind::LeftParen, start);
  case ')': return make(TokenKind::RightParen, start);
  case '[': return make(TokenKind::LeftBracket, start);
  case ']': return make(TokenKind::RightBracket, start);
  case '{': return make(TokenKind::LeftBrace, start);
  case '}': return make(TokenKind::RightBrace, start);
  case ',': return make(TokenKind::Comma, start);
  case ':': return make(TokenKind::Colon, start);
  case ';': return make(TokenKind::Semicolon, start);
  case '+': return make(TokenKind::Plus, start);
  case '*': return make(followedBy('*') ? TokenKind::StarStar : TokenKind::Star, start);
  case '/': return make(TokenKind::Slash, start);
  case '%': return make(TokenKind::Percent, start);
  case '@': return make(TokenKind::At, start);
  case '-': return make(followedBy('>') ? TokenKind::Arrow : TokenKind::Minus, start);
  case '=': return make(followedBy('=') ? TokenKind::EqualEqual : TokenKind::Equals, start);
  case '<': return make(followedBy('=') ? TokenKind::LessEqual : TokenKind::Less, start);
  case '>': return make(followedBy('=') ? TokenKind::GreaterEqual : TokenKind::Greater, start);
  case '!':
    if (followedBy('=')) return make(TokenKind::NotEqual, start);
    return make(TokenKind::Error, start, "unexpected character '!' (write 'not' for negation)");
  case '.':
    if (followedBy('.')) return make(followedBy('.') ? TokenKind::Ellipsis : TokenKind::DotDot, start);
    if (position_ != end && isDigit(*position_)) return lexNumber(start);
    return make(TokenKind::Dot, start);
  case '"': return lexString(start);
  default: break;
  }
  if (isDigit(c)) return lexNumber(start);
  if (isWordStart(c)) return lexWord(start);
  return make(TokenKind::Error, start,
              std::isprint(static_cast<unsigned char>(c)) ? std::string("unexpected character '") + c + "'"
                                                          : "unexpected byte in the text");
}

Token Lexer::lexWord(const char *start) {
  const char *end = buffer_.end();
  while (position_ != end && isWordCharacter(*position_)) ++position_;
  llvm::StringRef word(start, position_ - start);
  TokenKind kind = llvm::StringSwitch<TokenKind>(word)
                       .Case("layer", TokenKind::KwLayer)
                       .Case("model", TokenKind::KwModel)
                       .Case("fn", TokenKind::KwFn)
                       .Case("param", TokenKind::KwParam)
                       .Case("let", TokenKind::KwLet)
                       .Case("for", TokenKind::KwFor)
                       .Case("in", TokenKind::KwIn)
                       .Case("if", TokenKind::KwIf)
                       .Case("else", TokenKind::KwElse)
                       .Case("train", TokenKind::KwTrain)
                       .Case("input", TokenKind::KwInput)
                       .Case("label", TokenKind::KwLabel)
                       .Case("dim", TokenKind::KwDim)
                       .Case("true", TokenKind::KwTrue)
                       .Case("false", TokenKind::KwFalse)
                       .Case("and", TokenKind::KwAnd)
                       .Case("or", TokenKind::KwOr)
                       .Case("not", TokenKind::KwNot)
                       .Default(TokenKind::Identifier);
  return make(kind, start, word.str());
}

// integer := digit+ ; float := digit+ '.' digit* exponent? | digit+ exponent   (so `1.` is 1.0,
//   as in the IR text; both lexers scan with ir_text::scanDecimal)       exponent := [eE] [+-]? digit+
// `0..N` is a range, not the float `0.`: a dot followed by a dot ends the number.
Token Lexer::lexNumber(const char *start) {
  const char *end = buffer_.end();
  auto [numberEnd, isFloat] = ir_text::scanDecimal(start, end);
  position_ = numberEnd;
  if (position_ != end && isWordCharacter(*position_)) {
    while (position_ != end && isWordCharacter(*position_)) ++position_;
    return make(TokenKind::Error, start, "malformed number");
  }
  return make(isFloat ? TokenKind::Float : TokenKind::Integer, start, std::string(start, position_));
}

Token Lexer::lexString(const char *start) {
  const char *end = buffer_.end();
  std::string contents;
  while (position_ != end && *position_ != '"') {
    if (*position_ == '\n') return make(TokenKind::Error, start, "string not closed on its line");
    if (*position_ == '\\' && position_ + 1 != end && position_[1] != '\n') ++position_;
    contents += *position_++;
  }
  if (position_ == end) return make(TokenKind::Error, start, "string not closed before the end of the file");
  ++position_;
  return make(TokenKind::String, start, std::move(contents));
}

}  // namespace kiln::lang
