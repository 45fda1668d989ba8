// libFuzzer target: the checkpoint reader (the .npz archive, its text header, then each member's .npy
// file checked against the header). An input whose first byte is even is a checkpoint file as it is
// (a zip archive starts with 'P'). Mutations of a file rarely get past the members' CRCs, so an input
// whose first byte is odd describes the members instead, which are then archived with valid CRCs:
// after that byte, the header's text, then for each member the separator, the member's name, a line
// break and its bytes.
#include <cstdint>

#include "runtime/Checkpoint.h"
#include "runtime/Npz.h"

namespace {
constexpr std::string_view kSeparator = "\n=====\n";

std::vector<kiln::npz::Member> describedMembers(std::string_view text) {
  std::vector<kiln::npz::Member> members;
  size_t end = text.find(kSeparator);
  members.push_back({std::string(kiln::checkpoint::kHeaderMember), std::string(text.substr(0, end))});
  while (end != std::string_view::npos) {
    text.remove_prefix(end + kSeparator.size());
    end = text.find(kSeparator);
    std::string_view member = text.substr(0, end);
    size_t lineBreak = member.find('\n');
    if (lineBreak == std::string_view::npos) break;
    members.push_back({std::string(member.substr(0, lineBreak)), std::string(member.substr(lineBreak + 1))});
  }
  return members;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  if (bytes.empty() || bytes[0] % 2 == 0) {
    (void)kiln::checkpoint::decode(bytes, "fuzz.ckpt");
    return 0;
  }
  std::string archive;
  std::string error = kiln::npz::encodeMembers(describedMembers(bytes.substr(1)), kiln::npz::Compression::Stored,
                                               "fuzz.ckpt", [&](std::string_view piece) {
                                                 archive += piece;
                                                 return std::string();
                                               });
  if (error.empty()) (void)kiln::checkpoint::decode(archive, "fuzz.ckpt");
  return 0;
}
