// Summary statistics for measured series (latencies, round-trip times).
#pragma once

#include <vector>

namespace greenshift {

// The p-th percentile (0..100) by the nearest-rank method; 0 for an empty series.
// Takes a copy because it sorts.
double Percentile(std::vector<double> values, double p);
double Mean(const std::vector<double>& values);
// The middle value (the mean of the two middle ones for an even count); NaN for an empty series.
double Median(std::vector<double> values);

}  // namespace greenshift
