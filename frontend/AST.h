// The syntax tree of a Kiln model file. Every node keeps the source range it was parsed from,
// an llvm::SMRange into the file's llvm::SourceMgr buffer, so that any later stage can point
// at the text a problem comes from.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <llvm/Support/Casting.h>
#include <llvm/Support/SMLoc.h>
#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/raw_ostream.h>

namespace kiln::lang {

enum class ExprKind {
  Integer,
  Float,
  Bool,
  String,
  Name,
  Member,
  Call,
  Index,
  Unary,
  Binary,
  List,
  Comprehension,
  Tuple,
  Range,
  If
};

struct Expr {
  Expr(ExprKind kind, llvm::SMRange range) : kind(kind), range(range) {}
  virtual ~Expr() = default;
  llvm::SMLoc location() const { return range.Start; }

  const ExprKind kind;
  llvm::SMRange range;
};
using ExprPtr = std::unique_ptr<Expr>;

template <ExprKind Kind> struct ExprOf : Expr {
  explicit ExprOf(llvm::SMRange range) : Expr(Kind, range) {}
  static bool classof(const Expr *expr) { return expr->kind == Kind; }
};

struct IntegerExpr : ExprOf<ExprKind::Integer> {
  using ExprOf::ExprOf;
  int64_t value = 0;
};
struct FloatExpr : ExprOf<ExprKind::Float> {
  using ExprOf::ExprOf;
  double value = 0;
};
struct BoolExpr : ExprOf<ExprKind::Bool> {
  using ExprOf::ExprOf;
  bool value = false;
};
struct StringExpr : ExprOf<ExprKind::String> {
  using ExprOf::ExprOf;
  std::string value;
};
struct NameExpr : ExprOf<ExprKind::Name> {
  using ExprOf::ExprOf;
  std::string name;
};
struct MemberExpr : ExprOf<ExprKind::Member> {
  using ExprOf::ExprOf;
  ExprPtr base;
  std::string member;
  llvm::SMRange memberRange;
};

// `f(x, axis: -1)`: a positional argument has an empty name.
struct Argument {
  std::string name;
  llvm::SMRange nameRange;
  ExprPtr value;
};
struct CallExpr : ExprOf<ExprKind::Call> {
  using ExprOf::ExprOf;
  ExprPtr callee;
  std::vector<Argument> arguments;
};

// One position of `x[i, 2:, ::2]`: an index, or a slice whose bounds may be missing.
struct IndexItem {
  bool isSlice = false;
  ExprPtr index;  // when not a slice
  ExprPtr start, stop, step;
  llvm::SMRange range;
};
struct IndexExpr : ExprOf<ExprKind::Index> {
  using ExprOf::ExprOf;
  ExprPtr base;
  std::vector<IndexItem> items;
};

enum class UnaryOp { Negate, Not };
enum class BinaryOp {
  Add,
  Sub,
  Mul,
  Div,
  Mod,
  MatMul,
  Power,
  Equal,
  NotEqual,
  Less,
  LessEqual,
  Greater,
  GreaterEqual,
  And,
  Or
};
std::string_view spelling(UnaryOp op);
std::string_view spelling(BinaryOp op);

struct UnaryExpr : ExprOf<ExprKind::Unary> {
  using ExprOf::ExprOf;
  UnaryOp op = UnaryOp::Negate;
  ExprPtr operand;
};
struct BinaryExpr : ExprOf<ExprKind::Binary> {
  using ExprOf::ExprOf;
  BinaryOp op = BinaryOp::Add;
  llvm::SMRange operatorRange;
  ExprPtr lhs, rhs;
};
struct ListExpr : ExprOf<ExprKind::List> {
  using ExprOf::ExprOf;
  std::vector<ExprPtr> elements;
};
// `[element for variable in iterable]`
struct ComprehensionExpr : ExprOf<ExprKind::Comprehension> {
  using ExprOf::ExprOf;
  ExprPtr element;
  std::string variable;
  llvm::SMRange variableRange;
  ExprPtr iterable;
};
struct TupleExpr : ExprOf<ExprKind::Tuple> {
  using ExprOf::ExprOf;
  std::vector<ExprPtr> elements;
};
// `start..stop`: the integers start, start + 1, ..., stop - 1.
struct RangeExpr : ExprOf<ExprKind::Range> {
  using ExprOf::ExprOf;
  ExprPtr start, stop;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;

// `{ statement* }`: its value is that of its last statement when that is an expression.
struct Block {
  std::vector<StmtPtr> statements;
  llvm::SMRange range;
};

struct IfExpr : ExprOf<ExprKind::If> {
  using ExprOf::ExprOf;
  ExprPtr condition;
  Block thenBlock;
  std::optional<Block> elseBlock;  // `else if` nests an IfExpr as the else block's only statement
};

enum class StmtKind { Let, Assign, For, Expression };

struct Stmt {
  Stmt(StmtKind kind, llvm::SMRange range) : kind(kind), range(range) {}
  virtual ~Stmt() = default;

  const StmtKind kind;
  llvm::SMRange range;
};

template <StmtKind Kind> struct StmtOf : Stmt {
  explicit StmtOf(llvm::SMRange range) : Stmt(Kind, range) {}
  static bool classof(const Stmt *stmt) { return stmt->kind == Kind; }
};

struct BoundName {
  std::string name;
  llvm::SMRange range;
};

// `let h = ...` or `let (h, c) = ...`
struct LetStmt : StmtOf<StmtKind::Let> {
  using StmtOf::StmtOf;
  std::vector<BoundName> names;
  bool destructures = false;
  ExprPtr value;
};
// `h = ...`: rebinds a name introduced by `let`, as unrolled loops need.
struct AssignStmt : StmtOf<StmtKind::Assign> {
  using StmtOf::StmtOf;
  BoundName target;
  ExprPtr value;
};
struct ForStmt : StmtOf<StmtKind::For> {
  using StmtOf::StmtOf;
  BoundName variable;
  ExprPtr iterable;
  Block body;
};
struct ExprStmt : StmtOf<StmtKind::Expression> {
  using StmtOf::StmtOf;
  ExprPtr expr;
};

// A dimension of a tensor type: `...` (any number of leading axes) or a size expression.
struct DimExpr {
  bool isEllipsis = false;
  ExprPtr size;
  llvm::SMRange range;
};

// `int`, `float`, `bool`, `f32[B, 64]`, `(f32[B, D], f32[B, D])`.
struct TypeExpr {
  enum class Kind { Int, Float, Bool, Tensor, Tuple };
  Kind kind = Kind::Tensor;
  std::string dtype;  // for tensors: f32, f64, i32, i64 or bool
  std::vector<DimExpr> dims;
  std::vector<TypeExpr> elements;  // for tuples
  llvm::SMRange range;
};

// A function parameter, a layer's hyper-parameter, or a train block's input or label.
struct Parameter {
  std::string name;
  llvm::SMRange nameRange;
  std::optional<TypeExpr> type;
  ExprPtr defaultValue;
};

struct FnDecl {
  std::string name;  // empty for a layer's call method `fn (x) { ... }`
  llvm::SMRange nameRange;
  std::vector<Parameter> parameters;
  std::optional<TypeExpr> result;
  Block body;
  llvm::SMRange range;
};

// `param w: f32[n_in, n_out] = glorot_uniform()`
struct ParamDecl {
  std::string name;
  llvm::SMRange nameRange;
  TypeExpr type;
  ExprPtr initializer;
  ExprPtr condition;  // `... if bias`: the parameter exists only when this bool is true
  // `buffer NAME: T = ...`: a tensor of the model that training updates by assignment, not by
  // its gradient (batch norm's running statistics).
  bool isBuffer = false;
};

// `fc1 = Linear(64, 128)` or `head_dim = d / heads` in a layer or model body.
struct MemberDecl {
  std::string name;
  llvm::SMRange nameRange;
  ExprPtr value;
};

// `state m = zeros()` in an optimizer: one tensor per parameter, of the parameter's type, that
// the update method reads and assigns.
struct StateDecl {
  std::string name;
  llvm::SMRange nameRange;
  ExprPtr initializer;
};

// `layer`, `model` and `optimizer` share one form; a model is what `train` and the driver start
// from, and an optimizer (`state` items and a call method `fn (p, g, step)`) is what a train
// block's `optimizer = ...` creates.
struct ComponentDecl {
  bool isModel = false;
  bool isOptimizer = false;
  std::string name;
  llvm::SMRange nameRange;
  std::vector<Parameter> hyperParameters;
  std::vector<MemberDecl> members;
  std::vector<ParamDecl> params;
  std::vector<StateDecl> states;
  std::vector<FnDecl> methods;
  llvm::SMRange range;

  std::string_view keyword() const { return isModel ? "model" : isOptimizer ? "optimizer" : "layer"; }
  const FnDecl *findMethod(std::string_view methodName) const;
};

struct TrainEntry {
  std::string key;
  llvm::SMRange keyRange;
  ExprPtr value;
};

struct TrainDecl {
  std::string modelName;
  llvm::SMRange modelRange;
  std::vector<Parameter> inputs;
  std::vector<Parameter> labels;
  std::vector<TrainEntry> entries;
  llvm::SMRange range;

  const TrainEntry *find(std::string_view key) const;
};

// `dim B = 32`: a default for a symbolic dimension, overridden by `--dim B=...`.
struct DimDecl {
  std::string name;
  llvm::SMRange nameRange;
  ExprPtr value;
};

struct File {
  std::vector<std::unique_ptr<ComponentDecl>> components;
  std::vector<std::unique_ptr<FnDecl>> functions;
  std::vector<std::unique_ptr<TrainDecl>> trains;
  std::vector<DimDecl> dims;
};

// The tree as indented text, one node a line with its line:column, for `kiln build --emit=ast`.
void dump(const File &file, const llvm::SourceMgr &sources, llvm::raw_ostream &out);

}  // namespace kiln::lang
