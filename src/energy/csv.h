// Splitting CSV lines, and reading numbers from them with errors that name file, line and field.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace greenshift::energy {

// Splits one CSV line on `separator`; double quotes group a field ("a,b" is one field, "" is a
// quote). A trailing '\r' is dropped.
std::vector<std::string> SplitCsvLine(std::string_view line, char separator = ',');

// Splits text into lines ('\n'; a trailing empty line is dropped).
std::vector<std::string_view> SplitLines(std::string_view text);

// Where a value came from, for error messages: "file.csv line 12, field 'wind_speed'".
struct CsvPlace {
  std::string file;
  size_t line = 0;  // 1-based
  std::string field;
  std::string Describe() const;
};

// Parses a whole field as a finite double; an error names the place and the text.
Result<double> ParseNumber(std::string_view text, const CsvPlace& place);

}  // namespace greenshift::energy
