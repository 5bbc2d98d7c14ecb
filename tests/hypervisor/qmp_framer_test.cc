#include "hypervisor/qemu/qmp_client.h"

#include <gtest/gtest.h>

namespace greenshift::qemu {
namespace {

TEST(QmpFramerTest, SplitsMessagesAcrossReads) {
  QmpFramer framer;
  const std::string stream =
      "{\"QMP\": {\"version\": {}}}\r\n{\"return\": {}, \"id\": 1}\r\n{\"event\": \"STOP\", ";
  framer.Feed(stream.data(), stream.size());
  auto first = framer.Next();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->has_value());
  EXPECT_TRUE((**first).contains("QMP"));
  auto second = framer.Next();
  ASSERT_TRUE(second->has_value());
  EXPECT_EQ((**second)["id"], 1);
  auto incomplete = framer.Next();
  ASSERT_TRUE(incomplete.ok());
  EXPECT_FALSE(incomplete->has_value());
  const std::string rest = "\"timestamp\": {\"seconds\": 2, \"microseconds\": 500}}\r\n";
  framer.Feed(rest.data(), rest.size());
  auto third = framer.Next();
  ASSERT_TRUE(third->has_value());
  std::optional<QmpEvent> event = ParseEvent(**third);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->name, "STOP");
  EXPECT_EQ(event->timestamp_us, 2000500);
}

TEST(QmpFramerTest, RejectsGarbageNamingIt) {
  QmpFramer framer;
  const std::string garbage = "not json\n";
  framer.Feed(garbage.data(), garbage.size());
  auto next = framer.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_NE(next.error().find("not json"), std::string::npos);
}

TEST(QmpFramerTest, RepliesAreNotEvents) {
  EXPECT_FALSE(ParseEvent(nlohmann::json{{"return", nlohmann::json::object()}}).has_value());
  auto event = ParseEvent(nlohmann::json{{"event", "MIGRATION"}, {"data", {{"status", "active"}}}});
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->data["status"], "active");
}

}  // namespace
}  // namespace greenshift::qemu
