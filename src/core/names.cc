#include "core/names.h"

namespace greenshift {

Status ValidateName(const std::string& kind, const std::string& name, size_t max_length) {
  if (name.empty()) return Status::Error(kind + " is empty");
  if (name.size() > max_length) {
    return Status::Error(kind + " '" + name + "' is longer than " + std::to_string(max_length) +
                         " characters");
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) {
      return Status::Error(kind + " '" + name + "' may contain only a-z, 0-9 and '-' (found '" +
                           std::string(1, c) + "')");
    }
  }
  if (name.front() == '-') return Status::Error(kind + " '" + name + "' must not start with '-'");
  return Status::Ok();
}

}  // namespace greenshift
