#include "api/http.h"

namespace greenshift::api {

namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Decode(const std::string& text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      const int hi = Hex(text[i + 1]), lo = Hex(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += plus_is_space && c == '+' ? ' ' : c;
  }
  return out;
}

}  // namespace

void ParseTarget(const std::string& target, std::string* path,
                 std::map<std::string, std::string>* query,
                 std::vector<std::pair<std::string, std::string>>* pairs) {
  const size_t mark = target.find('?');
  *path = Decode(target.substr(0, mark), false);
  query->clear();
  if (pairs != nullptr) pairs->clear();
  if (mark == std::string::npos) return;
  const std::string rest = target.substr(mark + 1);
  size_t start = 0;
  while (start <= rest.size()) {
    size_t end = rest.find('&', start);
    if (end == std::string::npos) end = rest.size();
    const std::string pair = rest.substr(start, end - start);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      const std::string name = Decode(pair.substr(0, eq), true);
      const std::string value = eq == std::string::npos ? "" : Decode(pair.substr(eq + 1), true);
      query->emplace(name, value);  // the first of a repeated name wins
      if (pairs != nullptr) pairs->emplace_back(name, value);
    }
    start = end + 1;
  }
}

}  // namespace greenshift::api
