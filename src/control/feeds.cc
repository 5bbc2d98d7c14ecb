#include "control/feeds.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/clock.h"
#include "core/files.h"
#include "energy/feeds.h"

namespace greenshift::control {

namespace {

// How far back a feed's data is kept before its newest fetch: the weather for a day behind the
// loop (the history method's clear sky, a late tick), the carbon for a week (the history
// forecast reads yesterday; a "latest" feed builds its history one fetch at a time).
constexpr int64_t kWeatherKeepS = 2 * 86400;
constexpr int64_t kCarbonKeepS = 8 * 86400;

int64_t EndOf(const std::vector<int64_t>& time) {
  if (time.empty()) return 0;
  const int64_t step = time.size() > 1 ? time.back() - time[time.size() - 2] : 3600;
  return time.back() + step;
}

// What a cached body was fetched from: its kind and URL, hashed (FNV-1a, 64 bits) so that a key
// in the URL's query is not written to disk. A config that now names another URL (another zone,
// another location) must not start from the old one's data.
std::string SourceKey(const FeedConfig& feed) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : feed.kind + "\n" + feed.url) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

int64_t FileTimeMs(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

}  // namespace

energy::FeedSpec FeedSpecOf(const SiteConfig& site, const FeedConfig& feed,
                            const FeedsConfig& feeds) {
  energy::FeedSpec spec;
  spec.kind = energy::FeedKindNamed(feed.kind).value();  // the config checked it
  spec.url = feed.url;
  spec.token = feed.token;
  spec.user = feed.user;
  spec.password = feed.password;
  spec.login_url = feed.login_url;
  spec.near_latitude_deg = site.latitude;
  spec.near_longitude_deg = site.longitude;
  spec.timeout_s = feeds.timeout_s;
  return spec;
}

bool CheckFeeds(const ServiceConfig& config, const HttpGetFn& get,
                std::vector<std::string>* lines) {
  bool all = true;
  for (const SiteConfig& site : config.sites) {
    for (const FeedConfig* feed : {&site.weather_feed, &site.carbon_feed}) {
      if (!feed->given()) continue;
      const bool weather = feed == &site.weather_feed;
      energy::FeedClient client(FeedSpecOf(site, *feed, config.feeds), get);
      std::string line = "site " + site.name + " " + (weather ? "weather" : "carbon") + " (" +
                         feed->kind + " " + UrlForLog(feed->url) + "): ";
      Result<energy::FeedClient::Fetched> fetched = client.Fetch();
      if (!fetched.ok()) {
        all = false;
        lines->push_back(line + "failed: " + fetched.error());
        continue;
      }
      const std::vector<int64_t>& time =
          weather ? fetched->data.weather.time_utc_s : fetched->data.carbon.time_utc_s;
      line += "ok, " + std::to_string(time.size()) + (weather ? " steps" : " values") + " from " +
              FormatUtcMinutes(time.front()) + " to " + FormatUtcMinutes(EndOf(time));
      if (!weather && fetched->data.carbon.missing > 0)
        line += ", " + std::to_string(fetched->data.carbon.missing) + " without a value";
      lines->push_back(line);
    }
  }
  return all;
}

struct FeedRunner::Feed {
  Feed(size_t site_index, bool is_weather, const FeedConfig& feed_config, energy::FeedSpec spec,
       HttpGetFn get)
      : site(site_index), weather(is_weather), config(feed_config), client(std::move(spec), get) {}
  size_t site;
  bool weather;
  const FeedConfig& config;
  energy::FeedClient client;
  std::string cache_path;
  std::string name;  // "the weather feed of site a (open-meteo https://...)"
  // What it fetched so far (guarded by apply_mutex_).
  energy::WeatherSeries weather_data;
  energy::CarbonSeries carbon_data;
  bool has_data = false;
  int64_t next_due_ms = 0;
  bool failing = false, said_stale = false;
  FeedView view;  // guarded by mutex_

  // Newly fetched (or cached) data after what it had (the caller holds apply_mutex_).
  void Keep(energy::FeedData data) {
    if (weather) {
      weather_data = energy::MergeWeather(weather_data, data.weather, kWeatherKeepS);
    } else {
      carbon_data = energy::MergeCarbon(carbon_data, data.carbon, kCarbonKeepS);
    }
    has_data = true;
  }
  // Where its data ends (the thread that fetches, or the caller holding apply_mutex_).
  int64_t DataEnd() const {
    return EndOf(weather ? weather_data.time_utc_s : carbon_data.time_utc_s);
  }
  // Stale at `now_ms` when its data came at `last_ok_ms` (0: it has none).
  bool StaleAt(int64_t last_ok_ms, int64_t now_ms) const {
    return last_ok_ms == 0 ||
           now_ms - last_ok_ms > static_cast<int64_t>(config.stale_after_s * 1000);
  }
};

FeedRunner::FeedRunner(const ServiceConfig& config, std::shared_ptr<Inputs> inputs, int64_t slot_s,
                       std::function<int64_t()> wall_ms, HttpGetFn get, EventFn event)
    : config_(config),
      inputs_(std::move(inputs)),
      slot_s_(slot_s),
      wall_ms_(std::move(wall_ms)),
      event_(std::move(event)) {
  for (size_t s = 0; s < config.sites.size(); ++s) {
    base_.push_back(inputs_->Site(s));
    const SiteConfig& site = config.sites[s];
    for (const FeedConfig* fc : {&site.weather_feed, &site.carbon_feed}) {
      if (!fc->given()) continue;
      const bool weather = fc == &site.weather_feed;
      auto feed = std::make_unique<Feed>(s, weather, *fc, FeedSpecOf(site, *fc, config.feeds), get);
      const std::string what = weather ? "weather" : "carbon";
      feed->cache_path = config.feeds.cache_dir + "/" + site.name + "." + what + ".body";
      feed->name = "the " + what + " feed of site " + site.name + " (" + fc->kind + " " +
                   UrlForLog(fc->url) + ")";
      feed->view.site = site.name;
      feed->view.what = what;
      feed->view.kind = fc->kind;
      feed->view.url = UrlForLog(fc->url);
      feeds_.push_back(std::move(feed));
    }
  }
}

FeedRunner::~FeedRunner() {
  Stop();
}

void FeedRunner::Say(LogLevel level, const std::string& message) {
  if (event_) event_(level, message);
}

std::vector<std::string> FeedRunner::LoadCache() {
  std::vector<std::string> notes;
  std::vector<bool> touched(base_.size(), false);
  for (std::unique_ptr<Feed>& feed : feeds_) {
    if (!PathExists(feed->cache_path)) continue;
    Result<std::string> key = ReadFile(feed->cache_path + ".source");
    if (!key.ok() || *key != SourceKey(feed->config)) {
      notes.push_back(feed->name +
                      ": its cached data was left out (fetched from another URL, or "
                      "its source is unknown); it is fetched afresh");
      continue;
    }
    Result<std::string> body = ReadFile(feed->cache_path);
    Result<energy::FeedData> data =
        body.ok() ? energy::ParseFeedBody(feed->client.spec(), *body, feed->cache_path)
                  : Result<energy::FeedData>(body.status());
    if (!data.ok()) {
      notes.push_back(feed->name + ": its cached data was left out (" + data.error() +
                      "); it is fetched afresh");
      continue;
    }
    const int64_t at_ms = FileTimeMs(feed->cache_path);
    {
      std::lock_guard<std::mutex> lock(apply_mutex_);
      feed->Keep(std::move(*data));
    }
    std::lock_guard<std::mutex> lock(mutex_);
    feed->view.last_ok_ms = at_ms;
    feed->view.from_cache = true;
    feed->view.data_until_utc_s = feed->DataEnd();
    touched[feed->site] = true;
  }
  for (size_t s = 0; s < touched.size(); ++s)
    if (touched[s]) Apply(s);
  return notes;
}

void FeedRunner::Apply(size_t site) {
  std::lock_guard<std::mutex> lock(apply_mutex_);
  auto in = std::make_shared<SiteInputs>(*base_[site]);
  for (const std::unique_ptr<Feed>& feed : feeds_) {
    if (feed->site != site || !feed->has_data) continue;
    const std::string source =
        feed->weather ? "weather feed " + feed->view.url : "carbon feed " + feed->view.url;
    if (feed->weather) {
      SetWeather(*in, energy::MergeWeather(base_[site]->weather, feed->weather_data, kWeatherKeepS),
                 source, slot_s_);
    } else {
      in->carbon = energy::MergeCarbon(base_[site]->carbon, feed->carbon_data, kCarbonKeepS);
      in->carbon_file = source;
      in->has_carbon = true;
    }
  }
  inputs_->Replace(site, std::move(in));
}

void FeedRunner::Rebase(std::vector<std::shared_ptr<const SiteInputs>> from_files) {
  {
    std::lock_guard<std::mutex> lock(apply_mutex_);
    for (size_t s = 0; s < base_.size() && s < from_files.size(); ++s)
      base_[s] = std::move(from_files[s]);
  }
  for (size_t s = 0; s < base_.size(); ++s) Apply(s);
}

bool FeedRunner::Sleep(int64_t ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(0, ms)), [&] { return stop_; });
  return !stop_;
}

void FeedRunner::Fetch(Feed& feed) {
  double backoff_s = config_.feeds.retry_backoff_s;
  for (int attempt = 0;; ++attempt) {
    Result<energy::FeedClient::Fetched> fetched = feed.client.Fetch();
    const int64_t now = wall_ms_();
    if (fetched.ok()) {
      {
        std::lock_guard<std::mutex> lock(apply_mutex_);
        feed.Keep(std::move(fetched->data));
      }
      Apply(feed.site);
      // The cache is a convenience: failing to write it loses nothing of this run.
      Status cached = MakeDirs(config_.feeds.cache_dir);
      if (cached.ok()) cached = WriteFileAtomic(feed.cache_path, fetched->body);
      if (cached.ok())
        cached = WriteFileAtomic(feed.cache_path + ".source", SourceKey(feed.config));
      if (!cached.ok()) Say(LogLevel::kWarning, feed.name + ": not cached: " + cached.message());
      if (feed.failing) Say(LogLevel::kInfo, feed.name + " works again");
      feed.failing = false;
      std::lock_guard<std::mutex> lock(mutex_);
      ++feed.view.fetches;
      feed.view.last_ok_ms = feed.view.last_try_ms = now;
      feed.view.last_error.clear();
      feed.view.from_cache = false;
      feed.view.data_until_utc_s = feed.DataEnd();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++feed.view.fetches;
      ++feed.view.failures;
    }
    const bool final = fetched.status().IsInvalid() || attempt >= config_.feeds.retries;
    if (!final) {
      if (!Sleep(static_cast<int64_t>(backoff_s * 1000))) return;
      backoff_s *= 2;
      continue;
    }
    int64_t last_ok = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      feed.view.last_try_ms = now;
      feed.view.last_error = fetched.error();
      last_ok = feed.view.last_ok_ms;
    }
    if (!feed.failing) {
      Say(LogLevel::kWarning,
          feed.name + " failed after " + std::to_string(attempt + 1) +
              (attempt == 0 ? " try: " : " tries: ") + fetched.error() + "; " +
              (last_ok > 0 ? "its data of " + FormatUtcMinutes(last_ok / 1000) + " stays in use"
                           : std::string("there is no data from it yet")));
    }
    feed.failing = true;
    return;
  }
}

void FeedRunner::RunDue() {
  for (std::unique_ptr<Feed>& feed : feeds_) {
    if (wall_ms_() < feed->next_due_ms) continue;
    Fetch(*feed);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_) return;
    }
    feed->next_due_ms = wall_ms_() + static_cast<int64_t>(feed->config.every_s * 1000);
  }
  const int64_t now = wall_ms_();
  for (std::unique_ptr<Feed>& feed : feeds_) {
    int64_t last_ok = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      last_ok = feed->view.last_ok_ms;
    }
    const bool stale = feed->StaleAt(last_ok, now);
    if (stale && !feed->said_stale) {
      Say(LogLevel::kWarning,
          feed->name + " is stale: " +
              (last_ok > 0 ? "its data is from " + FormatUtcMinutes(last_ok / 1000)
                           : std::string("it has no data yet")));
    }
    feed->said_stale = stale;
  }
}

void FeedRunner::Start() {
  if (feeds_.empty() || thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = false;
  }
  thread_ = std::thread([this] {
    for (;;) {
      RunDue();
      int64_t next = INT64_MAX;
      for (const std::unique_ptr<Feed>& feed : feeds_) next = std::min(next, feed->next_due_ms);
      // At least every second: a feed turns stale between fetches.
      if (!Sleep(std::min<int64_t>(1000, next - wall_ms_()))) return;
    }
  });
}

void FeedRunner::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::vector<FeedView> FeedRunner::States() const {
  const int64_t now = wall_ms_();
  std::vector<FeedView> views;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const std::unique_ptr<Feed>& feed : feeds_) {
    FeedView view = feed->view;
    view.age_s = view.last_ok_ms > 0 ? (now - view.last_ok_ms) / 1000.0 : -1;
    view.stale = feed->StaleAt(view.last_ok_ms, now);
    views.push_back(std::move(view));
  }
  return views;
}

}  // namespace greenshift::control
