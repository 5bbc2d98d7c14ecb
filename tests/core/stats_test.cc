#include "core/stats.h"

#include <gtest/gtest.h>

namespace greenshift {
namespace {

TEST(StatsTest, NearestRankPercentile) {
  std::vector<double> values;
  for (int i = 100; i >= 1; --i) values.push_back(i);  // unsorted on purpose
  EXPECT_DOUBLE_EQ(Percentile(values, 50), 50);
  EXPECT_DOUBLE_EQ(Percentile(values, 99), 99);
  EXPECT_DOUBLE_EQ(Percentile(values, 100), 100);
  EXPECT_DOUBLE_EQ(Percentile(values, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile({7}, 99), 7);
  EXPECT_DOUBLE_EQ(Percentile({}, 50), 0);
}

TEST(StatsTest, Mean) {
  EXPECT_DOUBLE_EQ(Mean({1, 2, 3, 4}), 2.5);
  EXPECT_DOUBLE_EQ(Mean({}), 0);
}

}  // namespace
}  // namespace greenshift
