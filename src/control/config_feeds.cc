// The live feeds' part of the configuration: [feeds], and each site's weather_feed and
// carbon_feed. A feed's secrets never sit in the config file itself: a file of mode 600 or an
// environment variable, as the service's own token.
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "control/config_parts.h"
#include "core/files.h"
#include "energy/feeds.h"

namespace greenshift::control {

Result<std::string> ReadTokenFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Status::Invalid("cannot read " + path + ": " + std::strerror(errno));
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
    return Status::Invalid(path + " may be read by others (mode " + mode + "): chmod 600 it");
  }
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  std::string token = text->substr(0, text->find('\n'));
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  size_t start = 0;
  while (start < token.size() && std::isspace(static_cast<unsigned char>(token[start]))) ++start;
  return token.substr(start);
}

namespace {

// A secret from `file_key` (a file beside the config) or else the environment variable named
// by `env_key` (default `default_env`); empty when neither is given or set.
Result<std::string> Secret(const Table& t, const std::string& file, const char* file_key,
                           const char* env_key, const char* default_env) {
  std::string path, env;
  GS_ASSIGN(path, t.String(file_key, std::string()));
  GS_ASSIGN(env, t.String(env_key, std::string()));
  if (!path.empty() && !env.empty())
    return t.Error(env_key, std::string("and '") + file_key + "' are both given: keep one");
  if (!path.empty()) {
    Result<std::string> read = ReadTokenFile(PathBeside(file, path));
    if (!read.ok()) return t.Error(file_key, read.error());
    if (read->empty()) return t.Error(file_key, PathBeside(file, path) + " is empty");
    return *read;
  }
  const std::string name = env.empty() ? default_env : env;
  const char* value = std::getenv(name.c_str());
  if (value == nullptr || *value == '\0') {
    if (!env.empty()) return t.Error(env_key, "the environment variable " + env + " is not set");
    return std::string();
  }
  return std::string(value);
}

Result<FeedConfig> ReadFeed(const Table& t, const std::string& file, bool weather) {
  GS_RETURN_IF_ERROR(
      t.CheckKnown({"kind", "url", "token_file", "token_env", "user", "password_file",
                    "password_env", "login_url", "every_s", "stale_after_s"}));
  FeedConfig feed;
  GS_ASSIGN(feed.kind, t.String("kind", std::string(weather ? "open-meteo" : "electricity-maps")));
  Result<energy::FeedKind> kind = energy::FeedKindNamed(feed.kind);
  if (!kind.ok()) return t.Error("kind", kind.error());
  if (energy::IsWeatherFeed(*kind) != weather) {
    return t.Error("kind", "'" + feed.kind + "' is a " + (weather ? "carbon" : "weather") +
                               " feed, this is the site's " + (weather ? "weather" : "carbon") +
                               " feed");
  }
  GS_ASSIGN(feed.url, t.String("url", std::nullopt));
  if (feed.url.rfind("http://", 0) != 0 && feed.url.rfind("https://", 0) != 0)
    return t.Error("url", "must start with http:// or https://");
  GS_ASSIGN(feed.every_s, t.Number("every_s", weather ? 3600 : 900, 1, 7 * 86400));
  GS_ASSIGN(feed.stale_after_s, t.Number("stale_after_s", 3 * feed.every_s, 1, 30 * 86400));
  if (feed.stale_after_s < feed.every_s)
    return t.Error("stale_after_s",
                   "is shorter than every_s: the data would be stale between "
                   "two fetches that work");
  const bool em = *kind == energy::FeedKind::kElectricityMaps;
  const bool wt = *kind == energy::FeedKind::kWattTime;
  for (const char* key : {"token_file", "token_env"})
    if (!em && t.Has(key)) return t.Error(key, "is for an electricity-maps feed only");
  for (const char* key : {"user", "password_file", "password_env", "login_url"})
    if (!wt && t.Has(key)) return t.Error(key, "is for a watttime feed only");
  if (em) {
    GS_ASSIGN(feed.token, Secret(t, file, "token_file", "token_env", "ELECTRICITYMAPS_TOKEN"));
    // Without a token Electricity Maps answers 401; said here rather than at every fetch.
    if (feed.token.empty())
      return t.Error("token_file",
                     "is required (or token_env, or ELECTRICITYMAPS_TOKEN set): "
                     "Electricity Maps' API needs a token");
  }
  if (wt) {
    const char* user_env = std::getenv("WATTTIME_USER");
    GS_ASSIGN(feed.user, t.String("user", std::string(user_env ? user_env : "")));
    if (feed.user.empty())
      return t.Error("user", "is required (or WATTTIME_USER set): WattTime's API needs a login");
    GS_ASSIGN(feed.password, Secret(t, file, "password_file", "password_env", "WATTTIME_PASSWORD"));
    if (feed.password.empty())
      return t.Error("password_file", "is required (or password_env, or WATTTIME_PASSWORD set)");
    GS_ASSIGN(feed.login_url, t.String("login_url", std::string()));
    if (!feed.login_url.empty() && feed.login_url.rfind("http://", 0) != 0 &&
        feed.login_url.rfind("https://", 0) != 0)
      return t.Error("login_url", "must start with http:// or https://");
  }
  return feed;
}

}  // namespace

Status ReadFeeds(const Table& top, ServiceConfig& c) {
  Table t = top.Sub("feeds").value();
  GS_RETURN_IF_ERROR(t.CheckKnown({"cache_dir", "timeout_s", "retries", "retry_backoff_s"}));
  GS_ASSIGN(c.feeds.cache_dir, t.String("cache_dir", std::string()));
  c.feeds.cache_dir =
      c.feeds.cache_dir.empty() ? c.database + ".feeds" : PathBeside(c.file, c.feeds.cache_dir);
  GS_ASSIGN(c.feeds.timeout_s, t.Number("timeout_s", 20, 0.1, 600));
  double retries = 0;
  GS_ASSIGN(retries, t.Whole("retries", 2, 0, 10));
  c.feeds.retries = static_cast<int>(retries);
  GS_ASSIGN(c.feeds.retry_backoff_s, t.Number("retry_backoff_s", 5, 0, 3600));
  return Status::Ok();
}

Status ReadSiteFeeds(const Table& t, const std::string& file, SiteConfig& s) {
  for (const char* key : {"weather_feed", "carbon_feed"}) {
    if (!t.Has(key)) continue;
    Result<Table> sub = t.Sub(key);
    if (!sub.ok()) return sub.status();
    Result<FeedConfig> feed = ReadFeed(*sub, file, std::string(key) == "weather_feed");
    if (!feed.ok()) return feed.status();
    (std::string(key) == "weather_feed" ? s.weather_feed : s.carbon_feed) = std::move(*feed);
  }
  if (s.weather_feed.given() && !(s.pv_kwp > 0) && s.wind_turbine.empty())
    return t.Error("weather_feed", "is given but the site has neither pv_kwp nor wind_turbine");
  return Status::Ok();
}

}  // namespace greenshift::control
