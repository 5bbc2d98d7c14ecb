#include "core/ask_within.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace greenshift {
namespace {

using std::chrono::milliseconds;

// A gate a question waits at until the test opens it.
struct Gate {
  std::mutex mutex;
  std::condition_variable opened_cv;
  bool opened = false;
  std::atomic<bool> finished{false};  // the question returned
  void Open() {
    std::lock_guard<std::mutex> lock(mutex);
    opened = true;
    opened_cv.notify_all();
  }
  void WaitOpen() {
    std::unique_lock<std::mutex> lock(mutex);
    opened_cv.wait(lock, [this] { return opened; });
  }
};

TEST(AskWithinTest, AnAnswerInTimeIsReturned) {
  std::optional<std::string> answer =
      AskWithin<std::string>([] { return std::string("answered"); }, milliseconds(5000));
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(*answer, "answered");
}

TEST(AskWithinTest, AQuestionNotAnsweredInTimeIsGivenUpOnAndEndsOnWhatItOwns) {
  auto gate = std::make_shared<Gate>();
  const auto asked = std::chrono::steady_clock::now();
  std::optional<int> answer = AskWithin<int>(
      [gate] {
        gate->WaitOpen();
        gate->finished = true;
        return 42;
      },
      milliseconds(100));
  const auto waited = std::chrono::steady_clock::now() - asked;
  EXPECT_FALSE(answer.has_value()) << "the question could not have been answered";
  EXPECT_GE(waited, milliseconds(100)) << "it gave up before its wait was over";
  EXPECT_FALSE(gate->finished);
  // The question is still out, on its own thread; answered later, it ends without its caller
  // (the sanitizers see any use of what the caller owned).
  gate->Open();
  for (int i = 0; i < 500 && !gate->finished; ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_TRUE(gate->finished) << "the question's thread never ended";
}

TEST(AskWithinTest, QuestionsFromManyThreadsEachGetTheirOwnAnswer) {
  std::vector<std::thread> askers;
  std::atomic<int> right{0};
  for (int i = 0; i < 8; ++i) {
    askers.emplace_back([i, &right] {
      std::optional<int> answer = AskWithin<int>([i] { return i * i; }, milliseconds(5000));
      if (answer && *answer == i * i) ++right;
    });
  }
  for (std::thread& t : askers) t.join();
  EXPECT_EQ(right, 8);
}

}  // namespace
}  // namespace greenshift
