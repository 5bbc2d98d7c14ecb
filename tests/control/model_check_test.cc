// The cost model's error per move and over the last moves (control/model_check.h).
#include "control/model_check.h"

#include <gtest/gtest.h>

#include <cmath>

namespace greenshift::control {
namespace {

placement::MoveCost Priced(double total_s, int64_t bytes, double downtime_s) {
  placement::MoveCost cost;
  cost.feasible = true;
  cost.total_s = total_s;
  cost.bytes = bytes;
  cost.downtime_s = downtime_s;
  return cost;
}

hypervisor::MigrationResult Measured(double total_ms, int64_t bytes, double paused_ms) {
  hypervisor::MigrationResult result;
  result.completed = true;
  result.total_ms = total_ms;
  result.bytes = bytes;
  result.paused_ms = paused_ms;
  return result;
}

TEST(ModelCheckTest, ErrorsAreMeasuredOverPredicted) {
  hypervisor::MigrationResult measured = Measured(12000, 80, 30);
  measured.disk_bytes = 40;  // a copied disk counts: the model priced it too
  const ModelError e = ErrorOf(Priced(10, 100, 0.020), measured);
  EXPECT_NEAR(e.total, 0.2, 1e-12);
  EXPECT_NEAR(e.bytes, 0.2, 1e-12);
  EXPECT_NEAR(e.pause, 0.5, 1e-12);
  // Faster than predicted is a negative error.
  EXPECT_NEAR(ErrorOf(Priced(10, 100, 0.020), Measured(5000, 50, 10)).total, -0.5, 1e-12);
}

TEST(ModelCheckTest, APauseTheDriverDidNotSeeIsItsDowntimeOrNothing) {
  hypervisor::MigrationResult measured = Measured(10000, 100, -1);
  measured.downtime_ms = 25;
  EXPECT_NEAR(ErrorOf(Priced(10, 100, 0.020), measured).pause, 0.25, 1e-12);
  measured.downtime_ms = -1;
  EXPECT_TRUE(std::isnan(ErrorOf(Priced(10, 100, 0.020), measured).pause));
  // A prediction of no pause at all (a regular move priced without one) has no relative error.
  EXPECT_TRUE(std::isnan(ErrorOf(Priced(10, 100, 0), Measured(10000, 100, 5)).pause));
}

TEST(ModelCheckTest, OnlyMovesThatRanAsPricedAreCompared) {
  EXPECT_TRUE(Comparable(Priced(10, 100, 0.02), Measured(1, 1, 1)));
  hypervisor::MigrationResult failed = Measured(1, 1, 1);
  failed.completed = false;
  EXPECT_FALSE(Comparable(Priced(10, 100, 0.02), failed));
  EXPECT_FALSE(Comparable(placement::MoveCost{}, Measured(1, 1, 1)));  // never priced
  hypervisor::MigrationResult switched = Measured(1, 1, 1);
  switched.postcopy = true;  // priced as pre-copy, ran as post-copy
  EXPECT_FALSE(Comparable(Priced(10, 100, 0.02), switched));
  placement::MoveCost postcopy = Priced(10, 100, 0.02);
  postcopy.postcopy = true;
  EXPECT_TRUE(Comparable(postcopy, switched));
}

TEST(ModelCheckTest, TheSummaryIsTheMedianAbsoluteErrorOfTheLastMoves) {
  ModelErrors errors(3);
  ModelErrorSummary empty = errors.Summary();
  EXPECT_EQ(empty.moves, 0u);
  EXPECT_TRUE(std::isnan(empty.total));
  errors.Add({0.9, 0.9, 0.9});  // pushed out of the window of 3 below
  errors.Add({-0.3, 0.1, NAN});
  errors.Add({0.1, -0.2, NAN});
  errors.Add({0.2, 0.4, 0.5});
  const ModelErrorSummary s = errors.Summary();
  EXPECT_EQ(s.moves, 3u);
  EXPECT_NEAR(s.total, 0.2, 1e-12);  // |-0.3|, 0.1, 0.2
  EXPECT_NEAR(s.bytes, 0.2, 1e-12);  // 0.1, |-0.2|, 0.4
  EXPECT_NEAR(s.pause, 0.5, 1e-12);  // the one move that had a pause
  errors.Add({0.1, 0.1, 0.7});
  EXPECT_NEAR(errors.Summary().pause, 0.6, 1e-12);  // even: the mean of the middle two
}

}  // namespace
}  // namespace greenshift::control
