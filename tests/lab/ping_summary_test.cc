#include <gtest/gtest.h>

#include "lab/ping_probe.h"

namespace greenshift::lab {
namespace {

std::vector<PingSample> Timeline(const std::vector<double>& rtts) {
  std::vector<PingSample> timeline;
  for (size_t i = 0; i < rtts.size(); ++i)
    timeline.push_back({10.0 * static_cast<double>(i), rtts[i]});
  return timeline;
}

TEST(PingSummaryTest, NoLossGivesTheIntervalAsLongestGap) {
  PingResult result = SummarisePing("198.18.128.10", 10, Timeline({0.5, 0.7, 0.6, 0.4}));
  EXPECT_EQ(result.sent, 4);
  EXPECT_EQ(result.lost, 0);
  EXPECT_DOUBLE_EQ(result.longest_gap_ms, 10);
  EXPECT_NEAR(result.longest_silence_ms, 10.2, 1e-9);  // answers 0.5, 10.7, 20.6, 30.4 ms in
  EXPECT_DOUBLE_EQ(result.rtt_min_ms, 0.4);
  EXPECT_DOUBLE_EQ(result.rtt_max_ms, 0.7);
}

TEST(PingSummaryTest, ABlackoutShowsAsLossAndGap) {
  PingResult result = SummarisePing("x", 10, Timeline({0.5, -1, -1, -1, 0.6, 0.5}));
  EXPECT_EQ(result.lost, 3);
  EXPECT_EQ(result.received, 3);
  EXPECT_DOUBLE_EQ(result.longest_gap_ms, 40);
  EXPECT_NEAR(result.longest_silence_ms, 40.1, 1e-9);
}

// A guest paused from 1 to 55 ms loses no ping (they wait, and are answered when it runs again)
// and no send time goes unanswered: only the answers' arrival shows the pause its users saw.
TEST(PingSummaryTest, APauseWithoutLossShowsAsSilence) {
  PingResult result = SummarisePing("x", 10, Timeline({0.5, 45, 35, 25, 15, 5.5, 0.5}));
  EXPECT_EQ(result.lost, 0);
  EXPECT_DOUBLE_EQ(result.longest_gap_ms, 10);
  EXPECT_DOUBLE_EQ(result.longest_silence_ms, 54.5);  // from 0.5 to 55 ms
}

TEST(PingSummaryTest, LossAtTheEndCounts) {
  PingResult result = SummarisePing("x", 10, Timeline({0.5, -1, -1}));
  EXPECT_EQ(result.lost, 2);
  EXPECT_DOUBLE_EQ(result.longest_gap_ms, 30);
  EXPECT_DOUBLE_EQ(result.longest_silence_ms, 29.5);  // from the answer at 0.5 ms to 30 ms
  PingResult none = SummarisePing("x", 10, Timeline({-1, -1}));
  EXPECT_EQ(none.received, 0);
  EXPECT_DOUBLE_EQ(none.longest_gap_ms, 30);
  EXPECT_DOUBLE_EQ(none.longest_silence_ms, 30);
}

}  // namespace
}  // namespace greenshift::lab
