// The counts a train metrics row is made of, summed over micro-batches, steps and a logging
// window (and kept across a resume by the checkpoint), then divided once when the row is written:
// sums, not means, so that every scored target weighs the same whatever the batch it came in.
#pragma once

#include <vector>

namespace attnlab::train {

struct StepSums {
  double loss_sum = 0.0;           // cross-entropy summed over scored targets (nats)
  double scored = 0.0;             // scored targets
  double correct = 0.0;            // scored targets predicted right
  double sequences_correct = 0.0;  // sequences with every scored target right
  double sequences = 0.0;          // sequences with at least one scored target

  StepSums& operator+=(const StepSums& other);

  // Means over what was scored; an empty window divides by 1 (its sums are 0).
  double mean_loss() const;
  double accuracy() const;
  double sequence_accuracy() const;

  // The fields in the order above: a checkpoint's "window" tensor.
  std::vector<double> to_vector() const;
  // Throws std::invalid_argument unless `values` holds exactly one value per field.
  static StepSums from_vector(const std::vector<double>& values);
};

}  // namespace attnlab::train
