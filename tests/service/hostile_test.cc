// The hostile-client suite: `greenshift serve` (a real process, sim driver, real SQLite store)
// attacked as an untrusted client on the same machine would, broken as real operations break it
// (killed, its disk full, its database deleted, its port or store taken twice), and each time:
// the process stays up, other clients are answered within 100 ms, every error is JSON with the
// status that fits, and nothing acknowledged is lost or stored twice.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

#include "core/process.h"
#include "serve_process.h"

namespace greenshift {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using testing::ServeProcess;

const char* kToken = "hostile-suite-token-9f8e7d6c";

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A raw TCP connection to loopback, for requests no well-behaved client would send.
class Raw {
 public:
  explicit Raw(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Raw() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  bool Send(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads until the peer closes or `timeout_ms` passes (or, with `one_response`, until one
  // whole response with a Content-Length arrived).
  std::string Read(int timeout_ms, bool one_response = true) {
    std::string in;
    const auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    char buffer[65536];
    while (Clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      const int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
      if (::poll(&p, 1, std::max(1, left)) <= 0) continue;
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      in.append(buffer, static_cast<size_t>(n));
      if (one_response && Complete(in)) break;
    }
    return in;
  }

 private:
  static bool Complete(const std::string& in) {
    const size_t head = in.find("\r\n\r\n");
    if (head == std::string::npos) return false;
    const size_t cl = in.find("Content-Length: ");
    if (cl == std::string::npos || cl > head) return true;
    return in.size() >= head + 4 + std::stoul(in.substr(cl + 16));
  }
  int fd_ = -1;
};

int StatusOf(const std::string& response) {
  return response.size() > 12 ? std::atoi(response.c_str() + 9) : 0;
}
std::string BodyOf(const std::string& response) {
  const size_t head = response.find("\r\n\r\n");
  return head == std::string::npos ? "" : response.substr(head + 4);
}

// Other clients while an attack runs: a GET on a new connection every 50 ms; the slowest answer.
class Probe {
 public:
  explicit Probe(int port) : port_(port) {
    thread_ = std::thread([this] {
      while (!stop_) {
        const auto began = Clock::now();
        httplib::Client client("127.0.0.1", port_);
        client.set_connection_timeout(2, 0);
        client.set_read_timeout(2, 0);
        auto r = client.Get("/api/status");
        const double ms = MsSince(began);
        {
          std::lock_guard<std::mutex> lock(mutex_);
          ++probes_;
          if (!r || r->status != 200) ++failures_;
          worst_ms_ = std::max(worst_ms_, ms);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  }
  ~Probe() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  double worst_ms() const { return worst_ms_; }
  int probes() const { return probes_; }
  int failures() const { return failures_; }

 private:
  int port_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  double worst_ms_ = 0;
  int probes_ = 0, failures_ = 0;
};

#define EXPECT_OTHERS_ANSWERED(probe)                                             \
  do {                                                                            \
    (probe).Stop();                                                               \
    EXPECT_GE((probe).probes(), 3);                                               \
    EXPECT_EQ((probe).failures(), 0);                                             \
    EXPECT_LT((probe).worst_ms(), 100) << "another client waited this long (ms)"; \
  } while (0)

// The service on the sim driver: sites a and b, each with push sensors; a's replay makes a
// plan in approve mode (for the approve/reject race), 21 June 2022 played 600 times as fast.
std::string Config(const std::string& mode = "dry-run", bool replay = false,
                   const std::string& extra_service = "") {
  std::string toml = std::string("[service]\ntoken = \"") + kToken + "\"\nmode = \"" + mode +
                     "\"\nperiod_s = 600\ndatabase = \"gs.db\"\nmax_connections = 64\n" +
                     extra_service;
  if (replay) toml += "replay_start = \"2022-06-21T00:00:00Z\"\nreplay_speed = 600\n";
  toml += "[policy]\nname = \"greedy-forecast\"\nmin_dwell_hours = 0.5\nhorizon_hours = 1\n";
  for (const char* site : {"a", "b"}) {
    toml += std::string("[[sites]]\nname = \"") + site +
            "\"\nlatitude = 50\nlongitude = 8\ncapacity_kw = 1\n";
    for (int s = 0; s < 4; ++s) {
      toml += "[[sites.sensors]]\nname = \"s" + std::to_string(s) +
              "\"\nkind = \"push\"\ncapacity_kw = 5\n";
    }
    if (replay) {
      toml += std::string("[[sites.sensors]]\nname = \"pv\"\nkind = \"replay\"\naddress = \"") +
              site + ".csv\"\ncapacity_kw = 5\n";
    }
  }
  toml += "[[hosts]]\nname = \"a1\"\nsite = \"a\"\ndriver = \"sim\"\n";
  toml += "[[hosts]]\nname = \"b1\"\nsite = \"b\"\ndriver = \"sim\"\n";
  toml += "[[vms]]\nname = \"web\"\nhost = \"a1\"\nmemory_mib = 256\npeak_w = 200\n";
  return toml;
}

// a makes 4 kW for the first hour, then b does.
void WriteReplay(const std::string& dir) {
  std::string a = "time,power_w\n", b = a;
  for (int m = 0; m <= 600; m += 10) {
    char t[32];
    std::snprintf(t, sizeof t, "2022-06-21T%02d:%02d:00Z", m / 60, m % 60);
    a += std::string(t) + "," + (m < 60 ? "4000" : "0") + "\n";
    b += std::string(t) + "," + (m < 60 ? "0" : "4000") + "\n";
  }
  WriteFileAtomic(dir + "/a.csv", a).ok();
  WriteFileAtomic(dir + "/b.csv", b).ok();
}

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/gs-hostile-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    serve_ = std::make_unique<ServeProcess>(dir_);
  }
  void TearDown() override {
    if (serve_) {
      if (HasFailure()) std::fprintf(stderr, "--- the service's log:\n%s\n", serve_->Log().c_str());
      serve_->Kill();
    }
    std::filesystem::remove_all(dir_);
  }
  void StartOrFail(const std::string& toml) {
    serve_->WriteConfig(toml);
    ASSERT_TRUE(serve_->Start()) << serve_->Output();
  }
  httplib::Client Client() {
    httplib::Client c("127.0.0.1", serve_->port());
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(10, 0);
    return c;
  }
  httplib::Headers Auth() { return {{"Authorization", std::string("Bearer ") + kToken}}; }
  // A raw request and its whole response.
  std::string Ask(const std::string& request, int timeout_ms = 3000) {
    Raw raw(serve_->port());
    EXPECT_TRUE(raw.ok());
    raw.Send(request);
    return raw.Read(timeout_ms);
  }

  std::string dir_;
  std::unique_ptr<ServeProcess> serve_;
};

TEST_F(HostileTest, MalformedRequestsGetJsonErrorsAndTheServiceStaysUp) {
  StartOrFail(Config());
  Probe probe(serve_->port());
  struct Case {
    const char* what;
    std::string request;
    int status;
  };
  const std::string auth = std::string("Authorization: Bearer ") + kToken + "\r\n";
  const std::string deep(100000, '[');
  const Case cases[] = {
      {"a path that is not UTF-8", "GET /api/\xff\xfe\xc3 HTTP/1.1\r\nHost: x\r\n\r\n", 404},
      {"an escaped path that is not UTF-8", "GET /api/%ff%fe%c3 HTTP/1.1\r\nHost: x\r\n\r\n", 404},
      {"a query that is not UTF-8",
       "GET /api/readings?site=%ff%c3%28&limit=\xfe HTTP/1.1\r\nHost: x\r\n\r\n", 404},
      {"a limit that is not a number",
       "GET /api/moves?limit=9999999999999999999999 HTTP/1.1\r\n\r\n", 400},
      {"not HTTP at all", "HELLO THERE\r\n\r\n", 400},
      {"a head larger than 16 KiB",
       "GET / HTTP/1.1\r\nX-Filler: " + std::string(20000, 'x') + "\r\n\r\n", 431},
      {"an unknown method", "BREW /api/status HTTP/1.1\r\n\r\n", 405},
      {"JSON nested 100,000 deep",
       "POST /api/readings HTTP/1.1\r\n" + auth + "Content-Type: application/json\r\n" +
           "Content-Length: " + std::to_string(deep.size()) + "\r\n\r\n" + deep,
       400},
      {"a body of 100 MB announced (never sent)",
       "POST /api/readings HTTP/1.1\r\n" + auth + "Content-Length: 104857600\r\n\r\n", 413},
      {"a large body without the token",
       "POST /api/readings HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n", 401},
      {"a body of 1 MB where 16 KiB is the most",
       "POST /api/moves HTTP/1.1\r\n" + auth + "Content-Length: 1000000\r\n\r\n", 413},
      {"a chunked body that never ends",
       "POST /api/moves HTTP/1.1\r\n" + auth + "Transfer-Encoding: chunked\r\n\r\n" + "10000\r\n" +
           std::string(20000, 'a'),
       413},
      {"a plan id of 40 digits", "GET /api/plans/" + std::string(40, '9') + " HTTP/1.1\r\n\r\n",
       404},
  };
  for (const Case& c : cases) {
    const auto began = Clock::now();
    const std::string response = Ask(c.request);
    EXPECT_EQ(StatusOf(response), c.status) << c.what << ":\n" << response.substr(0, 300);
    EXPECT_LT(MsSince(began), 1000) << c.what << ": answered without waiting for a body";
    const json body = json::parse(BodyOf(response), nullptr, false);
    EXPECT_TRUE(body.is_object() && body.contains("error")) << c.what << ": " << BodyOf(response);
    EXPECT_NE(response.find("Content-Type: application/json"), std::string::npos) << c.what;
  }
  // Many ranges: the whole page once, never a multipart copy per range.
  auto page = Client().Get("/static/chart.js");
  ASSERT_TRUE(page);
  std::string ranges = "bytes=0-";
  for (int i = 0; i < 2000; ++i) ranges += ",0-";
  auto ranged = Client().Get("/static/chart.js", {{"Range", ranges.substr(0, 15000)}});
  ASSERT_TRUE(ranged);
  EXPECT_EQ(ranged->status, 200);
  EXPECT_EQ(ranged->body.size(), page->body.size());
  // A thousand different plan ids are one route in the metrics.
  httplib::Client client = Client();
  for (int i = 0; i < 1000; ++i) client.Get("/api/plans/" + std::to_string(100000 + i));
  const std::string metrics = Client().Get("/metrics")->body;
  size_t plan_lines = 0;
  for (size_t at = metrics.find("/api/plans/{id}"); at != std::string::npos;
       at = metrics.find("/api/plans/{id}", at + 1))
    ++plan_lines;
  EXPECT_EQ(plan_lines, 1u) << metrics;
  EXPECT_EQ(metrics.find("BREW"), std::string::npos) << "a client's method became a label";
  EXPECT_OTHERS_ANSWERED(probe);
  EXPECT_TRUE(serve_->Alive());
  EXPECT_EQ(Client().Get("/api/health")->status, 200);
}

TEST_F(HostileTest, SlowClientsDoNotStallOthers) {
  StartOrFail(Config());
  Probe probe(serve_->port());
  // 40 connections (more than the old server's 32 workers) sending a byte a second, and
  // reading what comes back meanwhile.
  std::vector<std::unique_ptr<Raw>> slow;
  std::vector<std::string> answers(40);
  for (int i = 0; i < 40; ++i) slow.push_back(std::make_unique<Raw>(serve_->port()));
  const std::string request = "GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int second = 0; second < 8; ++second) {
    for (size_t i = 0; i < slow.size(); ++i) {
      if (answers[i].empty()) answers[i] = slow[i]->Read(1);
      if (answers[i].empty()) slow[i]->Send(std::string(1, request[static_cast<size_t>(second)]));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  EXPECT_OTHERS_ANSWERED(probe);
  // Each slow client was told (408) and closed once its head took longer than 5 s.
  int timed_out = 0;
  for (size_t i = 0; i < slow.size(); ++i) {
    if (answers[i].empty()) answers[i] = slow[i]->Read(2000);
    timed_out += StatusOf(answers[i]) == 408 ? 1 : 0;
  }
  EXPECT_EQ(timed_out, 40) << answers[0];
  EXPECT_TRUE(serve_->Alive());
}

TEST_F(HostileTest, AnIdleConnectionFloodDoesNotLockOthersOut) {
  StartOrFail(Config());  // max_connections = 64
  Probe probe(serve_->port());
  std::vector<std::unique_ptr<Raw>> idle;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 100; ++i) idle.push_back(std::make_unique<Raw>(serve_->port()));
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  EXPECT_OTHERS_ANSWERED(probe);
  const std::string metrics = Client().Get("/metrics")->body;
  EXPECT_TRUE(serve_->Alive());
}

TEST_F(HostileTest, ApproveAndRejectRacingForOnePlanOneWins) {
  WriteReplay(dir_);
  StartOrFail(Config("approve", true));
  httplib::Client client = Client();
  int64_t plan = 0;
  for (int i = 0; i < 300 && plan == 0; ++i) {  // b turns green an hour in: 6 s at 600x
    auto plans = client.Get("/api/plans");
    ASSERT_TRUE(plans);
    const json listed = json::parse(plans->body);
    for (const json& p : listed["plans"]) {
      if (p["status"] == "pending" && !p["moves"].empty()) plan = p["id"].get<int64_t>();
    }
    if (plan == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GT(plan, 0) << "no pending plan with a move: " << client.Get("/api/plans")->body;
  std::vector<std::thread> racers;
  std::atomic<int> approved{0}, rejected{0}, conflicts{0}, other{0};
  std::atomic<bool> go{false};
  for (int i = 0; i < 16; ++i) {
    racers.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", serve_->port());
      while (!go) std::this_thread::yield();
      const std::string action = i % 2 ? "approve" : "reject";
      auto r = c.Post("/api/plans/" + std::to_string(plan) + "/" + action, Auth(), "",
                      "application/json");
      if (r && r->status == 200) {
        (action == "approve" ? approved : rejected)++;
      } else if (r && r->status == 409) {
        conflicts++;
      } else {
        other++;
      }
    });
  }
  go = true;
  for (std::thread& t : racers) t.join();
  EXPECT_EQ(approved + rejected, 1) << approved << " approved, " << rejected << " rejected";
  EXPECT_EQ(conflicts, 15);
  EXPECT_EQ(other, 0);
  const json stored = json::parse(client.Get("/api/plans/" + std::to_string(plan))->body);
  EXPECT_EQ(stored["status"], approved == 1 ? "approved" : "rejected");
}

// 10 rounds: readings POSTed one by one (about 1,000 a second) while the service is SIGKILLed
// and started again; a reading not acknowledged is sent again, as a sensor would. Afterwards
// every acknowledged reading is stored, and no reading is stored twice.
TEST_F(HostileTest, KillAndRestartLosesAndDuplicatesNothing) {
  StartOrFail(Config());
  const int port = serve_->port();
  serve_->Stop();
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::set<int64_t> acknowledged;
  std::atomic<int64_t> resent{0}, duplicates{0};
  ASSERT_TRUE(serve_->Start(port)) << serve_->Output();
  const int64_t base = WallMs() - 60000;  // readings a minute back and forward, never ahead
  std::thread sender([&] {
    int64_t next = 0;
    bool again = false;  // the reading about to go was sent before, without an answer
    while (!stop) {
      httplib::Client c("127.0.0.1", port);
      c.set_keep_alive(true);
      c.set_tcp_nodelay(true);
      c.set_connection_timeout(0, 200000);
      c.set_read_timeout(1, 0);
      while (!stop) {
        const int64_t t = base + next;  // one reading per millisecond of sensor time
        const std::string body = R"({"site":"a","sensor":"s0","time_utc_ms":)" + std::to_string(t) +
                                 R"(,"power_w":)" + std::to_string(1000 + t % 97) + "}";
        auto r = c.Post("/api/readings", Auth(), body, "application/json");
        if (!r) {  // the service is down: connect again, send the same reading again
          again = true;
          break;
        }
        if (r->status != 201) {
          ADD_FAILURE() << "reading at " << t << ": " << r->status << " " << r->body;
          stop = true;
          break;
        }
        if (again) ++resent;
        again = false;
        if (json::parse(r->body)["duplicates"] == 1) ++duplicates;
        {
          std::lock_guard<std::mutex> lock(mutex);
          acknowledged.insert(t);
        }
        ++next;
      }
      if (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  for (int round = 0; round < 10; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    serve_->Kill();
    ASSERT_TRUE(serve_->Start(port)) << "round " << round << ": " << serve_->Output();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  stop = true;
  sender.join();
  ASSERT_EQ(serve_->Stop(), 0);
  // What the store holds.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((dir_ + "/gs.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  sqlite3_prepare_v2(db, "SELECT time_utc_ms FROM readings WHERE site = 'a' AND sensor = 's0'", -1,
                     &q, nullptr);
  std::map<int64_t, int> stored;
  while (sqlite3_step(q) == SQLITE_ROW) ++stored[sqlite3_column_int64(q, 0)];
  sqlite3_finalize(q);
  sqlite3_close(db);
  ASSERT_GT(acknowledged.size(), 1000u) << "too few readings to say anything";
  size_t lost = 0, twice = 0;
  for (int64_t t : acknowledged) lost += stored.count(t) ? 0 : 1;
  for (const auto& [t, count] : stored) twice += count > 1 ? 1 : 0;
  std::printf(
      "%zu readings acknowledged over 10 SIGKILLs, %zu stored, %lld sent again after a "
      "restart (%lld of them already stored: duplicates)\n",
      acknowledged.size(), stored.size(), static_cast<long long>(resent.load()),
      static_cast<long long>(duplicates.load()));
  EXPECT_EQ(lost, 0u);
  EXPECT_EQ(twice, 0u);
}

TEST_F(HostileTest, AFullDiskIsVisibleAndNothingAcknowledgedIsLost) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
  const std::string disk = dir_ + "/disk";
  std::filesystem::create_directory(disk);
  ASSERT_EQ(::mount("tmpfs", disk.c_str(), "tmpfs", 0, "size=600k"), 0) << strerror(errno);
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{disk};
  std::string toml = Config();
  toml.replace(toml.find("database = \"gs.db\""), 18, "database = \"disk/gs.db\"");
  StartOrFail(toml);
  httplib::Client client = Client();
  std::set<int64_t> acknowledged;
  int refused = 0;
  const int64_t base = WallMs() - 60000;
  for (int64_t i = 0; i < 20000 && refused < 20; ++i) {
    std::string body = "[";
    for (int k = 0; k < 50; ++k) {
      body += std::string(k ? "," : "") + R"({"site":"a","sensor":"s1","time_utc_ms":)" +
              std::to_string(base + i * 50 + k) + R"(,"power_w":1234.5})";
    }
    body += "]";
    auto r = client.Post("/api/readings", Auth(), body, "application/json");
    ASSERT_TRUE(r);
    if (r->status == 201) {
      for (int k = 0; k < 50; ++k) acknowledged.insert(base + i * 50 + k);
    } else {
      EXPECT_EQ(r->status, 503) << r->body;
      EXPECT_NE(r->body.find("nothing was stored"), std::string::npos) << r->body;
      ++refused;
    }
  }
  ASSERT_GT(refused, 0) << "the disk never filled";
  auto health = client.Get("/api/health");
  EXPECT_EQ(health->status, 503) << health->body;
  EXPECT_EQ(json::parse(health->body)["store"]["ok"], false);
  EXPECT_NE(client.Get("/metrics")->body.find("greenshift_store_up 0"), std::string::npos);
  EXPECT_NE(serve_->Log().find("store.write_failed"), std::string::npos);
  EXPECT_TRUE(serve_->Alive());
  serve_->Kill();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((disk + "/gs.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  sqlite3_prepare_v2(db, "SELECT time_utc_ms FROM readings WHERE sensor = 's1'", -1, &q, nullptr);
  std::set<int64_t> stored;
  while (sqlite3_step(q) == SQLITE_ROW) stored.insert(sqlite3_column_int64(q, 0));
  sqlite3_finalize(q);
  sqlite3_close(db);
  size_t lost = 0;
  for (int64_t t : acknowledged) lost += stored.count(t) ? 0 : 1;
  EXPECT_EQ(lost, 0u) << "of " << acknowledged.size() << " acknowledged";
}

TEST_F(HostileTest, ADeletedStoreIsVisibleInHealth) {
  StartOrFail(Config());
  httplib::Client client = Client();
  EXPECT_EQ(client.Get("/api/health")->status, 200);
  std::filesystem::remove(dir_ + "/gs.db");
  auto health = client.Get("/api/health");
  EXPECT_EQ(health->status, 503);
  EXPECT_NE(health->body.find("deleted or replaced"), std::string::npos) << health->body;
  EXPECT_TRUE(serve_->Alive());
}

TEST_F(HostileTest, ACorruptSettingDoesNotStopTheStart) {
  WriteReplay(dir_);
  StartOrFail(Config("dry-run", true));
  ASSERT_EQ(serve_->Stop(), 0);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/gs.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "UPDATE settings SET value = 'not-a-number' WHERE key LIKE 'replay_epoch%'",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  EXPECT_EQ(sqlite3_changes(db), 1);
  sqlite3_close(db);
  ASSERT_TRUE(serve_->Start()) << serve_->Output();
  EXPECT_EQ(Client().Get("/api/health")->status, 200);
  EXPECT_NE(serve_->Log().find("setting.corrupt"), std::string::npos) << serve_->Log();
}

TEST_F(HostileTest, ASecondServiceOnThePortOrTheStoreRefusesToStart) {
  StartOrFail(Config());
  const int port = serve_->port();
  // Another store, the same port.
  const std::string other = dir_ + "/other";
  std::filesystem::create_directory(other);
  ServeProcess second(other);
  second.WriteConfig(Config());
  EXPECT_FALSE(second.Start(port));
  EXPECT_EQ(second.exit_status(), 1);
  EXPECT_NE(second.Output().find("cannot listen on 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << second.Output();
  // The same store, another port.
  std::string same_store = Config();
  same_store.replace(same_store.find("database = \"gs.db\""), 18,
                     "database = \"" + dir_ + "/gs.db\"");
  second.WriteConfig(same_store);
  EXPECT_FALSE(second.Start(0));
  EXPECT_NE(second.Output().find("another greenshift"), std::string::npos) << second.Output();
  EXPECT_EQ(Client().Get("/api/health")->status, 200);  // the first one is untouched
}

TEST_F(HostileTest, SighupReloadsTheFilesAndKeepsServing) {
  StartOrFail(Config());
  serve_->Signal(SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_TRUE(serve_->Alive());
  EXPECT_EQ(Client().Get("/api/health")->status, 200);
  EXPECT_NE(serve_->Log().find("read again"), std::string::npos) << serve_->Log();
  EXPECT_EQ(serve_->Stop(), 0);
  EXPECT_NE(serve_->Log().find("event=stop"), std::string::npos);
}

TEST_F(HostileTest, HttpsWhenACertificateIsConfigured) {
  Result<CommandOutput> made =
      RunCommand({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                  "/CN=127.0.0.1", "-keyout", dir_ + "/key.pem", "-out", dir_ + "/cert.pem"});
  ASSERT_TRUE(made.ok() && made->exit_code == 0) << (made.ok() ? made->stderr_text : made.error());
  StartOrFail(Config("dry-run", false, "tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n"));
  EXPECT_NE(serve_->Output().find("https://127.0.0.1:"), std::string::npos);
  Result<CommandOutput> got =
      RunCommand({"curl", "-sS", "--cacert", dir_ + "/cert.pem",
                  "https://127.0.0.1:" + std::to_string(serve_->port()) + "/api/health"});
  ASSERT_TRUE(got.ok()) << got.error();
  EXPECT_EQ(got->exit_code, 0) << got->stderr_text;
  EXPECT_NE(got->stdout_text.find("\"status\""), std::string::npos) << got->stdout_text;
  // Plain HTTP to an HTTPS port gets nothing it could mistake for an answer.
  const std::string plain = Ask("GET /api/health HTTP/1.1\r\n\r\n", 2000);
  EXPECT_EQ(plain.find("\"status\""), std::string::npos);
  EXPECT_TRUE(serve_->Alive());
}

}  // namespace
}  // namespace greenshift
