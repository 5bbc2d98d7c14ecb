// JSON text from outside (API bodies, feed responses, MQTT payloads), looked at before it is
// parsed.
#pragma once

#include <cstddef>
#include <string_view>

namespace greenshift {

// What greenshift reads from a feed or a sensor nests 3 to 5 levels; 64 leaves room for any
// shape a service may adopt and refuses a hostile or broken peer's million '[' in one pass,
// before nlohmann::json's parser spends seconds and a stack entry per level on them.
inline constexpr size_t kMaxInputJsonDepth = 64;

// Whether `text` nests arrays and objects deeper than `limit`, counted in one pass without
// parsing ('[' and '{' inside strings do not count; the text need not be valid JSON). Pure.
bool JsonNestsDeeperThan(std::string_view text, size_t limit);

}  // namespace greenshift
