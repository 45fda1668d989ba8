// Operator spellings, lookups on declarations, and the indented dump of the tree.
#include "frontend/AST.h"

#include <fmt/format.h>

#include "ir/Attributes.h"

namespace kiln::lang {

std::string_view spelling(UnaryOp op) { return op == UnaryOp::Negate ? "-" : "not"; }

std::string_view spelling(BinaryOp op) {
  switch (op) {
  case BinaryOp::Add: return "+";
  case BinaryOp::Sub: return "-";
  case BinaryOp::Mul: return "*";
  case BinaryOp::Div: return "/";
  case BinaryOp::Mod: return "%";
  case BinaryOp::MatMul: return "@";
  case BinaryOp::Power: return "**";
  case BinaryOp::Equal: return "==";
  case BinaryOp::NotEqual: return "!=";
  case BinaryOp::Less: return "<";
  case BinaryOp::LessEqual: return "<=";
  case BinaryOp::Greater: return ">";
  case BinaryOp::GreaterEqual: return ">=";
  case BinaryOp::And: return "and";
  case BinaryOp::Or: return "or";
  }
  return "?";
}

const FnDecl *ComponentDecl::findMethod(std::string_view methodName) const {
  for (const FnDecl &method : methods)
    if (method.name == methodName) return &method;
  return nullptr;
}

const TrainEntry *TrainDecl::find(std::string_view key) const {
  for (const TrainEntry &entry : entries)
    if (entry.key == key) return &entry;
  return nullptr;
}

namespace {
class Dumper {
public:
  Dumper(const llvm::SourceMgr &sources, llvm::raw_ostream &out) : sources_(sources), out_(out) {}

  void file(const File &file) {
    for (const DimDecl &dim : file.dims) {
      line(dim.nameRange, fmt::format("dim {}", dim.name));
      nested([&] { expr(*dim.value); });
    }
    for (const auto &component : file.components) this->component(*component);
    for (const auto &function : file.functions) fn(*function);
    for (const auto &trainDecl : file.trains) train(*trainDecl);
  }

private:
  template <typename Body> void nested(Body body) {
    ++depth_;
    body();
    --depth_;
  }

  void line(llvm::SMRange range, const std::string &text) {
    auto [lineNumber, column] = sources_.getLineAndColumn(range.Start);
    out_ << std::string(2 * depth_, ' ') << text << " <" << lineNumber << ":" << column << ">\n";
  }

  void component(const ComponentDecl &decl) {
    line(decl.nameRange, fmt::format("{} {}", decl.keyword(), decl.name));
    nested([&] {
      for (const Parameter &hyper : decl.hyperParameters) parameter("hyper", hyper);
      for (const MemberDecl &member : decl.members) {
        line(member.nameRange, fmt::format("member {}", member.name));
        nested([&] { expr(*member.value); });
      }
      for (const ParamDecl &param : decl.params) {
        line(param.nameRange,
             fmt::format("{} {}: {}", param.isBuffer ? "buffer" : "param", param.name, type(param.type)));
        nested([&] {
          expr(*param.initializer);
          if (param.condition) expr(*param.condition);
        });
      }
      for (const StateDecl &state : decl.states) {
        line(state.nameRange, fmt::format("state {}", state.name));
        nested([&] { expr(*state.initializer); });
      }
      for (const FnDecl &method : decl.methods) fn(method);
    });
  }

  void parameter(std::string_view role, const Parameter &parameter) {
    line(parameter.nameRange,
         fmt::format("{} {}{}", role, parameter.name, parameter.type ? ": " + type(*parameter.type) : ""));
    if (parameter.defaultValue) nested([&] { expr(*parameter.defaultValue); });
  }

  void fn(const FnDecl &decl) {
    line(decl.nameRange, fmt::format("fn {}{}", decl.name.empty() ? "<call>" : decl.name,
                                     decl.result ? " -> " + type(*decl.result) : ""));
    nested([&] {
      for (const Parameter &parameter : decl.parameters) this->parameter("arg", parameter);
      block(decl.body);
    });
  }

  void train(const TrainDecl &decl) {
    line(decl.modelRange, fmt::format("train {}", decl.modelName));
    nested([&] {
      for (const Parameter &input : decl.inputs) parameter("input", input);
      for (const Parameter &label : decl.labels) parameter("label", label);
      for (const TrainEntry &entry : decl.entries) {
        line(entry.keyRange, fmt::format("entry {}", entry.key));
        nested([&] { expr(*entry.value); });
      }
    });
  }

  std::string type(const TypeExpr &type) {
    switch (type.kind) {
    case TypeExpr::Kind::Int: return "int";
    case TypeExpr::Kind::Float: return "float";
    case TypeExpr::Kind::Bool: return "bool";
    case TypeExpr::Kind::Tuple: {
      std::string text = "(";
      for (size_t i = 0; i < type.elements.size(); ++i) text += (i ? ", " : "") + this->type(type.elements[i]);
      return text + ")";
    }
    case TypeExpr::Kind::Tensor: {
      std::string text = type.dtype + "[";
      for (size_t i = 0; i < type.dims.size(); ++i) {
        if (i) text += ", ";
        text += type.dims[i].isEllipsis ? "..." : inlineExpr(*type.dims[i].size);
      }
      return text + "]";
    }
    }
    return "?";
  }

  // Dimension expressions are short: printed on the type's line rather than as a subtree.
  std::string inlineExpr(const Expr &node) {
    if (const auto *integer = llvm::dyn_cast<IntegerExpr>(&node)) return std::to_string(integer->value);
    if (const auto *name = llvm::dyn_cast<NameExpr>(&node)) return name->name;
    if (const auto *binary = llvm::dyn_cast<BinaryExpr>(&node))
      return fmt::format("({} {} {})", inlineExpr(*binary->lhs), spelling(binary->op), inlineExpr(*binary->rhs));
    return "<expr>";
  }

  void block(const Block &block) {
    line(block.range, "block");
    nested([&] {
      for (const StmtPtr &statement : block.statements) stmt(*statement);
    });
  }

  void stmt(const Stmt &node) {
    if (const auto *let = llvm::dyn_cast<LetStmt>(&node)) {
      std::string names;
      for (size_t i = 0; i < let->names.size(); ++i) names += (i ? ", " : "") + let->names[i].name;
      line(node.range, fmt::format("let {}", let->destructures ? "(" + names + ")" : names));
      nested([&] { expr(*let->value); });
    } else if (const auto *assign = llvm::dyn_cast<AssignStmt>(&node)) {
      line(node.range, fmt::format("assign {}", assign->target.name));
      nested([&] { expr(*assign->value); });
    } else if (const auto *loop = llvm::dyn_cast<ForStmt>(&node)) {
      line(node.range, fmt::format("for {}", loop->variable.name));
      nested([&] {
        expr(*loop->iterable);
        block(loop->body);
      });
    } else if (const auto *expression = llvm::dyn_cast<ExprStmt>(&node)) {
      expr(*expression->expr);
    }
  }

  void expr(const Expr &node) {
    switch (node.kind) {
    case ExprKind::Integer: return line(node.range, fmt::format("int {}", llvm::cast<IntegerExpr>(node).value));
    case ExprKind::Float:
      return line(node.range, fmt::format("float {}", formatFloat(llvm::cast<FloatExpr>(node).value)));
    case ExprKind::Bool: return line(node.range, llvm::cast<BoolExpr>(node).value ? "bool true" : "bool false");
    case ExprKind::String: return line(node.range, fmt::format("string \"{}\"", llvm::cast<StringExpr>(node).value));
    case ExprKind::Name: return line(node.range, fmt::format("name {}", llvm::cast<NameExpr>(node).name));
    case ExprKind::Member: {
      const auto &member = llvm::cast<MemberExpr>(node);
      line(node.range, fmt::format("member .{}", member.member));
      return nested([&] { expr(*member.base); });
    }
    case ExprKind::Call: {
      const auto &call = llvm::cast<CallExpr>(node);
      line(node.range, "call");
      return nested([&] {
        expr(*call.callee);
        for (const Argument &argument : call.arguments) {
          if (argument.name.empty()) {
            expr(*argument.value);
          } else {
            line(argument.nameRange, fmt::format("named {}", argument.name));
            nested([&] { expr(*argument.value); });
          }
        }
      });
    }
    case ExprKind::Index: {
      const auto &index = llvm::cast<IndexExpr>(node);
      line(node.range, "index");
      return nested([&] {
        expr(*index.base);
        for (const IndexItem &item : index.items) indexItem(item);
      });
    }
    case ExprKind::Unary: {
      const auto &unary = llvm::cast<UnaryExpr>(node);
      line(node.range, fmt::format("unary {}", spelling(unary.op)));
      return nested([&] { expr(*unary.operand); });
    }
    case ExprKind::Binary: {
      const auto &binary = llvm::cast<BinaryExpr>(node);
      line(binary.operatorRange, fmt::format("binary {}", spelling(binary.op)));
      return nested([&] {
        expr(*binary.lhs);
        expr(*binary.rhs);
      });
    }
    case ExprKind::List: return sequence(node.range, "list", llvm::cast<ListExpr>(node).elements);
    case ExprKind::Tuple: return sequence(node.range, "tuple", llvm::cast<TupleExpr>(node).elements);
    case ExprKind::Comprehension: {
      const auto &comprehension = llvm::cast<ComprehensionExpr>(node);
      line(node.range, fmt::format("comprehension for {}", comprehension.variable));
      return nested([&] {
        expr(*comprehension.iterable);
        expr(*comprehension.element);
      });
    }
    case ExprKind::Range: {
      const auto &range = llvm::cast<RangeExpr>(node);
      line(node.range, "range");
      return nested([&] {
        expr(*range.start);
        expr(*range.stop);
      });
    }
    case ExprKind::If: {
      const auto &conditional = llvm::cast<IfExpr>(node);
      line(node.range, "if");
      return nested([&] {
        expr(*conditional.condition);
        block(conditional.thenBlock);
        if (conditional.elseBlock) block(*conditional.elseBlock);
      });
    }
    }
  }

  void sequence(llvm::SMRange range, std::string_view title, const std::vector<ExprPtr> &elements) {
    line(range, std::string(title));
    nested([&] {
      for (const ExprPtr &element : elements) expr(*element);
    });
  }

  void indexItem(const IndexItem &item) {
    if (!item.isSlice) return expr(*item.index);
    line(item.range, "slice");
    nested([&] {
      for (const ExprPtr *bound : {&item.start, &item.stop, &item.step}) {
        if (*bound)
          expr(**bound);
        else
          line(item.range, "none");
      }
    });
  }

  const llvm::SourceMgr &sources_;
  llvm::raw_ostream &out_;
  int depth_ = 0;
};
}  // namespace

void dump(const File &file, const llvm::SourceMgr &sources, llvm::raw_ostream &out) { Dumper(sources, out).file(file); }

}  // namespace kiln::lang
