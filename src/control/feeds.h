// The service's live feeds (energy/feeds.h): every site's weather and carbon feed, fetched on a
// thread of their own so that a slow or dead service never holds up the loop.
//
// Each feed is fetched at start and then every `every_s` after its last try ended. A try that
// fails for what may pass (no connection, a timeout, a body cut short, HTTP 429 or 5xx, a body
// that does not parse) is tried again, `retries` times, after `retry_backoff_s` doubling each
// time; one refused for what will not pass by itself (HTTP 4xx: a wrong URL, zone or token) is
// not. What a feed fetched is merged into what it fetched before and over the site's files (a
// feed's data wins where it has some), and the site's inputs swapped for the result. Its body is
// kept in the cache directory, so that a restart (or a service down at start) begins from the
// last data it had, and says how old that is.
//
// A feed is stale when its last good data is older than its `stale_after_s` (or it never had
// any): the health page is then degraded and names it, and an event says so once. Its data is
// still used as far as it reaches: a forecast that ends is the forecaster's gap, as with files.
//
// Thread safety: States() and Rebase() may be called from any thread, also while the runner's
// thread runs; the other members from the thread that owns the runner (serve's main thread, a
// test), and RunDue only while the runner's thread does not run.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control/config.h"
#include "control/inputs.h"
#include "core/http_client.h"
#include "core/log.h"
#include "energy/feeds.h"

namespace greenshift::control {

// What the energy layer's client needs of one feed of `site`.
energy::FeedSpec FeedSpecOf(const SiteConfig& site, const FeedConfig& feed,
                            const FeedsConfig& feeds);

// One fetch of every feed of `config`, nothing applied (`serve --check-feeds`): per feed, a line
// saying what it got or why it failed; false when one failed.
bool CheckFeeds(const ServiceConfig& config, const HttpGetFn& get, std::vector<std::string>* lines);

// A feed as the health page and the metrics show it.
struct FeedView {
  std::string site;
  std::string what;         // "weather" or "carbon"
  std::string kind;         // "open-meteo", ...
  std::string url;          // without its query (which may hold a key)
  int64_t last_ok_ms = 0;   // wall clock of the data's fetch (the cache file's time), 0: none
  int64_t last_try_ms = 0;  // wall clock of the last try that ended, 0: none yet
  std::string last_error;   // of the last try (after its retries); empty when it worked
  bool from_cache = false;  // the data is what an earlier run fetched
  int64_t fetches = 0, failures = 0;  // tries (retries counted), and those that failed
  int64_t data_until_utc_s = 0;       // where the feed's data ends
  double age_s = -1;                  // of the data, -1: none
  bool stale = true;
};

class FeedRunner {
 public:
  // Something to say in the service's events ("feeds").
  using EventFn = std::function<void(LogLevel level, const std::string& message)>;

  // The feeds of `config`'s sites. `wall_ms`: the wall clock (feeds are real time even when
  // the service replays a day).
  FeedRunner(const ServiceConfig& config, std::shared_ptr<Inputs> inputs, int64_t slot_s,
             std::function<int64_t()> wall_ms, HttpGetFn get, EventFn event);
  ~FeedRunner();  // Stop()
  FeedRunner(const FeedRunner&) = delete;
  FeedRunner& operator=(const FeedRunner&) = delete;

  bool empty() const { return feeds_.empty(); }

  // What the cache holds, merged into the inputs (before the loop's first tick); a cached body
  // that cannot be read is said in the returned lines and left out.
  std::vector<std::string> LoadCache();

  // The thread: RunDue whenever a feed is due, until Stop (which interrupts a backoff).
  void Start();
  void Stop();

  // Every feed due at the wall clock's now, fetched with its retries, merged and applied: what
  // the thread does, and what tests call without it.
  void RunDue();

  // Every site's inputs read from its files again (SIGHUP, ReloadInputs): the feeds' data is
  // merged over them before they are swapped in, so the loop never sees them without it.
  void Rebase(std::vector<std::shared_ptr<const SiteInputs>> from_files);

  std::vector<FeedView> States() const;

 private:
  struct Feed;
  void Fetch(Feed& feed);
  void Apply(size_t site);
  void Say(LogLevel level, const std::string& message);
  bool Sleep(int64_t ms);  // false when stopped meanwhile

  const ServiceConfig& config_;
  std::shared_ptr<Inputs> inputs_;
  int64_t slot_s_;
  std::function<int64_t()> wall_ms_;
  EventFn event_;
  // Each site's inputs from its files alone, what the feeds' data is merged over; with the
  // feeds' data, guarded by apply_mutex_ (the thread fetches while SIGHUP rebases).
  std::mutex apply_mutex_;
  std::vector<std::shared_ptr<const SiteInputs>> base_;
  std::vector<std::unique_ptr<Feed>> feeds_;

  mutable std::mutex mutex_;  // the feeds' views, stop_
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace greenshift::control
