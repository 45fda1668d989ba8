// Blocks and statements during lowering: `let` and assignments bind names, `for` unrolls, a
// block's last expression is its value; unused names are reported when their scope ends.
#include <fmt/format.h>

#include "frontend/Lowering.h"

namespace kiln::lang {

Object Lowerer::evaluateBlock(const Block &block, Scope &scope) {
  Scope inner(&scope);
  Object last = Object::ofSequence(Object::Kind::Tuple, {});
  for (const StmtPtr &statement : block.statements) {
    if (diagnostics_.tooManyErrors()) return Object::poison();
    last = Object::ofSequence(Object::Kind::Tuple, {});
    execute(*statement, inner, last);
  }
  finishScope(inner);
  return last;
}

// Warns once per declaration about names of the user's file that were bound and never read (the
// standard library's are not the user's to change: sgd reads `step` only with momentum).
void Lowerer::finishScope(Scope &scope) {
  for (const std::string &name : scope.namesInOrder) {
    Binding *binding = scope.findHere(name);
    if (!binding || binding->used || !binding->warnIfUnused || binding->value.isPoison() || name.starts_with("_"))
      continue;
    if (binding->where.isValid() && diagnostics_.sources().FindBufferContainingLoc(binding->where.Start) != userBuffer_)
      continue;
    if (!warnedAt_.insert(binding->where.Start.getPointer()).second) continue;
    diagnostics_.warning(binding->where, fmt::format("unused {} '{}'", binding->role, name));
  }
}

// `xs = xs + [...]`, the way a loop collects its steps, appends to the list in place when no
// other value shares it, so that collecting T steps costs T, not T * T / 2. False when the
// statement has another form; then it is evaluated as written.
bool Lowerer::appendInPlace(const AssignStmt &assign, Scope &scope) {
  const auto *sum = llvm::dyn_cast<BinaryExpr>(assign.value.get());
  const auto *left = sum && sum->op == BinaryOp::Add ? llvm::dyn_cast<NameExpr>(sum->lhs.get()) : nullptr;
  Binding *binding = left && left->name == assign.target.name ? scope.find(left->name) : nullptr;
  if (!binding || !binding->reassignable || binding->value.kind != Object::Kind::List ||
      binding->value.elements.use_count() != 1)
    return false;
  if (!chargeWork(1, left->range)) return true;
  binding->used = true;
  Object tail = evaluate(*sum->rhs, scope);
  if (tail.isPoison()) return true;
  // The right side may have rebound the name or shared the list; then the general path is right.
  if (tail.kind != Object::Kind::List || binding->value.kind != Object::Kind::List ||
      binding->value.elements.use_count() != 1) {
    if (binding->value.kind == Object::Kind::List && tail.kind == Object::Kind::List) {
      if (!admitList(static_cast<int64_t>(binding->value.elements->size() + tail.elements->size()), sum->operatorRange))
        return true;
      std::vector<Object> joined = *binding->value.elements;
      joined.insert(joined.end(), tail.elements->begin(), tail.elements->end());
      binding->value = Object::ofSequence(Object::Kind::List, std::move(joined));
      return true;
    }
    diagnostics_.error(sum->operatorRange,
                       fmt::format("'+' does not apply to {} and {}", describe(binding->value), describe(tail)));
    return true;
  }
  int64_t length = static_cast<int64_t>(binding->value.elements->size() + tail.elements->size());
  if (length > kMaxListLength) return admitList(length, sum->operatorRange), true;
  if (!chargeWork(static_cast<int64_t>(tail.elements->size()), sum->operatorRange)) return true;
  binding->value.elements->insert(binding->value.elements->end(), tail.elements->begin(), tail.elements->end());
  return true;
}

void Lowerer::execute(const Stmt &stmt, Scope &scope, Object &last) {
  switch (stmt.kind) {
  case StmtKind::Expression: last = evaluate(*llvm::cast<ExprStmt>(stmt).expr, scope); return;
  case StmtKind::Let: {
    const auto &let = llvm::cast<LetStmt>(stmt);
    Object value = evaluate(*let.value, scope);
    std::vector<Object> parts;
    if (!let.destructures) {
      parts.push_back(value);
    } else if (value.isSequence() && value.elements->size() == let.names.size()) {
      parts = *value.elements;
    } else {
      if (!value.isPoison())
        diagnostics_.error(let.value->range,
                           fmt::format("expected {} values to unpack, found {}", let.names.size(), describe(value)));
      parts.assign(let.names.size(), Object::poison());
    }
    for (size_t i = 0; i < let.names.size(); ++i) {
      const BoundName &name = let.names[i];
      if (Binding *previous = scope.findHere(name.name); previous && previous->where.isValid()) {
        diagnostics_.error(name.range, fmt::format("'{}' is already defined in this block", name.name));
        diagnostics_.note(previous->where, "defined here");
      }
      if (parts[i].kind == Object::Kind::Tensor && parts[i].tensor->name().empty() && !parts[i].tensor->isArgument())
        parts[i].tensor->setName(name.name);
      Binding binding{parts[i], name.range, false, true, true, "value"};
      scope.define(name.name, binding);
      scope.namesInOrder.push_back(name.name);
    }
    return;
  }
  case StmtKind::Assign: {
    const auto &assign = llvm::cast<AssignStmt>(stmt);
    if (appendInPlace(assign, scope)) return;
    Object value = evaluate(*assign.value, scope);
    Binding *binding = scope.find(assign.target.name);
    if (!binding) {
      diagnostics_.error(assign.target.range,
                         fmt::format("'{}' is not defined; introduce it with 'let'", assign.target.name));
      return;
    }
    if (binding->value.kind == Object::Kind::Parameter) {
      assignBuffer(binding->value, value, assign.target.range);
      return;
    }
    if (!binding->reassignable) {
      diagnostics_.error(
          assign.target.range,
          fmt::format("'{}' cannot be rebound: only names from 'let' and arguments can", assign.target.name));
      return;
    }
    if (value.kind == Object::Kind::Tensor && value.tensor->name().empty() && !value.tensor->isArgument())
      value.tensor->setName(assign.target.name);
    binding->value = value;
    return;
  }
  case StmtKind::For: {
    const auto &loop = llvm::cast<ForStmt>(stmt);
    Object sequence = evaluateSequenceOf(*loop.iterable, scope);
    if (sequence.isPoison()) return;
    for (const Object &element : *sequence.elements) {
      if (!countStep(loop.range) || diagnostics_.tooManyErrors()) return;
      Scope iteration(&scope);
      iteration.define(loop.variable.name, Binding{element, loop.variable.range, true});
      evaluateBlock(loop.body, iteration);
    }
    return;
  }
  }
}

}  // namespace kiln::lang
