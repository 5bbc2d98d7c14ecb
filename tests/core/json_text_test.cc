#include "core/json_text.h"

#include <gtest/gtest.h>

#include <string>

namespace greenshift {
namespace {

TEST(JsonTextTest, NestingIsCountedOutsideStringsOnly) {
  EXPECT_FALSE(JsonNestsDeeperThan("", 0));
  EXPECT_FALSE(JsonNestsDeeperThan("42", 0));
  EXPECT_TRUE(JsonNestsDeeperThan("[]", 0));
  EXPECT_FALSE(JsonNestsDeeperThan("[]", 1));
  EXPECT_FALSE(JsonNestsDeeperThan(R"({"a":[1,{"b":[]}]})", 4));
  EXPECT_TRUE(JsonNestsDeeperThan(R"({"a":[1,{"b":[]}]})", 3));
  // Siblings do not add up: depth, not count.
  EXPECT_FALSE(JsonNestsDeeperThan("[[],[],[],[],[]]", 2));
  // Brackets in strings, escaped quotes included, are text.
  EXPECT_FALSE(JsonNestsDeeperThan(R"(["[[[[", "\"[[[[", {"k{{{": "]]]"}])", 2));
  // Closers without openers (broken text) never make the depth negative or wrap it.
  EXPECT_FALSE(JsonNestsDeeperThan("]]]]}}}}[", 1));
  EXPECT_TRUE(JsonNestsDeeperThan("]]]]}}}}[[", 1));
}

TEST(JsonTextTest, AMillionOpenBracketsAreRefusedAtTheLimit) {
  // What a hostile feed or sensor sends: refused as soon as the limit is passed.
  const std::string deep(1000000, '[');
  EXPECT_TRUE(JsonNestsDeeperThan(deep, kMaxInputJsonDepth));
  EXPECT_FALSE(JsonNestsDeeperThan(std::string(kMaxInputJsonDepth, '['), kMaxInputJsonDepth));
  EXPECT_TRUE(JsonNestsDeeperThan(std::string(kMaxInputJsonDepth + 1, '['), kMaxInputJsonDepth));
}

}  // namespace
}  // namespace greenshift
