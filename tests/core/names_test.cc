#include "core/names.h"

#include <gtest/gtest.h>

namespace greenshift {
namespace {

TEST(NamesTest, AcceptsShortPlainNames) {
  EXPECT_TRUE(ValidateName("VM name", "web-1").ok());
  EXPECT_TRUE(ValidateName("VM name", "a").ok());
  EXPECT_TRUE(ValidateName("VM name", "abcdefghijkl").ok());
}

TEST(NamesTest, RejectionsNameTheProblem) {
  EXPECT_EQ(ValidateName("VM name", "").message(), "VM name is empty");
  EXPECT_NE(ValidateName("VM name", "abcdefghijklm").message().find("longer than 12"),
            std::string::npos);
  EXPECT_NE(ValidateName("site name", "Frankfurt").message().find("found 'F'"), std::string::npos);
  EXPECT_NE(ValidateName("VM name", "a/b").message().find("found '/'"), std::string::npos);
  EXPECT_FALSE(ValidateName("VM name", "-x").ok());
}

}  // namespace
}  // namespace greenshift
