#include "experiments/train/step_sums.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace attnlab::train {
namespace {

constexpr std::size_t kFields = 5;

}  // namespace

StepSums& StepSums::operator+=(const StepSums& other) {
  loss_sum += other.loss_sum;
  scored += other.scored;
  correct += other.correct;
  sequences_correct += other.sequences_correct;
  sequences += other.sequences;
  return *this;
}

double StepSums::mean_loss() const { return loss_sum / std::max(1.0, scored); }

double StepSums::accuracy() const { return correct / std::max(1.0, scored); }

double StepSums::sequence_accuracy() const { return sequences_correct / std::max(1.0, sequences); }

std::vector<double> StepSums::to_vector() const {
  return {loss_sum, scored, correct, sequences_correct, sequences};
}

StepSums StepSums::from_vector(const std::vector<double>& values) {
  if (values.size() != kFields) {
    throw std::invalid_argument("the train-metric window holds " + std::to_string(values.size()) +
                                " values, not " + std::to_string(kFields));
  }
  return {values[0], values[1], values[2], values[3], values[4]};
}

}  // namespace attnlab::train
