// A benchmark task: a seeded generator of examples with fixed, disjoint train/val/test splits.
// Tasks register by name (task.name) with the config keys they read, like attention variants.
//
// B = batch, T = sequence length.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/types.h>

#include "experiments/config/config.h"
#include "base/registry.h"

namespace attnlab::tasks {

enum class Split { Train, Val, Test };
std::string split_name(Split split);
Split parse_split(const std::string& name);  // throws config::ConfigError

// Loss and accuracy count only targets != kIgnore (the prompt part of a copy task, padding, ...).
constexpr std::int64_t kIgnore = -100;

struct Batch {
  torch::Tensor inputs;   // [B,T] int64 tokens (the decoder's input for encoder-decoder tasks)
  torch::Tensor targets;  // [B,T] int64 next-token targets, kIgnore where not scored; or [B] classes
  torch::Tensor source;   // [B,S] int64 encoder tokens (encoder-decoder tasks only, else undefined)
};

// Task-specific evaluation metrics, accumulated over batches as sums and counts; reported as
// sum / count (e.g. accuracy on one slice of the data).
class MetricSums {
 public:
  void add(const std::string& name, double sum, double count);
  std::map<std::string, double> means() const;

 private:
  std::map<std::string, std::pair<double, double>> sums_;
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::int64_t vocab_size() const = 0;
  virtual std::int64_t sequence_length() const = 0;     // inputs' T
  virtual std::int64_t source_length() const { return 0; }  // encoder_decoder: the source's S
  virtual std::int64_t num_classes() const { return 0; }  // > 0: one class per sequence
  virtual std::vector<std::string> supported_archs() const = 0;  // model.arch values
  // Examples [first, first + count) of a split, in a fixed order. The train split is an endless
  // stream (any index is valid); val and test hold split_size() examples.
  virtual Batch examples(Split split, std::int64_t first, std::int64_t count) const = 0;
  virtual std::int64_t split_size(Split split) const = 0;

  // Metrics beyond loss and accuracy for one evaluation batch (logits as the model returned
  // them, detached), e.g. accuracy per slice of the data.
  virtual void add_metrics(const Batch& batch, const torch::Tensor& logits,
                           MetricSums& sums) const {
    (void)batch, (void)logits, (void)sums;
  }
  // Metrics derived from the means of the others (e.g. a difference of two losses).
  virtual void finish_metrics(std::map<std::string, double>& metrics) const { (void)metrics; }

  // A user's text as the model's tokens, and each token as text (`attnlab probe`). Text tasks
  // read words or characters; the others read space-separated token ids ("3 17 5"). Throws
  // std::invalid_argument saying what cannot be read.
  virtual std::vector<std::int64_t> encode(const std::string& text) const;
  virtual std::string token_text(std::int64_t token) const { return std::to_string(token); }
  // The model's input for an encoded text: the tokens themselves, or with what the task puts
  // around every example (a classification token in front: cls_token.h).
  virtual std::vector<std::int64_t> framed(std::vector<std::int64_t> tokens) const {
    return tokens;
  }
  // The token a task pads its inputs with to task.length, or -1 when its inputs are never padded
  // (a causal model then reads a shorter input exactly, whatever follows it).
  virtual std::int64_t padding_token() const { return -1; }
  // A vocabulary the task built from its data, as text (wordlm: one word per line, in id order);
  // empty when the config alone fixes the tokens. Training keeps it in the run
  // (run::RunDir::vocabulary_file) and later commands read it back, so they tokenize the same
  // way even when the data file has changed.
  virtual std::string vocabulary() const { return {}; }
};

using TaskRegistry = attnlab::Registry<Task, const config::Config&>;
TaskRegistry& task_registry();

// Builds the configured task (task.name), with a classification token in front of its inputs
// under model.pooling = "cls" (cls_token.h); throws config::ConfigError for unknown names and
// options the task rejects, when model.arch is not among its supported shapes, and for CLS
// pooling of a task without classes.
std::shared_ptr<Task> make_task(const config::Config& config);

}  // namespace attnlab::tasks
