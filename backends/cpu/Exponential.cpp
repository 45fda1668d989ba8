// e^x emitted as arithmetic (no libm call), so that the loops holding it vectorise: softmax's and
// attention's exponentials.
//
// e^x = 2^k e^r with k = round(x / ln 2) and r = x - k ln 2 in [-ln 2 / 2, ln 2 / 2]:
//  1. x is clamped to ±limit first, so that k fits in the exponent arithmetic below; a NaN passes
//     through the clamp.
//  2. r is computed exactly: ln 2 is split into a high part with trailing zero bits (k · high is
//     exact, so x - k · high is too) and a low part.
//  3. e^r by its Taylor polynomial in Horner form (degree 7 for f32, 12 for f64: truncation below
//     2^-27 and 2^-52), each step a multiply-add that the target may fuse (llvm.fmuladd: one FMA
//     instruction where the target has one, which is also one rounding fewer).
//  4. The scaling by 2^k must round once, so that results that are subnormal, zero or infinite
//     come out right: AVX-512's vscalef does it in one instruction; elsewhere, the product with
//     two normal powers of two 2^(k/2) and 2^(k - k/2), of which the first is exact.
#include <numbers>

#include <llvm/IR/IntrinsicsX86.h>

#include "backends/cpu/LoopEmitter.h"

namespace kiln::cpu::loops {

namespace {

// Whether the function being emitted is compiled for the target feature `feature` ("+avx512f").
bool functionHasFeature(llvm::IRBuilder<> &builder, llvm::StringRef feature) {
  llvm::Function *function = builder.GetInsertBlock()->getParent();
  llvm::Attribute features = function->getFnAttribute("target-features");
  if (!features.isValid()) return false;
  llvm::SmallVector<llvm::StringRef, 64> names;
  features.getValueAsString().split(names, ',');
  return llvm::is_contained(names, feature);
}

// vscalef for a vector type of `type` that AVX-512 has one for, else not_intrinsic.
llvm::Intrinsic::ID scaleIntrinsic(llvm::IRBuilder<> &builder, llvm::Type *type) {
  auto *vector = llvm::dyn_cast<llvm::FixedVectorType>(type);
  if (!vector || !functionHasFeature(builder, "+avx512f")) return llvm::Intrinsic::not_intrinsic;
  bool single = vector->getElementType()->isFloatTy();
  unsigned bits = vector->getPrimitiveSizeInBits().getFixedValue();
  if (bits == 512)
    return single ? llvm::Intrinsic::x86_avx512_mask_scalef_ps_512 : llvm::Intrinsic::x86_avx512_mask_scalef_pd_512;
  if (!functionHasFeature(builder, "+avx512vl")) return llvm::Intrinsic::not_intrinsic;
  if (bits == 256)
    return single ? llvm::Intrinsic::x86_avx512_mask_scalef_ps_256 : llvm::Intrinsic::x86_avx512_mask_scalef_pd_256;
  if (bits == 128)
    return single ? llvm::Intrinsic::x86_avx512_mask_scalef_ps_128 : llvm::Intrinsic::x86_avx512_mask_scalef_pd_128;
  return llvm::Intrinsic::not_intrinsic;
}

}  // namespace

llvm::Value *exponential(ElementEmitter &emitter, llvm::Value *x) {
  llvm::IRBuilder<> &builder = emitter.builder;
  llvm::Type *type = x->getType();  // a float or a vector of floats
  bool single = type->getScalarType()->isFloatTy();
  auto constant = [&](double value) { return llvm::ConstantFP::get(type, value); };
  auto multiplyAdd = [&](llvm::Value *a, llvm::Value *b, llvm::Value *c) {
    return builder.CreateIntrinsic(llvm::Intrinsic::fmuladd, {type}, {a, b, c});
  };
  const double limit = single ? 150.0 : 1400.0;
  llvm::Value *clamped = builder.CreateSelect(builder.CreateFCmpOLT(x, constant(-limit)), constant(-limit), x);
  clamped = builder.CreateSelect(builder.CreateFCmpOGT(clamped, constant(limit)), constant(limit), clamped);
  llvm::Value *k =
      emitter.intrinsic(llvm::Intrinsic::rint, {builder.CreateFMul(clamped, constant(std::numbers::log2e))});
  const double high = single ? 0x1.63p-1 : 0x1.62e42fee00000p-1;
  const double low = single ? -2.12194440054690583e-4 : 0x1.a39ef35793c76p-33;
  llvm::Value *negativeK = builder.CreateFNeg(k);
  llvm::Value *r = multiplyAdd(negativeK, constant(low), multiplyAdd(negativeK, constant(high), clamped));
  const int degree = single ? 7 : 12;
  double factorial = 1;
  for (int i = 2; i <= degree; ++i) factorial *= i;
  llvm::Value *polynomial = constant(1.0 / factorial);
  for (int i = degree - 1; i >= 0; --i) {
    factorial = i > 0 ? factorial / (i + 1) : 1;
    polynomial = multiplyAdd(polynomial, r, constant(1.0 / factorial));
  }
  if (llvm::Intrinsic::ID scale = scaleIntrinsic(builder, type); scale != llvm::Intrinsic::not_intrinsic) {
    // polynomial · 2^k, rounded once; a NaN x gives a NaN polynomial and k, and a NaN result.
    unsigned lanes = llvm::cast<llvm::FixedVectorType>(type)->getNumElements();
    llvm::SmallVector<llvm::Value *, 5> arguments{polynomial, k, llvm::PoisonValue::get(type),
                                                  builder.getIntN(std::max(8u, lanes), (1ull << lanes) - 1)};
    if (type->getPrimitiveSizeInBits().getFixedValue() == 512)
      arguments.push_back(builder.getInt32(4));  // MXCSR's rounding
    return builder.CreateIntrinsic(scale, {}, arguments);
  }
  llvm::Type *integer = single ? builder.getInt32Ty() : builder.getInt64Ty();
  if (auto *vector = llvm::dyn_cast<llvm::VectorType>(type)) integer = llvm::VectorType::get(integer, vector);
  llvm::Value *exponent = builder.CreateFPToSI(k, integer);
  llvm::Value *half = builder.CreateAShr(exponent, 1);
  auto power = [&](llvm::Value *n) {
    llvm::Value *biased = builder.CreateAdd(n, llvm::ConstantInt::get(integer, single ? 127 : 1023));
    return builder.CreateBitCast(builder.CreateShl(biased, single ? 23 : 52), type);
  };
  llvm::Value *result =
      builder.CreateFMul(builder.CreateFMul(polynomial, power(half)), power(builder.CreateSub(exponent, half)));
  // fptosi of a NaN k is poison: the select gives NaN back without reading it.
  return builder.CreateSelect(builder.CreateFCmpUNO(x, x), x, result);
}

}  // namespace kiln::cpu::loops
