// The parseModule(StringRef) API: good text gives a module that prints back the same, bad text
// gives an error whose message carries the buffer name, line and column.
#include <gtest/gtest.h>

#include "ir/Parser.h"
#include "ir/Printer.h"

namespace kiln {
namespace {

constexpr const char *kTwoFunctions = R"(func @f(%x: f32[2,3], %b: f32[3]) -> f32[2,3] {
  %y = add %x, %b : f32[2,3]
  %z = relu %y : f32[2,3] loc("model.kiln":4:7)
  return %z
}

func @g(%k: i64[]) -> (f64[2], i64[]) {
  %r = random_normal %k {stddev = 0.5} : f64[2]
  return %r, %k
}
)";

TEST(Parser, GoodTextGivesAModuleThatPrintsTheSame) {
  auto module = parseModule(kTwoFunctions);
  ASSERT_TRUE(static_cast<bool>(module)) << llvm::toString(module.takeError());
  ASSERT_EQ((*module)->functions().size(), 2u);
  const Function &first = *(*module)->functions()[0];
  EXPECT_EQ(first.name(), "f");
  ASSERT_EQ(first.ops().size(), 2u);
  EXPECT_EQ(first.ops().back()->kind(), OpKind::Relu);
  EXPECT_EQ(first.ops().back()->location(), (Location{"model.kiln", 4, 7}));
  EXPECT_EQ(first.results().front()->type(), (TensorType{DType::F32, {2, 3}}));
  EXPECT_EQ((*module)->lookup("g")->results().size(), 2u);
  EXPECT_EQ(toString(**module), kTwoFunctions);
}

TEST(Parser, EmptyTextIsAnEmptyModule) {
  auto module = parseModule("  // nothing but a comment\n");
  ASSERT_TRUE(static_cast<bool>(module)) << llvm::toString(module.takeError());
  EXPECT_TRUE((*module)->functions().empty());
}

std::string errorOf(llvm::StringRef text) {
  auto module = parseModule(text, "input.kir");
  if (module) return "no error";
  return llvm::toString(module.takeError());
}

TEST(Parser, ErrorsCarryBufferLineAndColumn) {
  EXPECT_NE(errorOf("func @f() -> f32[] {\n  %y = frobnicate : f32[]\n")
                .find("input.kir:2:8: error: unknown op 'frobnicate'"),
            std::string::npos);
  EXPECT_NE(errorOf("func @f(%x: f32[2]) -> f32[2] {\n  return %y\n}\n")
                .find("input.kir:2:10: error: use of undefined value %y"),
            std::string::npos);
  EXPECT_NE(
      errorOf("\n\n   func").find("input.kir:3:8: error: expected a function name such as @forward, found end of file"),
      std::string::npos);
}

TEST(Parser, ErrorsShowTheLineAndACaret) {
  std::string message = errorOf("func @f(%x: f16[2]) -> f32[2] {\n");
  EXPECT_NE(message.find("input.kir:1:13: error: unknown dtype 'f16'"), std::string::npos) << message;
  EXPECT_NE(message.find("func @f(%x: f16[2]) -> f32[2] {\n            ^"), std::string::npos) << message;
}

TEST(Parser, HostileTextIsRefusedNotObeyed) {
  // The very first token is already an error.
  EXPECT_EQ(errorOf("%").substr(0, 47), "input.kir:1:1: error: expected a name after '%'");
  EXPECT_NE(errorOf("\xff").find("input.kir:1:1: error: unexpected byte 0xff in the text"), std::string::npos);
  EXPECT_NE(errorOf(std::string("func @f(\0) -> f32[] {", 21)).find("input.kir:1:9: error: unexpected byte 0x00"),
            std::string::npos);
  EXPECT_NE(errorOf("func @f(%x: f32[1099511627776,2]) -> f32[] {").find("has more than 2^40 elements"),
            std::string::npos);
  EXPECT_NE(errorOf(std::string(100000, '[')).find("input.kir:1:1: error: expected 'func'"), std::string::npos);
}

}  // namespace
}  // namespace kiln
