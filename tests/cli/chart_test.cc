#include "cli/chart.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

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

TEST(ChartTest, TheAxisStartsAtZeroUnderASlightNightTimeDip) {
  // A measured PV series: -15 W standby at night, 6 kW at noon. The axis starts at 0 and the
  // night is drawn on it; a series 1 kW below zero (2 % would be 120 W) moves the axis down.
  TimeChart chart;
  chart.y_scale = 1000;
  for (int h = 0; h < 4; ++h) chart.time_utc_s.push_back(1654041600 + h * 3600);
  chart.series.push_back({"measured", {-15, 3000, 6000, -15}});
  std::string svg = RenderSvg(chart, 800, 300);
  EXPECT_NE(svg.find(">0</text>"), std::string::npos);
  EXPECT_EQ(svg.find(">-"), std::string::npos) << "a negative tick under a slight dip";
  chart.series.push_back({"net", {-1000, 0, 0, 0}});
  svg = RenderSvg(chart, 800, 300);
  EXPECT_NE(svg.find(">-"), std::string::npos) << "no negative tick for a series 1 kW below 0";
}

TEST(ChartTest, SeriesColorsAreDistinctAndNeverGreen) {
  // However many policies or sites a report has, each gets its own colour, and none the green
  // of green power: no two hues within 4 degrees, no green-dominated colour.
  std::set<std::string> seen;
  std::vector<double> hues;
  for (size_t i = 0; i < 40; ++i) {
    const std::string c = SeriesColor(i);
    ASSERT_EQ(c.size(), 7u) << c;
    EXPECT_TRUE(seen.insert(c).second) << "colour " << i << " repeats " << c;
    EXPECT_NE(c, kGreenColor);
    const int r = std::stoi(c.substr(1, 2), nullptr, 16),
              g = std::stoi(c.substr(3, 2), nullptr, 16),
              b = std::stoi(c.substr(5, 2), nullptr, 16);
    EXPECT_FALSE(g > r + 40 && g > b + 40) << "colour " << i << " " << c << " reads as green";
  }
  EXPECT_EQ(SeriesColor(3), SeriesColor(3));  // a policy keeps its colour from chart to chart
}

}  // namespace
}  // namespace greenshift::cli
