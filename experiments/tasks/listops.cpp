// listops: evaluate a nested list expression, generated the way the Long Range Arena builds
// ListOps (Tay et al. 2021, after Nangia & Bowman 2018):
//   [MAX 4 3 [MIN 2 3 ] 1 0 [MED 1 5 8 9 2 ] ]   ->  5
// Operators MAX, MIN, MED (the median, rounded down) and SM (sum modulo 10) over digits 0-9.
// The tree is grown as LRA's generator does: below task.max_depth a node is a digit with
// probability 0.75, otherwise an operator over 2..task.max_args children; expressions whose
// token count lies outside [task.min_length, task.length] are redrawn. Tokens are the operators,
// digits and ']' (LRA's text files also hold parentheses, which carry no information).
// Sequence classification into 10 classes with an encoder; sequences are right-padded with 0.
// Accuracy is also reported per nesting depth of the expression (accuracy_depth<D>).
#include <algorithm>
#include <array>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "experiments/tasks/listops.h"
#include "experiments/tasks/example_stream.h"

namespace attnlab::tasks {
namespace {

constexpr std::int64_t kPad = 0;
constexpr std::int64_t kFirstDigit = 1;  // digits 0..9 are tokens 1..10
constexpr std::int64_t kMin = 11, kMax = 12, kMedian = 13, kSumMod = 14, kEnd = 15;
constexpr std::int64_t kVocab = 16;
const std::array<std::string, kVocab> kTokenNames = {
    "<pad>", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "[MIN", "[MAX", "[MED", "[SM", "]"};
constexpr double kLeafProbability = 0.75;  // LRA's VALUE_P = 0.25 is the operator probability

bool is_operator(std::int64_t token) { return token >= kMin && token <= kSumMod; }

std::int64_t apply(std::int64_t op, std::vector<std::int64_t> values) {
  switch (op) {
    case kMin: return *std::min_element(values.begin(), values.end());
    case kMax: return *std::max_element(values.begin(), values.end());
    case kSumMod: return std::accumulate(values.begin(), values.end(), std::int64_t{0}) % 10;
    default: {  // median, rounded down as int(np.median(...)) does for non-negative values
      std::sort(values.begin(), values.end());
      const auto n = values.size();
      return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    }
  }
}

}  // namespace

std::pair<std::int64_t, std::int64_t> evaluate_listops(const std::vector<std::int64_t>& tokens) {
  std::vector<std::pair<std::int64_t, std::vector<std::int64_t>>> stack;  // operator, arguments
  std::int64_t depth = 0, value = -1;
  for (const auto token : tokens) {
    if (token == kPad) continue;
    if (is_operator(token)) {
      stack.push_back({token, {}});
      depth = std::max(depth, static_cast<std::int64_t>(stack.size()));
      continue;
    }
    std::int64_t result = token - kFirstDigit;
    if (token == kEnd) {
      if (stack.empty()) throw std::invalid_argument("listops: ']' without an operator");
      result = apply(stack.back().first, stack.back().second);
      stack.pop_back();
    } else if (token < kFirstDigit || token >= kMin) {
      throw std::invalid_argument("listops: token " + std::to_string(token) + " out of range");
    }
    if (stack.empty()) {
      value = result;
    } else {
      stack.back().second.push_back(result);
    }
  }
  if (!stack.empty() || value < 0) throw std::invalid_argument("listops: unbalanced expression");
  return {value, depth};
}

namespace {

class ListOpsTask : public Task {
 public:
  explicit ListOpsTask(const config::Config& config)
      : length_(config.get_int("task.length")),
        min_length_(config.get_int("task.min_length")),
        max_depth_(config.get_int("task.max_depth")),
        max_args_(config.get_int("task.max_args")),
        streams_(config) {
    if (min_length_ > length_) {
      throw config::ConfigError("task.min_length = " + std::to_string(min_length_) +
                                " exceeds task.length = " + std::to_string(length_));
    }
    // The longest expression the depth and argument limits allow: a full tree of max_args
    // children per operator, two tokens per operator and one per digit.
    double longest = 1.0;
    for (std::int64_t level = 1; level < max_depth_; ++level) {
      longest = 2.0 + static_cast<double>(max_args_) * longest;
    }
    if (longest < static_cast<double>(min_length_)) {
      throw config::ConfigError("task.min_length = " + std::to_string(min_length_) +
                                " cannot be reached with task.max_depth = " +
                                std::to_string(max_depth_) + " and task.max_args = " +
                                std::to_string(max_args_));
    }
  }

  std::int64_t vocab_size() const override { return kVocab; }
  std::int64_t sequence_length() const override { return length_; }
  std::int64_t num_classes() const override { return 10; }
  std::int64_t padding_token() const override { return kPad; }
  // LRA's notation, a token per space-separated name: "[MAX 2 9 [MIN 4 7 ] 0 ]".
  std::vector<std::int64_t> encode(const std::string& text) const override {
    std::istringstream names(text);
    std::vector<std::int64_t> tokens;
    for (std::string name; names >> name;) {
      const auto found = std::find(kTokenNames.begin() + 1, kTokenNames.end(), name);
      if (found == kTokenNames.end()) {
        throw std::invalid_argument("'" + name + "' is not a ListOps token (digits 0 to 9, "
                                    "[MIN, [MAX, [MED, [SM and ], space-separated)");
      }
      tokens.push_back(found - kTokenNames.begin());
    }
    return tokens;
  }
  std::string token_text(std::int64_t token) const override {
    return token >= 0 && token < kVocab ? kTokenNames[static_cast<std::size_t>(token)] : "?";
  }
  std::vector<std::string> supported_archs() const override { return {"encoder"}; }
  std::int64_t split_size(Split split) const override {
    return streams_.size(split);
  }

  Batch examples(Split split, std::int64_t first, std::int64_t count) const override {
    std::vector<std::vector<std::int64_t>> rows;
    std::vector<std::int64_t> labels;
    for (std::int64_t index = first; index < first + count; ++index) {
      auto tokens = streams_.draw(split, index, [this](std::mt19937_64& rng) { return draw(rng); });
      labels.push_back(evaluate_listops(tokens).first);
      tokens.resize(static_cast<std::size_t>(length_), kPad);
      rows.push_back(std::move(tokens));
    }
    return {stack_rows(rows), torch::tensor(labels, torch::kLong), {}};
  }

  // Accuracy per nesting depth of the expression.
  void add_metrics(const Batch& batch, const torch::Tensor& logits,
                   MetricSums& sums) const override {
    const auto right = logits.argmax(-1).eq(batch.targets).to(torch::kCPU);  // [B]
    const auto inputs = batch.inputs.to(torch::kCPU).contiguous();
    for (std::int64_t row = 0; row < inputs.size(0); ++row) {
      const auto* data = inputs[row].data_ptr<std::int64_t>();
      const std::vector<std::int64_t> tokens(data, data + inputs.size(1));
      const auto depth = evaluate_listops(tokens).second;
      sums.add("accuracy_depth" + std::to_string(depth), right[row].item<bool>() ? 1.0 : 0.0, 1.0);
    }
  }

 private:
  // Redraws whole trees until the token count fits; the bound only trips for limits that make
  // fitting trees vanishingly rare, which the user should hear about.
  std::vector<std::int64_t> draw(std::mt19937_64& rng) const {
    constexpr int kMaxTries = 100000;
    for (int attempt = 0; attempt < kMaxTries; ++attempt) {
      std::vector<std::int64_t> tokens;
      grow(/*depth=*/1, rng, tokens);
      const auto size = static_cast<std::int64_t>(tokens.size());
      if (size >= min_length_ && size <= length_) return tokens;
    }
    throw config::ConfigError("task: listops found no expression of " +
                              std::to_string(min_length_) + ".." + std::to_string(length_) +
                              " tokens in " + std::to_string(kMaxTries) +
                              " draws; adjust task.min_length, task.max_depth or task.max_args");
  }

  // LRA's generate_tree: a digit with probability 0.75 below the depth limit (always at it),
  // else an operator over 2..max_args subtrees. Stops early once the expression is too long.
  void grow(std::int64_t depth, std::mt19937_64& rng, std::vector<std::int64_t>& tokens) const {
    if (static_cast<std::int64_t>(tokens.size()) > length_) return;
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    if (depth >= max_depth_ || unit(rng) < kLeafProbability) {
      tokens.push_back(kFirstDigit + std::uniform_int_distribution<std::int64_t>(0, 9)(rng));
      return;
    }
    const auto children = std::uniform_int_distribution<std::int64_t>(2, max_args_)(rng);
    tokens.push_back(std::uniform_int_distribution<std::int64_t>(kMin, kSumMod)(rng));
    for (std::int64_t child = 0; child < children; ++child) grow(depth + 1, rng, tokens);
    tokens.push_back(kEnd);
  }

  std::int64_t length_, min_length_, max_depth_, max_args_;
  ExampleStreams streams_;
};

}  // namespace

ATTNLAB_REGISTER(
    task_registry(),
    {"listops",
     "evaluate nested MAX/MIN/MED/SUM_MOD lists (Long Range Arena ListOps), 10 classes",
     {{"max_depth", std::int64_t{6},
       "listops: tree depth limit; operators nest at most max_depth - 1 deep (LRA: 10)", 1.0},
      {"max_args", std::int64_t{5}, "listops: most arguments of one operator (LRA: 10)", 2.0},
      {"min_length", std::int64_t{16},
       "listops: fewest tokens of an expression (LRA: 500; task.length is the most)", 1.0}},
     {},
     {},
     [](const config::Config& config) { return std::make_shared<ListOpsTask>(config); }});

}  // namespace attnlab::tasks
