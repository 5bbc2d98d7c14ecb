#include "cli/chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "core/xml.h"

namespace greenshift::cli {

namespace {

// A round tick spacing (1, 2 or 5 x 10^n) giving about `ticks` intervals over `range`.
double NiceStep(double range, int ticks) {
  if (!(range > 0)) return 1;
  const double raw = range / ticks;
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * magnitude) return m * magnitude;
  }
  return 10 * magnitude;
}

std::string Number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", v);
  return text;
}

std::string TickLabel(double v, double step) {
  char text[32];
  std::snprintf(text, sizeof text, step >= 1 ? "%.0f" : step >= 0.1 ? "%.1f" : "%.2f", v);
  return text;
}

std::string TimeLabel(int64_t t, bool with_date) {
  const std::time_t time = t;
  std::tm parts{};
  gmtime_r(&time, &parts);
  char text[32];
  std::strftime(text, sizeof text, with_date ? "%m-%d %H:%M" : "%H:%M", &parts);
  return text;
}

}  // namespace

std::string SeriesColor(size_t i) {
  static const char* const kPalette[] = {"#1f77b4", "#ff7f0e", "#d62728", "#9467bd", "#8c564b",
                                         "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  constexpr size_t kN = sizeof kPalette / sizeof kPalette[0];
  if (i < kN) return kPalette[i];
  // Hues by the golden angle, the green band (80-160 degrees) folded out of the way.
  double hue = std::fmod(static_cast<double>(i - kN) * 137.508, 280.0);
  if (hue >= 80) hue += 80;
  const double lightness = (i - kN) % 2 == 0 ? 0.42 : 0.62, saturation = 0.65;
  const double c = (1 - std::abs(2 * lightness - 1)) * saturation;
  const double x = c * (1 - std::abs(std::fmod(hue / 60, 2.0) - 1));
  const double m = lightness - c / 2;
  double r = 0, g = 0, b = 0;
  switch (static_cast<int>(hue / 60) % 6) {
    case 0:
      r = c, g = x;
      break;
    case 1:
      r = x, g = c;
      break;
    case 2:
      g = c, b = x;
      break;
    case 3:
      g = x, b = c;
      break;
    case 4:
      r = x, b = c;
      break;
    default:
      r = c, b = x;
      break;
  }
  char text[8];
  std::snprintf(text, sizeof text, "#%02x%02x%02x", static_cast<int>(std::lround((r + m) * 255)),
                static_cast<int>(std::lround((g + m) * 255)),
                static_cast<int>(std::lround((b + m) * 255)));
  return text;
}

std::string RenderSvg(const TimeChart& chart, int width, int height) {
  const double left = 64, right = 16, top = 36, bottom = 64;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  double lo = 0, hi = 0;
  for (const ChartSeries& s : chart.series) {
    for (double v : s.values) {
      if (std::isnan(v)) continue;
      lo = std::min(lo, v / chart.y_scale);
      hi = std::max(hi, v / chart.y_scale);
    }
  }
  if (lo < 0 && -lo <= 0.02 * hi) lo = 0;  // a slight dip below zero: drawn at 0
  if (hi <= lo) hi = lo + 1;
  const double step = NiceStep(hi - lo, 5);
  lo = std::floor(lo / step) * step;
  hi = std::ceil(hi / step) * step;
  const size_t n = chart.time_utc_s.size();
  const int64_t t0 = n ? chart.time_utc_s.front() : 0;
  const int64_t t1 = n > 1 ? chart.time_utc_s.back() : t0 + 1;
  auto x_of = [&](int64_t t) {
    return left + plot_w * static_cast<double>(t - t0) / static_cast<double>(t1 - t0);
  };
  auto y_of = [&](double v) {
    return top + plot_h * (1 - (std::max(lo, v / chart.y_scale) - lo) / (hi - lo));
  };

  std::string svg;
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) +
         "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) +
         " " + std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + Number(left) + "\" y=\"22\" font-size=\"15\" font-weight=\"bold\">" +
         XmlEscape(chart.title) + "</text>\n";
  // Horizontal grid and y labels.
  for (double v = lo; v <= hi + step / 2; v += step) {
    const double y = top + plot_h * (1 - (v - lo) / (hi - lo));
    svg += "<line x1=\"" + Number(left) + "\" x2=\"" + Number(left + plot_w) + "\" y1=\"" +
           Number(y) + "\" y2=\"" + Number(y) + "\" stroke=\"#ddd\"/>\n";
    svg += "<text x=\"" + Number(left - 6) + "\" y=\"" + Number(y + 4) + "\" text-anchor=\"end\">" +
           TickLabel(v, step) + "</text>\n";
  }
  svg += "<text transform=\"rotate(-90)\" x=\"" + Number(-(top + plot_h / 2)) +
         "\" y=\"16\" text-anchor=\"middle\">" + XmlEscape(chart.y_label) + "</text>\n";
  // Time ticks: whole hours, about 8 of them.
  if (n > 1) {
    const int64_t span = t1 - t0;
    int64_t tick = 3600;
    for (int64_t candidate : {3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400, 30 * 86400}) {
      tick = candidate;
      if (span / candidate <= 8) break;
    }
    const bool with_date = span > 86400 || tick >= 86400;
    for (int64_t t = (t0 + tick - 1) / tick * tick; t <= t1; t += tick) {
      const double x = x_of(t);
      svg += "<line x1=\"" + Number(x) + "\" x2=\"" + Number(x) + "\" y1=\"" + Number(top) +
             "\" y2=\"" + Number(top + plot_h) + "\" stroke=\"#eee\"/>\n";
      svg += "<text x=\"" + Number(x) + "\" y=\"" + Number(top + plot_h + 16) +
             "\" text-anchor=\"middle\">" + TimeLabel(t, with_date) + "</text>\n";
    }
    svg += "<text x=\"" + Number(left + plot_w / 2) + "\" y=\"" + Number(top + plot_h + 32) +
           "\" text-anchor=\"middle\" fill=\"#555\">time (UTC)</text>\n";
  }
  svg += "<rect x=\"" + Number(left) + "\" y=\"" + Number(top) + "\" width=\"" + Number(plot_w) +
         "\" height=\"" + Number(plot_h) + "\" fill=\"none\" stroke=\"#888\"/>\n";
  // The series: one polyline per run of known values.
  for (const ChartSeries& s : chart.series) {
    std::vector<std::pair<double, double>> run;
    auto flush = [&]() {
      if (run.empty()) return;
      std::string pts;
      for (const auto& [x, y] : run) pts += Number(x) + "," + Number(y) + " ";
      if (s.filled) {
        svg += "<polygon fill=\"" + s.color + "\" fill-opacity=\"0.15\" stroke=\"none\" points=\"" +
               Number(run.front().first) + "," + Number(y_of(0)) + " " + pts +
               Number(run.back().first) + "," + Number(y_of(0)) + "\"/>\n";
      }
      svg += "<polyline class=\"series\" fill=\"none\" stroke=\"" + s.color +
             "\" stroke-width=\"2\"" + (s.dashed ? " stroke-dasharray=\"6,4\"" : "") +
             " points=\"" + pts + "\"/>\n";
      run.clear();
    };
    for (size_t i = 0; i < std::min(n, s.values.size()); ++i) {
      if (std::isnan(s.values[i])) {
        flush();
        continue;
      }
      run.emplace_back(x_of(chart.time_utc_s[i]), y_of(s.values[i]));
    }
    flush();
  }
  // Legend, under the axis.
  double x = left;
  for (const ChartSeries& s : chart.series) {
    const double y = height - 12;
    svg += "<line x1=\"" + Number(x) + "\" x2=\"" + Number(x + 22) + "\" y1=\"" + Number(y - 4) +
           "\" y2=\"" + Number(y - 4) + "\" stroke=\"" + s.color + "\" stroke-width=\"3\"" +
           (s.dashed ? " stroke-dasharray=\"6,4\"" : "") + "/>\n";
    svg += "<text x=\"" + Number(x + 28) + "\" y=\"" + Number(y) + "\">" + XmlEscape(s.name) +
           "</text>\n";
    x += 40 + 7.0 * static_cast<double>(s.name.size());
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace greenshift::cli
