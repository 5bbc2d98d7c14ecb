#include "cli/chart.h"

#include <gtest/gtest.h>

#include <cmath>

namespace greenshift::cli {
namespace {

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(ChartTest, OneLinePerRunOfKnownValuesAndEscapedText) {
  TimeChart chart;
  chart.title = "Sites <A> & \"B\"";
  chart.y_label = "kW";
  chart.y_scale = 1000;
  for (int h = 0; h < 6; ++h) chart.time_utc_s.push_back(1654041600 + h * 3600);
  chart.series.push_back({"a", {1000, 2000, NAN, 4000, 5000, 6000}, "#111111"});
  chart.series.push_back({"b & c", {0, 0, 0, 0, 0, 0}, "#222222", true, true});
  const std::string svg = RenderSvg(chart, 800, 300);
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"800\"", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(Count(svg, "class=\"series\""), 3u);  // "a" breaks at the gap
  EXPECT_EQ(Count(svg, "<polygon"), 1u);          // only "b & c" is filled
  EXPECT_NE(svg.find("Sites &lt;A&gt; &amp; &quot;B&quot;"), std::string::npos);
  EXPECT_NE(svg.find(">b &amp; c</text>"), std::string::npos);
  EXPECT_EQ(svg.find("b & c"), std::string::npos);
  // The y axis ends at a round number above 6 kW, and time ticks are labelled.
  EXPECT_NE(svg.find(">6</text>"), std::string::npos);
  EXPECT_NE(svg.find(">01:00</text>"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
}

}  // namespace
}  // namespace greenshift::cli
