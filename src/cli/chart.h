// Line charts over time as standalone SVG, for the files the CLI writes (forecast charts, the
// simulation report). No scripts, no external resources: a browser or an image viewer shows them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace greenshift::cli {

struct ChartSeries {
  std::string name;
  std::vector<double> values;  // one per time; NaN leaves a gap
  std::string color = "#1f77b4";
  bool dashed = false;
  bool filled = false;  // shade the area under the line
};

struct TimeChart {
  std::string title;
  std::string y_label;              // e.g. "kW"
  std::vector<int64_t> time_utc_s;  // the x axis
  std::vector<ChartSeries> series;
  double y_scale = 1;  // values are divided by this before plotting (W -> kW: 1000)
};

// The chart as an SVG document of `width` x `height` pixels. The y axis starts at 0 and ends at
// a round number above the highest value; time ticks are in UTC. Values below 0 by at most 2 %
// of the highest (a PV inverter's standby draw at night in a measured series) are drawn at 0;
// only a series that goes further below (a net flow) moves the axis's start below 0.
std::string RenderSvg(const TimeChart& chart, int width = 960, int height = 360);

// The colour of green power in every chart; no other series gets it.
inline constexpr const char* kGreenColor = "#2ca02c";
// The i-th of as many colours as a chart has series, told apart by eye: nine of a qualitative
// palette (Tableau 10 without its green), then hues spread by the golden angle away from green,
// in alternating lightness. The same index gives the same colour, so a policy or a site keeps
// its colour from chart to chart.
std::string SeriesColor(size_t i);

}  // namespace greenshift::cli
