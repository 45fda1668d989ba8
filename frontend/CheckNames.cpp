// Names in code that lowering never evaluates: a helper no model calls, or the branch of an `if`
// that the compile-time condition skips, is still checked for names defined nowhere, so that a
// typo there is an error instead of silence. Only names are checked: without a call there are
// no argument shapes to check against.
//
// 1. Names that may be visible: globals (library and user), `--dim` and `dim` sizes, built-ins,
//    dtype names and `inf`; inside a layer its hyper-parameters, members, params, states and
//    methods.
// 2. For each function of the user's file, the names it defines anywhere (parameters, `let`,
//    `for` and comprehension variables, and dimension names in its type annotations) are added:
//    order and nesting are left to lowering, which sees them when the code runs.
// 3. Every other name read is an error, worded as lowering words it, so that code lowered as
//    well reports it once (the diagnostics drop a repeated message at the same place).
#include <fmt/format.h>
#include <llvm/ADT/StringSet.h>

#include "frontend/Lowering.h"

namespace kiln::lang {

namespace {
class NameWalk {
public:
  NameWalk(const llvm::StringSet<> &defined, std::vector<const NameExpr *> &unknown)
      : defined_(defined), unknown_(unknown) {}

  // Step 2: what the function defines, before anything is read.
  void collectDefinitions(const FnDecl &fn) {
    for (const Parameter &parameter : fn.parameters) {
      local_.insert(parameter.name);
      if (parameter.type) collectDimensions(*parameter.type);
    }
    if (fn.result) collectDimensions(*fn.result);
    collect(fn.body);
  }

  void readParameters(const FnDecl &fn) {
    for (const Parameter &parameter : fn.parameters)
      if (parameter.defaultValue) read(*parameter.defaultValue);
    read(fn.body);
  }

private:
  void collectDimensions(const TypeExpr &type) {
    for (const DimExpr &dim : type.dims)
      if (const auto *name = dim.size ? llvm::dyn_cast<NameExpr>(dim.size.get()) : nullptr) local_.insert(name->name);
    for (const TypeExpr &element : type.elements) collectDimensions(element);
  }

  void collect(const Block &block) {
    for (const StmtPtr &statement : block.statements) {
      if (const auto *let = llvm::dyn_cast<LetStmt>(statement.get())) {
        for (const BoundName &name : let->names) local_.insert(name.name);
        collect(*let->value);
      } else if (const auto *loop = llvm::dyn_cast<ForStmt>(statement.get())) {
        local_.insert(loop->variable.name);
        collect(loop->body);
      } else if (const auto *assign = llvm::dyn_cast<AssignStmt>(statement.get())) {
        collect(*assign->value);
      } else if (const auto *expression = llvm::dyn_cast<ExprStmt>(statement.get())) {
        collect(*expression->expr);
      }
    }
  }

  // Blocks inside expressions (`if`) and comprehension variables define names too.
  void collect(const Expr &expr) {
    if (const auto *comprehension = llvm::dyn_cast<ComprehensionExpr>(&expr)) local_.insert(comprehension->variable);
    if (const auto *branch = llvm::dyn_cast<IfExpr>(&expr)) {
      collect(branch->thenBlock);
      if (branch->elseBlock) collect(*branch->elseBlock);
    }
    forEachChild(expr, [&](const Expr &child) { collect(child); });
  }

  void read(const Block &block) {
    for (const StmtPtr &statement : block.statements) {
      if (const auto *let = llvm::dyn_cast<LetStmt>(statement.get()))
        read(*let->value);
      else if (const auto *loop = llvm::dyn_cast<ForStmt>(statement.get()))
        read(*loop->iterable), read(loop->body);
      else if (const auto *assign = llvm::dyn_cast<AssignStmt>(statement.get()))
        read(*assign->value);
      else if (const auto *expression = llvm::dyn_cast<ExprStmt>(statement.get()))
        read(*expression->expr);
    }
  }

  void read(const Expr &expr) {
    if (const auto *name = llvm::dyn_cast<NameExpr>(&expr)) {
      if (!local_.contains(name->name) && !defined_.contains(name->name)) unknown_.push_back(name);
      return;
    }
    if (const auto *branch = llvm::dyn_cast<IfExpr>(&expr)) {
      read(branch->thenBlock);
      if (branch->elseBlock) read(*branch->elseBlock);
    }
    forEachChild(expr, [&](const Expr &child) { read(child); });
  }

  // The sub-expressions of `expr` (not the blocks of an `if`, which the callers walk).
  template <typename Visit> static void forEachChild(const Expr &expr, Visit visit) {
    auto maybe = [&](const ExprPtr &child) {
      if (child) visit(*child);
    };
    switch (expr.kind) {
    case ExprKind::Member: maybe(llvm::cast<MemberExpr>(expr).base); break;
    case ExprKind::Call:
      maybe(llvm::cast<CallExpr>(expr).callee);
      for (const Argument &argument : llvm::cast<CallExpr>(expr).arguments) maybe(argument.value);
      break;
    case ExprKind::Index:
      maybe(llvm::cast<IndexExpr>(expr).base);
      for (const IndexItem &item : llvm::cast<IndexExpr>(expr).items) {
        maybe(item.index), maybe(item.start), maybe(item.stop), maybe(item.step);
      }
      break;
    case ExprKind::Unary: maybe(llvm::cast<UnaryExpr>(expr).operand); break;
    case ExprKind::Binary: maybe(llvm::cast<BinaryExpr>(expr).lhs), maybe(llvm::cast<BinaryExpr>(expr).rhs); break;
    case ExprKind::List:
      for (const ExprPtr &element : llvm::cast<ListExpr>(expr).elements) maybe(element);
      break;
    case ExprKind::Tuple:
      for (const ExprPtr &element : llvm::cast<TupleExpr>(expr).elements) maybe(element);
      break;
    case ExprKind::Comprehension:
      maybe(llvm::cast<ComprehensionExpr>(expr).element), maybe(llvm::cast<ComprehensionExpr>(expr).iterable);
      break;
    case ExprKind::Range: maybe(llvm::cast<RangeExpr>(expr).start), maybe(llvm::cast<RangeExpr>(expr).stop); break;
    case ExprKind::If: maybe(llvm::cast<IfExpr>(expr).condition); break;
    default: break;
    }
  }

  const llvm::StringSet<> &defined_;
  std::vector<const NameExpr *> &unknown_;
  llvm::StringSet<> local_;
};
}  // namespace

void Lowerer::checkNames(const File &user) {
  // Step 1.
  llvm::StringSet<> visible;
  for (const auto &entry : globals_.names()) visible.insert(entry.getKey());
  for (const char *name : {"f32", "f64", "i32", "i64", "bool", "inf", "none"}) visible.insert(name);
  auto isVisible = [&](const llvm::StringSet<> &defined, const std::string &name) {
    return defined.contains(name) || isBuiltin(name);
  };
  std::vector<const NameExpr *> unknown;
  auto checkFunction = [&](const FnDecl &fn, const llvm::StringSet<> &defined) {
    NameWalk walk(defined, unknown);
    walk.collectDefinitions(fn);
    walk.readParameters(fn);
  };
  for (const auto &fn : user.functions) checkFunction(*fn, visible);
  for (const auto &component : user.components) {
    llvm::StringSet<> inside = visible;
    for (const Parameter &parameter : component->hyperParameters) inside.insert(parameter.name);
    for (const MemberDecl &member : component->members) inside.insert(member.name);
    for (const ParamDecl &param : component->params) inside.insert(param.name);
    for (const StateDecl &state : component->states) inside.insert(state.name);
    for (const FnDecl &method : component->methods)
      if (!method.name.empty()) inside.insert(method.name);
    for (const FnDecl &method : component->methods) checkFunction(method, inside);
  }
  // Step 3.
  for (const NameExpr *name : unknown)
    if (!isVisible(visible, name->name)) diagnostics_.error(name->range, fmt::format("unknown name '{}'", name->name));
}

}  // namespace kiln::lang
