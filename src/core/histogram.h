// A histogram of observations in fixed buckets (upper bounds), with their count and sum: what a
// Prometheus histogram exposes, kept as a plain value so that the module measuring (the engine)
// needs no knowledge of how it is rendered. Not thread-safe: the owner guards it.
#pragma once

#include <cstdint>
#include <vector>

namespace greenshift {

class Histogram {
 public:
  // `upper_bounds` increasing; an implicit last bucket takes everything above them (+Inf).
  explicit Histogram(std::vector<double> upper_bounds)
      : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

  void Observe(double value) {
    size_t i = 0;
    while (i < bounds_.size() && value > bounds_[i]) ++i;
    ++counts_[i];
    ++count_;
    sum_ += value;
  }
  const std::vector<double>& bounds() const { return bounds_; }
  // Observations <= bounds()[i] (i < bounds().size()), cumulative as Prometheus counts them.
  int64_t CumulativeCount(size_t i) const {
    int64_t n = 0;
    for (size_t j = 0; j <= i && j < counts_.size(); ++j) n += counts_[j];
    return n;
  }
  int64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;
  int64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace greenshift
