// The program table, the library functions and their C header. The table's LLVM types mirror the
// C structs of runtime/ProgramTable.h field by field; x86-64's data layout pads them the same way.
#include "backends/cpu/Exports.h"

#include <cctype>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/IRBuilder.h>

#include "runtime/ProgramTable.h"

namespace kiln::cpu {

namespace {
int32_t tableDType(DType dtype) {
  switch (dtype) {
  case DType::F32: return KILN_F32;
  case DType::F64: return KILN_F64;
  case DType::I32: return KILN_I32;
  case DType::I64: return KILN_I64;
  case DType::I1: return KILN_I1;
  }
  return KILN_F32;
}

int32_t tableRole(ArgumentRole role) {
  switch (role) {
  case ArgumentRole::None: return KILN_ROLE_NONE;
  case ArgumentRole::Input: return KILN_ROLE_INPUT;
  case ArgumentRole::Label: return KILN_ROLE_LABEL;
  case ArgumentRole::Parameter: return KILN_ROLE_PARAMETER;
  case ArgumentRole::OptimizerState: return KILN_ROLE_STATE;
  case ArgumentRole::Buffer: return KILN_ROLE_BUFFER;
  case ArgumentRole::Key: return KILN_ROLE_KEY;
  }
  return KILN_ROLE_NONE;
}

std::string_view cType(DType dtype) {
  switch (dtype) {
  case DType::F32: return "float";
  case DType::F64: return "double";
  case DType::I32: return "int32_t";
  case DType::I64: return "int64_t";
  case DType::I1: return "bool";
  }
  return "void";
}

// Constant data of the table, each a private global.
class TableBuilder {
public:
  explicit TableBuilder(llvm::Module &module)
      : module_(module), context_(module.getContext()), pointer_(llvm::PointerType::get(context_, 0)),
        i32_(llvm::Type::getInt32Ty(context_)), i64_(llvm::Type::getInt64Ty(context_)),
        tensorInfo_(llvm::StructType::get(context_, {pointer_, i32_, i32_, i32_, pointer_})),
        functionInfo_(llvm::StructType::get(context_, {pointer_, pointer_, i32_, i32_, pointer_, pointer_})),
        training_(llvm::StructType::get(
            context_, {pointer_, pointer_, i64_, i64_, llvm::Type::getDoubleTy(context_), i64_, i64_, i32_, pointer_})),
        table_(llvm::StructType::get(context_, {i32_, i32_, pointer_, pointer_, pointer_})) {}

  llvm::Constant *string(std::string_view text) {
    return privateGlobal(llvm::ConstantDataArray::getString(context_, llvm::StringRef(text.data(), text.size())),
                         "kiln.string");
  }

  llvm::Constant *tensorInfo(std::string_view name, ArgumentRole role, const TensorType &type) {
    std::vector<llvm::Constant *> extents;
    for (int64_t extent : type.shape) extents.push_back(llvm::ConstantInt::get(i64_, extent));
    llvm::Constant *shape =
        extents.empty() ? llvm::ConstantPointerNull::get(pointer_)
                        : privateGlobal(llvm::ConstantArray::get(llvm::ArrayType::get(i64_, extents.size()), extents),
                                        "kiln.shape");
    return llvm::ConstantStruct::get(tensorInfo_,
                                     {string(name), constant32(tableRole(role)), constant32(tableDType(type.dtype)),
                                      constant32(int32_t(type.shape.size())), shape});
  }

  llvm::Constant *array(llvm::StructType *element, const std::vector<llvm::Constant *> &elements, const char *name) {
    if (elements.empty()) return llvm::ConstantPointerNull::get(pointer_);
    return privateGlobal(llvm::ConstantArray::get(llvm::ArrayType::get(element, elements.size()), elements), name);
  }

  llvm::Constant *constant32(int32_t value) { return llvm::ConstantInt::get(i32_, value, /*IsSigned=*/true); }
  llvm::Constant *constant64(int64_t value) { return llvm::ConstantInt::get(i64_, value, /*IsSigned=*/true); }

  // A KilnTrainingInfo; a relative data path is made absolute, so the program finds its data from
  // any directory.
  llvm::Constant *training(const TrainingSettings &settings) {
    std::vector<llvm::Constant *> metrics;
    for (const std::string &metric : settings.metrics) metrics.push_back(string(metric));
    std::string data = settings.data;
    if (!data.empty() && !data.starts_with("generated:")) data = std::filesystem::absolute(data).lexically_normal();
    llvm::Constant *info = llvm::ConstantStruct::get(
        training_,
        {string(settings.model), string(data), constant64(settings.batch), constant64(settings.epochs),
         llvm::ConstantFP::get(llvm::Type::getDoubleTy(context_), settings.validationSplit),
         constant64(settings.earlyStopping), constant64(settings.seed), constant32(int32_t(metrics.size())),
         metrics.empty()
             ? llvm::ConstantPointerNull::get(pointer_)
             : privateGlobal(llvm::ConstantArray::get(llvm::ArrayType::get(pointer_, metrics.size()), metrics),
                             "kiln.metrics")});
    return privateGlobal(info, "kiln.training");
  }

  llvm::StructType *tensorInfoType() const { return tensorInfo_; }
  llvm::StructType *functionInfoType() const { return functionInfo_; }
  llvm::StructType *tableType() const { return table_; }

private:
  llvm::Constant *privateGlobal(llvm::Constant *value, const char *name) {
    auto *global = new llvm::GlobalVariable(module_, value->getType(), /*isConstant=*/true,
                                            llvm::GlobalValue::PrivateLinkage, value, name);
    global->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
    return global;
  }

  llvm::Module &module_;
  llvm::LLVMContext &context_;
  llvm::PointerType *pointer_;
  llvm::IntegerType *i32_, *i64_;
  llvm::StructType *tensorInfo_, *functionInfo_, *training_, *table_;
};
}  // namespace

std::string entrySymbol(std::string_view functionName) { return fmt::format("kiln_func_{}", functionName); }

std::string cIdentifier(std::string_view name) {
  std::string identifier(name);
  for (char &c : identifier)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  if (identifier.empty() || std::isdigit(static_cast<unsigned char>(identifier[0]))) identifier.insert(0, "_");
  return identifier;
}

void emitProgramTable(llvm::Module &module, const Module &source, std::string_view modelName) {
  TableBuilder builder(module);
  std::vector<llvm::Constant *> functions;
  for (const auto &function : source.functions()) {
    llvm::Function *entry = module.getFunction(entrySymbol(function->name()));
    if (function->isKernel() || !entry) continue;
    std::vector<llvm::Constant *> arguments, results;
    for (size_t i = 0; i < function->arguments().size(); ++i)
      arguments.push_back(
          builder.tensorInfo(function->argument(i)->name(), function->role(i), function->argument(i)->type()));
    for (size_t i = 0; i < function->results().size(); ++i)
      results.push_back(
          builder.tensorInfo(fmt::format("result{}", i), ArgumentRole::None, function->results()[i]->type()));
    functions.push_back(llvm::ConstantStruct::get(builder.functionInfoType(),
                                                  {builder.string(function->name()), entry,
                                                   builder.constant32(int32_t(arguments.size())),
                                                   builder.constant32(int32_t(results.size())),
                                                   builder.array(builder.tensorInfoType(), arguments, "kiln.arguments"),
                                                   builder.array(builder.tensorInfoType(), results, "kiln.results")}));
  }
  llvm::Constant *table = llvm::ConstantStruct::get(
      builder.tableType(),
      {builder.constant32(KILN_PROGRAM_TABLE_VERSION), builder.constant32(int32_t(functions.size())),
       builder.string(modelName), builder.array(builder.functionInfoType(), functions, "kiln.functions"),
       source.training ? builder.training(*source.training)
                       : llvm::ConstantPointerNull::get(llvm::PointerType::get(module.getContext(), 0))});
  new llvm::GlobalVariable(module, builder.tableType(), /*isConstant=*/true, llvm::GlobalValue::ExternalLinkage, table,
                           "kiln_program_table");
}

void emitLibraryFunctions(llvm::Module &module, const Module &source, std::string_view prefix) {
  llvm::LLVMContext &context = module.getContext();
  llvm::IRBuilder<> builder(context);
  auto *pointer = builder.getPtrTy();
  for (const auto &function : source.functions()) {
    llvm::Function *entry = module.getFunction(entrySymbol(function->name()));
    if (function->isKernel() || !entry) continue;
    size_t argumentCount = function->arguments().size(), resultCount = function->results().size();
    auto *type = llvm::FunctionType::get(builder.getVoidTy(),
                                         std::vector<llvm::Type *>(argumentCount + resultCount, pointer), false);
    auto *wrapper = llvm::Function::Create(type, llvm::Function::ExternalLinkage,
                                           fmt::format("{}_{}", prefix, cIdentifier(function->name())), module);
    builder.SetInsertPoint(llvm::BasicBlock::Create(context, "entry", wrapper));
    auto pack = [&](size_t first, size_t count) {
      llvm::Value *array = builder.CreateAlloca(pointer, builder.getInt64(std::max<size_t>(count, 1)));
      for (size_t i = 0; i < count; ++i)
        builder.CreateStore(wrapper->getArg(unsigned(first + i)),
                            builder.CreateConstInBoundsGEP1_64(pointer, array, i));
      return array;
    };
    llvm::Value *arguments = pack(0, argumentCount);
    llvm::Value *results = pack(argumentCount, resultCount);
    builder.CreateCall(entry, {arguments, results});
    builder.CreateRetVoid();
  }
}

std::string libraryHeader(std::span<const Function *const> functions, std::string_view prefix,
                          std::string_view modelName) {
  std::string guard = fmt::format("KILN_{}_H", cIdentifier(prefix));
  for (char &c : guard) c = char(std::toupper(static_cast<unsigned char>(c)));
  std::string text =
      fmt::format("// The functions of {0}, compiled by Kiln (`kiln build --emit=lib`). Every tensor is a pointer to\n"
                  "// its elements in row-major order; arguments are read, results written. Link the library with\n"
                  "// the C++ standard library, fmt and threads (e.g. -lstdc++ -lfmt -lpthread -lm).\n"
                  "#ifndef {1}\n#define {1}\n\n#include <stdbool.h>\n#include <stdint.h>\n\n"
                  "#ifdef __cplusplus\nextern \"C\" {{\n#endif\n",
                  modelName, guard);
  for (const Function *function : functions) {
    std::vector<std::string> parameters;
    for (size_t i = 0; i < function->arguments().size(); ++i) {
      const Value &argument = *function->argument(i);
      std::string_view role = argumentRoleKeyword(function->role(i));
      parameters.push_back(fmt::format("    const {} *{}{}  /* {}{}{} */", cType(argument.type().dtype),
                                       cIdentifier(argument.name()), ",", role, role.empty() ? "" : " ",
                                       toString(argument.type())));
    }
    for (size_t i = 0; i < function->results().size(); ++i)
      parameters.push_back(fmt::format("    {} *result{}{}  /* {} */", cType(function->results()[i]->type().dtype), i,
                                       ",", toString(function->results()[i]->type())));
    if (!parameters.empty()) {
      // The last parameter has no comma.
      std::string &last = parameters.back();
      last.erase(last.find(",  /*"), 1);
    }
    if (parameters.empty()) parameters.emplace_back("    void");
    text += fmt::format("\n// @{}\nvoid {}_{}(\n{}\n);\n", function->name(), prefix, cIdentifier(function->name()),
                        fmt::join(parameters, "\n"));
  }
  text += fmt::format("\n#ifdef __cplusplus\n}}\n#endif\n\n#endif  // {}\n", guard);
  return text;
}

}  // namespace kiln::cpu
