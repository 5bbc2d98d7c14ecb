#include "core/status.h"

#include <gtest/gtest.h>

namespace greenshift {
namespace {

Status FailsWith(const std::string& message) {
  return Status::Error(message);
}

Status Chained(bool fail) {
  GS_RETURN_IF_ERROR(fail ? FailsWith("inner") : Status::Ok());
  return Status::Error("reached the end");
}

TEST(StatusTest, OkAndError) {
  EXPECT_TRUE(Status::Ok().ok());
  EXPECT_EQ(Status::Ok().message(), "");
  Status error = Status::Error("disk missing");
  EXPECT_FALSE(error.ok());
  EXPECT_EQ(error.message(), "disk missing");
  EXPECT_EQ(error.Context("vm web").message(), "vm web: disk missing");
  EXPECT_TRUE(Status::Ok().Context("ignored").ok());
}

TEST(StatusTest, ReturnIfErrorStopsAtTheFirstError) {
  EXPECT_EQ(Chained(true).message(), "inner");
  EXPECT_EQ(Chained(false).message(), "reached the end");
}

TEST(ResultTest, HoldsAValueOrAnError) {
  Result<int> value = 42;
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, 42);
  EXPECT_TRUE(value.status().ok());
  Result<int> error = Status::Error("no such VM");
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.error(), "no such VM");
}

}  // namespace
}  // namespace greenshift
