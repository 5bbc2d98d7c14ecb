#include "core/status.h"

namespace greenshift {

const char* KindName(Status::Kind kind) {
  switch (kind) {
    case Status::Kind::kOk:
      return "ok";
    case Status::Kind::kError:
      return "error";
    case Status::Kind::kInvalid:
      return "invalid";
    case Status::Kind::kNotFound:
      return "not_found";
    case Status::Kind::kConflict:
      return "conflict";
    case Status::Kind::kUnavailable:
      return "unavailable";
  }
  return "error";
}

}  // namespace greenshift
