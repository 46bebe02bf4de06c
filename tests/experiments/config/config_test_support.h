// Shared by the config library tests: a small schema built in code and a temporary config
// directory, so the tests never depend on the project's real configs.
#pragma once

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "experiments/config/config.h"

namespace attnlab::config::testing {

namespace fs = std::filesystem;

inline Constraint above(double min) {
  Constraint constraint;
  constraint.min = min;
  constraint.min_exclusive = true;
  return constraint;
}

// Groups: model, variant, train. Free section: extra. One cross-check: heads divide d_model.
inline Schema make_schema() {
  Schema schema;
  schema.add("seed", Type::Int, 0, "Random seed for everything.", at_least(0))
      .add("experiment.name", Type::String, "scratch", "Name of the experiment.")
      .add("model.name", Type::String, "none", "Which model option was picked.")
      .add("model.d_model", Type::Int, 32, "Embedding width.", at_least(1))
      .add("model.heads", Type::Int, 2, "Attention heads.", at_least(1))
      .add("model.dropout", Type::Float, 0.0, "Dropout probability.", between(0.0, 1.0))
      .add("variant.name", Type::String, "softmax", "Attention variant.",
           one_of({"softmax", "rope", "alibi", "scaled"}))
      .add("variant.scale", Type::Float, 1.0, "Multiplier on attention scores.")
      .add("train.lr", Type::Float, 1e-3, "Learning rate.", above(0))
      .add("train.steps", Type::Int, 100, "Optimizer steps.", at_least(1))
      .add("train.use_amp", Type::Bool, false, "Mixed precision.")
      .add("eval.lengths", Type::IntList, std::vector<std::int64_t>{64, 128},
           "Sequence lengths to evaluate.", at_least(1))
      .add("eval.temperatures", Type::FloatList, std::vector<double>{1.0}, "Softmax temperatures.")
      .add("eval.tags", Type::StringList, std::vector<std::string>{}, "Free-form tags.",
           one_of({"fast", "slow", "a b"}))
      .add_group("model")
      .add_group("variant")
      .add_group("train")
      .add_free_section("extra")
      .add_check([](const Config& config) {
        if (config.get_int("model.d_model") % config.get_int("model.heads") != 0) {
          throw ConfigError("model.d_model must be divisible by model.heads");
        }
      });
  return schema;
}

// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    std::random_device random;
    root_ = fs::temp_directory_path() /
            ("attnlab_config_test_" + std::to_string(random()) + "_" + std::to_string(counter++));
    fs::create_directories(root_);
  }
  ~TempDir() {
    std::error_code error;
    fs::remove_all(root_, error);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& root() const { return root_; }

  // Writes `content` to root/relative (creating directories) and returns the full path.
  fs::path write(const std::string& relative, const std::string& content) const {
    fs::path path = root_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << content;
    return path;
  }

 private:
  fs::path root_;
};

// The option files most composition tests use.
inline void write_standard_options(const TempDir& dir) {
  dir.write("model/tiny.toml", "d_model = 64\nheads = 4\n");
  dir.write("model/big.toml", "name = \"large\"\nd_model = 512\nheads = 8\n");
  dir.write("variant/softmax.toml", "");
  dir.write("variant/rope.toml", "scale = 0.5\n");
  dir.write("variant/scaled.toml", "scale = 2\n");
  dir.write("train/short.toml", "steps = 10\nlr = 0.01\n");
}

inline Config compose_file(const Schema& schema, const fs::path& file,
                           std::vector<std::string> overrides = {}) {
  return compose(schema, ComposeRequest{file, {file.parent_path()}, std::move(overrides)});
}

}  // namespace attnlab::config::testing
