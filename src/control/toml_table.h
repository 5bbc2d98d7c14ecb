// Reading a TOML file with errors that name the key: one table and its dotted path in the file,
// typed getters, and a check that the table holds no key it does not know.
#pragma once

// toml++ 3.3 (Debian's) asserts on malformed input that, built with NDEBUG, it reports as a parse
// error: a header such as `[{sites]` aborted a Debug build (found by fuzz_config_toml) where the
// release build names the line ("expected bare key starting character or string delimiter,
// saw '{'"). The library's own assertions are off in every build type, so that an operator's
// typo is an error message in all of them.
#ifndef TOML_ASSERT
#define TOML_ASSERT(expr) static_assert(true)
#endif
#include <toml++/toml.h>

#include <cmath>
#include <initializer_list>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/status.h"

namespace greenshift::control {

// One TOML table and its dotted path in the file: typed getters that name the key in errors,
// and a check that the table holds no key it does not know.
class Table {
 public:
  Table(const toml::table& table, std::string path, const std::string& file)
      : table_(&table), path_(std::move(path)), file_(&file) {}

  Status Error(const std::string& key, const std::string& why) const {
    return Status::Invalid(*file_ + ": key '" + Key(key) + "': " + why);
  }
  std::string Key(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  Status CheckKnown(std::initializer_list<const char*> known) const {
    std::set<std::string> allowed(known.begin(), known.end());
    for (const auto& [key, unused] : *table_) {
      if (!allowed.count(std::string(key.str()))) {
        std::string list;
        for (const std::string& k : allowed) list += (list.empty() ? "" : ", ") + k;
        return Error(std::string(key.str()), "unknown key (known here: " + list + ")");
      }
    }
    return Status::Ok();
  }

  bool Has(const char* key) const { return table_->get(key) != nullptr; }

  Result<std::string> String(const char* key, std::optional<std::string> fallback) const {
    const toml::node* node = table_->get(key);
    if (node == nullptr) {
      if (!fallback) return Error(key, "is required");
      return *fallback;
    }
    if (!node->is_string()) return Error(key, "must be a string");
    return std::string(*node->value<std::string>());
  }

  Result<double> Number(const char* key, std::optional<double> fallback, double lo,
                        double hi) const {
    const toml::node* node = table_->get(key);
    if (node == nullptr) {
      if (!fallback) return Error(key, "is required");
      return *fallback;
    }
    std::optional<double> value = node->value<double>();
    if (!value || !(node->is_integer() || node->is_floating_point()))
      return Error(key, "must be a number");
    if (!std::isfinite(*value) || *value < lo || *value > hi) {
      std::ostringstream range;
      range << "= " << *value << " is outside " << lo << " .. " << hi;
      return Error(key, range.str());
    }
    return *value;
  }

  // A count: a number as above that is also whole (an integer, or a float like 20.0).
  Result<double> Whole(const char* key, std::optional<double> fallback, double lo,
                       double hi) const {
    Result<double> value = Number(key, fallback, lo, hi);
    if (value.ok() && *value != std::floor(*value)) return Error(key, "must be a whole number");
    return value;
  }

  Result<bool> Bool(const char* key, bool fallback) const {
    const toml::node* node = table_->get(key);
    if (node == nullptr) return fallback;
    if (!node->is_boolean()) return Error(key, "must be true or false");
    return *node->value<bool>();
  }

  // An array of strings (absent: empty).
  Result<std::vector<std::string>> Strings(const char* key) const {
    std::vector<std::string> out;
    const toml::node* node = table_->get(key);
    if (node == nullptr) return out;
    const toml::array* array = node->as_array();
    if (array == nullptr) return Error(key, "must be an array of strings");
    for (size_t i = 0; i < array->size(); ++i) {
      if (!(*array)[i].is_string()) return Error(key, "must be an array of strings");
      out.push_back(std::string(*(*array)[i].value<std::string>()));
    }
    return out;
  }

  // An array of tables (absent: empty).
  Result<std::vector<Table>> Tables(const char* key) const {
    std::vector<Table> out;
    const toml::node* node = table_->get(key);
    if (node == nullptr) return out;
    const toml::array* array = node->as_array();
    if (array == nullptr) return Error(key, "must be an array of tables ([[" + Key(key) + "]])");
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::table* t = (*array)[i].as_table();
      if (t == nullptr) return Error(key, "must be an array of tables ([[" + Key(key) + "]])");
      out.emplace_back(*t, Key(key) + "[" + std::to_string(i) + "]", *file_);
    }
    return out;
  }

  // A sub-table (absent: an empty one).
  Result<Table> Sub(const char* key) const {
    const toml::node* node = table_->get(key);
    if (node == nullptr) return Table(Empty(), Key(key), *file_);
    if (!node->is_table()) return Error(key, "must be a table ([" + Key(key) + "])");
    return Table(*node->as_table(), Key(key), *file_);
  }

 private:
  static const toml::table& Empty() {
    static const toml::table empty;
    return empty;
  }
  const toml::table* table_;
  std::string path_;
  const std::string* file_;
};

// greenshift's config is ASCII outside its comments. Checked before the text reaches toml++:
// Debian's toml++ (3.3.0) runs into undefined behaviour on many characters beyond ASCII (its
// table of Unicode whitespace falls through to an "unreachable" point for whole ranges, e.g.
// U+00A1..U+0499 and U+FBC6..U+FEFE), in bare keys, after a bad escape, and wherever it looks
// for whitespace; the config fuzzer found it. Names are ASCII anyway; a path or a value beyond
// ASCII is refused with where it is.
inline Status CheckTomlBytes(const std::string& text, const std::string& file) {
  size_t line = 1, column = 0;
  bool comment = false, quoted = false, triple = false, escaped = false;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    ++column;
    if (c == '\n') {
      ++line;
      column = 0;
      comment = escaped = false;
      continue;
    }
    if (comment) continue;
    if (static_cast<unsigned char>(c) >= 0x80)
      return Status::Invalid(file + ": line " + std::to_string(line) + ", column " +
                             std::to_string(column) +
                             ": a character beyond ASCII (the config is ASCII outside comments)");
    // Where a comment starts: a '#' outside quotes ("a#b", 'a#b' and """a#b""" are values).
    const bool three = i + 2 < text.size() && text[i + 1] == c && text[i + 2] == c;
    if (quoted) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\' && quote == '"') {
        escaped = true;
      } else if (c == quote && (!triple || three)) {
        quoted = false;
        if (triple) i += 2;
      }
    } else if (c == '"' || c == '\'') {
      quoted = true;
      quote = c;
      triple = three;
      if (triple) i += 2;
    } else if (c == '#') {
      comment = true;
    }
  }
  return Status::Ok();
}

// The table's required "name": letters, digits, '-', '_' and '.'.
inline Result<std::string> ReadName(const Table& t) {
  std::string name;
  GS_ASSIGN(name, t.String("name", std::nullopt));
  if (name.empty()) return t.Error("name", "must not be empty");
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return t.Error("name", "'" + name + "' may only hold letters, digits, '-', '_' and '.'");
  }
  return name;
}

}  // namespace greenshift::control
