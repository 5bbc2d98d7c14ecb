#include "control/model_check.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "core/stats.h"

namespace greenshift::control {

namespace {

double Relative(double measured, double predicted) {
  if (!(predicted > 0) || !(measured >= 0)) return NAN;
  return (measured - predicted) / predicted;
}

double MedianAbs(const std::deque<ModelError>& errors, double ModelError::*field) {
  std::vector<double> values;
  for (const ModelError& e : errors) {
    if (!std::isnan(e.*field)) values.push_back(std::abs(e.*field));
  }
  return Median(std::move(values));
}

}  // namespace

bool Comparable(const placement::MoveCost& predicted, const hypervisor::MigrationResult& measured) {
  return measured.completed && predicted.total_s > 0 && predicted.postcopy == measured.postcopy;
}

ModelError ErrorOf(const placement::MoveCost& predicted,
                   const hypervisor::MigrationResult& measured) {
  ModelError error;
  error.total = Relative(measured.total_ms / 1000, predicted.total_s);
  error.bytes = Relative(static_cast<double>(measured.bytes + measured.disk_bytes),
                         static_cast<double>(predicted.bytes));
  const double pause_ms = measured.paused_ms >= 0 ? measured.paused_ms : measured.downtime_ms;
  error.pause = pause_ms >= 0 ? Relative(pause_ms / 1000, predicted.downtime_s) : NAN;
  return error;
}

void ModelErrors::Add(const ModelError& error) {
  last_.push_back(error);
  while (last_.size() > window_) last_.pop_front();
}

ModelErrorSummary ModelErrors::Summary() const {
  ModelErrorSummary summary;
  summary.moves = last_.size();
  summary.total = MedianAbs(last_, &ModelError::total);
  summary.bytes = MedianAbs(last_, &ModelError::bytes);
  summary.pause = MedianAbs(last_, &ModelError::pause);
  return summary;
}

}  // namespace greenshift::control
