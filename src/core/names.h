// Names of sites, VMs and labs end up in interface names (15 bytes at most) and file names,
// so they are kept short and plain.
#pragma once

#include <string>

#include "core/status.h"

namespace greenshift {

// 1 to `max_length` characters of [a-z0-9-], starting with a letter or digit.
// `kind` names what is checked ("VM name", "site name") in the error.
Status ValidateName(const std::string& kind, const std::string& name, size_t max_length = 12);

}  // namespace greenshift
