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

// The chart as an SVG document of `width` x `height` pixels. The y axis starts at 0 (or at the
// lowest value when that is negative) and ends at a round number above the highest; time ticks
// are in UTC.
std::string RenderSvg(const TimeChart& chart, int width = 960, int height = 360);

}  // namespace greenshift::cli
