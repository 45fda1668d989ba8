// Index-expression rules of gather, the random ops and matmul as a loop (integer matmuls; float
// ones go to the matrix-product template). Gather reads the params element its index operand picks; the random ops run
// Philox-4x32-10 inline on the element's flat index, in i32 arithmetic the loop vectoriser can widen, with the same
// derivation of uniforms and normals as runtime/Random.cpp (which the interpreter calls), so that results agree to the
// last bit.
#include <cmath>
#include <numbers>

#include <llvm/IR/Intrinsics.h>

#include "backends/cpu/LoopEmitter.h"
#include "backends/cpu/MatmulEmitter.h"

namespace kiln::cpu::loops {

namespace {
using llvm::ArrayRef;
using IRValue = llvm::Value;

// result[o, m, n] = params[o, indices[o[:batch_dims], m], n] for o over params' first `axis` axes,
// m over the indices' axes after batch_dims, n over params' axes after `axis`. An index outside
// [0, extent) is clamped into it: the interpreter rejects it at run time, a kernel cannot report
// an error, and a clamped read never leaves the buffer.
IRValue *gather(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  llvm::IRBuilder<> &builder = emitter.builder;
  const Shape &params = op.operand(0)->type().shape, &indices = op.operand(1)->type().shape;
  auto axis = static_cast<size_t>(op.attributes().getInt("axis"));
  auto batchDims = static_cast<size_t>(op.attributes().getInt("batch_dims"));
  size_t middle = indices.size() - batchDims;
  Index indicesIndex(index.begin(), index.begin() + batchDims);
  indicesIndex.append(index.begin() + axis, index.begin() + axis + middle);
  IRValue *picked = emitter.element(op.operand(1), indicesIndex);
  picked = builder.CreateSExtOrTrunc(picked, builder.getInt64Ty());
  picked = builder.CreateSelect(builder.CreateICmpSLT(picked, emitter.index(0)), emitter.index(0), picked);
  picked = builder.CreateSelect(builder.CreateICmpSGT(picked, emitter.index(params[axis] - 1)),
                                emitter.index(params[axis] - 1), picked);
  Index paramsIndex(index.begin(), index.begin() + axis);
  paramsIndex.push_back(picked);
  paramsIndex.append(index.begin() + axis + middle, index.end());
  return emitter.element(op.operand(0), paramsIndex);
}

// The four 32-bit words of Philox-4x32-10 for counter (index, 0) and the 64-bit key.
std::array<IRValue *, 4> philox(llvm::IRBuilder<> &builder, IRValue *key, IRValue *counter) {
  auto *i32 = builder.getInt32Ty();
  auto *i64 = builder.getInt64Ty();
  auto low = [&](IRValue *value) { return builder.CreateTrunc(value, i32); };
  auto high = [&](IRValue *value) { return builder.CreateTrunc(builder.CreateLShr(value, 32), i32); };
  std::array<IRValue *, 4> words{low(counter), high(counter), builder.getInt32(0), builder.getInt32(0)};
  IRValue *key0 = low(key), *key1 = high(key);
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key0 = builder.CreateAdd(key0, builder.getInt32(0x9E3779B9));
      key1 = builder.CreateAdd(key1, builder.getInt32(0xBB67AE85));
    }
    IRValue *product0 = builder.CreateMul(builder.getInt64(0xD2511F53), builder.CreateZExt(words[0], i64));
    IRValue *product1 = builder.CreateMul(builder.getInt64(0xCD9E8D57), builder.CreateZExt(words[2], i64));
    words = {builder.CreateXor(builder.CreateXor(high(product1), words[1]), key0), low(product1),
             builder.CreateXor(builder.CreateXor(high(product0), words[3]), key1), low(product0)};
  }
  return words;
}

// The top 53 bits of (high, low) times 2^-53: a double in [0, 1), exact.
IRValue *unitInterval(llvm::IRBuilder<> &builder, IRValue *high, IRValue *low) {
  auto *i64 = builder.getInt64Ty();
  IRValue *bits = builder.CreateOr(builder.CreateShl(builder.CreateZExt(high, i64), 32), builder.CreateZExt(low, i64));
  IRValue *scaled = builder.CreateUIToFP(builder.CreateLShr(bits, 11), builder.getDoubleTy());
  return builder.CreateFMul(scaled, llvm::ConstantFP::get(builder.getDoubleTy(), 0x1.0p-53));
}

// c[..., i, j] = sum_k a[..., i, k] b[..., k, j], batch axes broadcast, a and b optionally read
// transposed. Integers wrap in their dtype as the interpreter's; floats are summed in double and
// rounded once, as the interpreter's are (exact, but without the template's speed).
IRValue *matrixProduct(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  llvm::IRBuilder<> &builder = emitter.builder;
  const Value *a = op.operand(0), *b = op.operand(1);
  const Shape &result = op.result()->type().shape, &aShape = a->type().shape, &bShape = b->type().shape;
  bool transposeA = op.attributes().getBool("transpose_a"), transposeB = op.attributes().getBool("transpose_b");
  int64_t depth = transposeA ? aShape[aShape.size() - 2] : aShape.back();
  DType dtype = op.result()->type().dtype;
  DType sumType = isFloat(dtype) ? DType::F64 : dtype;
  IRValue *row = index[index.size() - 2], *column = index.back();
  // The operand's index for (its batch axes broadcast from the result's, matrix row, matrix column).
  auto operandIndex = [&](const Shape &shape, IRValue *first, IRValue *second, bool transposed) {
    Shape batch(shape.begin(), shape.end() - 2), resultBatch(result.begin(), result.end() - 2);
    Index at = emitter.broadcastIndex(batch, resultBatch, index.drop_back(2));
    at.push_back(transposed ? second : first);
    at.push_back(transposed ? first : second);
    return at;
  };
  auto sum = matmul::emitLoop(
      builder, emitter.index(depth), {emitter.constant(sumType, 0)},
      [&](IRValue *k, const std::vector<IRValue *> &carried) {
        IRValue *x = emitter.convert(emitter.element(a, operandIndex(aShape, row, k, transposeA)), dtype, sumType);
        IRValue *y = emitter.convert(emitter.element(b, operandIndex(bShape, k, column, transposeB)), dtype, sumType);
        IRValue *product = isFloat(dtype) ? builder.CreateFMul(x, y) : builder.CreateMul(x, y);
        return std::vector<IRValue *>{isFloat(dtype) ? builder.CreateFAdd(carried[0], product)
                                                     : builder.CreateAdd(carried[0], product)};
      });
  return emitter.convert(sum[0], sumType, dtype);
}

IRValue *random(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  llvm::IRBuilder<> &builder = emitter.builder;
  auto *f64 = builder.getDoubleTy();
  auto constant = [&](double value) { return llvm::ConstantFP::get(f64, value); };
  DType dtype = op.result()->type().dtype;
  IRValue *key = emitter.element(op.operand(0), {});
  std::array<IRValue *, 4> words = philox(builder, key, emitter.linearOffset(op.result()->type().shape, index));
  IRValue *first = unitInterval(builder, words[0], words[1]);
  const Attributes &attributes = op.attributes();
  switch (op.kind()) {
  case OpKind::RandomUniform: {
    // low + (high - low) u, kept below high after rounding to the dtype when low < high.
    double low = attributes.getFloat("low"), high = attributes.getFloat("high");
    IRValue *value = builder.CreateFAdd(constant(low), builder.CreateFMul(constant(high - low), first));
    if (dtype == DType::F32) {
      IRValue *rounded = builder.CreateFPTrunc(value, builder.getFloatTy());
      if (!(low < high)) return rounded;
      auto highSingle = static_cast<float>(high);
      IRValue *below = llvm::ConstantFP::get(builder.getFloatTy(), std::nextafter(highSingle, static_cast<float>(low)));
      return builder.CreateSelect(
          builder.CreateFCmpOGE(rounded, llvm::ConstantFP::get(builder.getFloatTy(), highSingle)), below, rounded);
    }
    if (!(low < high)) return value;
    return builder.CreateSelect(builder.CreateFCmpOGE(value, constant(high)), constant(std::nextafter(high, low)),
                                value);
  }
  case OpKind::RandomNormal: {
    // Box–Muller: sqrt(-2 log(1 - u1)) cos(2 pi u2), then mean + stddev z, with glibc's scalar log
    // and cos, so that every path draws the same numbers.
    IRValue *second = unitInterval(builder, words[2], words[3]);
    IRValue *logarithm = emitter.libm("log", builder.CreateFSub(constant(1.0), first), false);
    IRValue *radius = emitter.intrinsic(llvm::Intrinsic::sqrt, {builder.CreateFMul(constant(-2.0), logarithm)});
    IRValue *angle = builder.CreateFMul(constant(2.0 * std::numbers::pi), second);
    IRValue *normal = builder.CreateFMul(radius, emitter.libm("cos", angle, false));
    IRValue *value = builder.CreateFAdd(constant(attributes.getFloat("mean")),
                                        builder.CreateFMul(constant(attributes.getFloat("stddev")), normal));
    return emitter.convert(value, DType::F64, dtype);
  }
  case OpKind::RandomBernoulli: {
    IRValue *hit = builder.CreateFCmpOLT(first, constant(attributes.getFloat("p")));
    return emitter.convert(hit, DType::I1, dtype);
  }
  default: llvm_unreachable("not a random op");
  }
}
}  // namespace

LoopRule indexRule(OpKind kind) {
  switch (kind) {
  case OpKind::Gather: return gather;
  case OpKind::Matmul: return matrixProduct;
  case OpKind::RandomUniform:
  case OpKind::RandomNormal:
  case OpKind::RandomBernoulli: return random;
  default: return nullptr;
  }
}

}  // namespace kiln::cpu::loops
