#include "energy/csv.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace greenshift::energy {

std::vector<std::string> SplitCsvLine(std::string_view line, char separator) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == separator) {
      fields.push_back(std::move(field));
      field.clear();
    } else {
      field += c;
    }
  }
  fields.push_back(std::move(field));
  return fields;
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::string CsvPlace::Describe() const {
  std::string text = file + " line " + std::to_string(line);
  if (!field.empty()) text += ", field '" + field + "'";
  return text;
}

Result<double> ParseNumber(std::string_view text, const CsvPlace& place) {
  std::string copy(text);
  while (!copy.empty() && (copy.back() == ' ' || copy.back() == '\r')) copy.pop_back();
  size_t first = copy.find_first_not_of(' ');
  if (first == std::string::npos) {
    return Status::Error(place.Describe() + ": empty where a number belongs");
  }
  copy = copy.substr(first);
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || errno == ERANGE || !std::isfinite(value)) {
    return Status::Error(place.Describe() + ": '" + copy + "' is not a number");
  }
  return value;
}

}  // namespace greenshift::energy
