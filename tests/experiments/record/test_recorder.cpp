// The recorder in a training run: the metrics are the same with recording on or off; the dump
// holds what the schema promises (probe, maps, statistics, attributes) and is readable by h5dump
// and h5py; a snapshot leaves the optimiser's gradients, the torch RNG and the train mode alone;
// a resumed run's dump equals an uninterrupted run's; each layer's map kind is recorded, with
// statistics on |A| row-normalised and the row mass apart.
//
// B = probe samples, H = heads, T = sequence length.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/autograd.h>
#include <torch/utils.h>

#include "dump/dump_reader.h"
#include "experiments/model/model_config.h"
#include "experiments/record/recorder.h"
#include "experiments/run/run_dir.h"
#include "experiments/run/schema.h"
#include "experiments/run/system_info.h"
#include "experiments/train/checkpoint.h"
#include "experiments/train/metrics_log.h"
#include "experiments/train/objective.h"
#include "tests/support/run_command.h"
#include "tests/support/short_run.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;

namespace {

// The recorder's tests record every 5 steps and keep every checkpoint.
config::Config short_run(const std::filesystem::path& results,
                         std::vector<std::string> extra = {}) {
  extra.insert(extra.begin(), {"record.every=5", "train.keep_checkpoints=10"});
  return testing::short_run(results, extra);
}

using testing::curve;

nlohmann::json train_recording(const config::Config& config, const run::RunDir& run,
                               bool resume = false) {
  train::TrainOptions options;
  options.resume = resume;
  options.observers.push_back(
      std::make_shared<record::Recorder>(config, run.path() / dump::kFileName, resume));
  return train::train(config, run, options);
}

std::vector<float> all_maps(const dump::DumpReader& reader) {
  std::vector<float> values;
  for (std::int64_t layer = 0; layer < static_cast<std::int64_t>(reader.layers().size()); ++layer) {
    for (std::int64_t snapshot = 0; snapshot < reader.snapshots(); ++snapshot) {
      for (std::int64_t sample = 0; sample < reader.samples(); ++sample) {
        for (std::int64_t head = 0; head < reader.layers()[0].heads; ++head) {
          const auto map = reader.map(layer, snapshot, sample, head);
          values.insert(values.end(), map.begin(), map.end());
        }
      }
    }
  }
  return values;
}

std::vector<float> all_statistics(const dump::DumpReader& reader) {
  std::vector<float> values;
  for (std::int64_t layer = 0; layer < static_cast<std::int64_t>(reader.layers().size()); ++layer) {
    for (const auto& statistic : dump::kStatistics) {
      const auto array = reader.statistic(layer, statistic.name);
      values.insert(values.end(), array.values.begin(), array.values.end());
    }
  }
  return values;
}

// A recorder's snapshot of `model` at step 0 into `dump`, closed; returns what it adds to the
// summary.
nlohmann::json record_first_snapshot(const config::Config& config, model::Transformer& model,
                                     const std::filesystem::path& dump) {
  record::Recorder recorder(config, dump, /*resume=*/false);
  recorder.on_start(model, 0);
  nlohmann::json summary;
  recorder.on_finish(summary);
  return summary;
}

std::vector<std::int64_t> expected_steps(std::int64_t every, std::int64_t total) {
  std::vector<std::int64_t> steps;
  for (std::int64_t step = 0; step < total; step += every) steps.push_back(step);
  steps.push_back(total);
  return steps;
}

}  // namespace

TEST_CASE("recording does not change training, and the dump holds the whole run", "[record]") {
  testing::TempDir results;
  // Two threads: the recorder works on one and must hand both back to the training.
  const auto config = short_run(results.path(), {"runtime.threads=2"});
  const auto plain = run::RunDir::create(config);
  train::train(config, plain, {});
  const auto recorded = run::RunDir::create(config);
  const auto summary = train_recording(config, recorded);
  CHECK(curve(recorded.path()) == curve(plain.path()));
  CHECK_FALSE(std::filesystem::exists(plain.path() / dump::kFileName));

  const auto path = recorded.path() / dump::kFileName;
  const dump::DumpReader reader(path);
  CHECK(reader.steps() == expected_steps(5, 40));
  REQUIRE(summary.contains("recording"));
  CHECK(summary["recording"]["snapshots"] == 9);
  CHECK(summary["recording"]["seconds"].get<double>() > 0.0);
  CHECK(summary["recording"]["map_bytes"].get<std::uint64_t>() ==
        9u * 2 * 8 * 4 * 32 * 32 * 2);  // snapshots, layers, samples, heads, T, T, float16
  CHECK(summary["recording"]["file_bytes"].get<std::uint64_t>() ==
        std::filesystem::file_size(path));

  {  // attributes and probe
    CHECK(reader.string_attribute(dump::kAttributeConfig) == config.to_toml());
    CHECK(reader.string_attribute(dump::kAttributeVariant) == "scaled");
    CHECK(reader.string_attribute(dump::kAttributeTask) == "copy");
    CHECK(reader.string_attribute(dump::kAttributeExperiment) == "default");
    CHECK(reader.string_attribute(dump::kAttributeGitCommit) == run::git_commit());
    CHECK(reader.string_attribute(dump::kAttributeAttnlabVersion) == run::attnlab_version());
    CHECK(reader.int_attribute(dump::kAttributeRecordEvery) == 5);
    CHECK(reader.samples() == 8);
    REQUIRE(reader.layers().size() == 2);
    for (const auto& layer : reader.layers()) {
      CHECK(layer.kind == "self");
      CHECK(layer.role == dump::LayerRole::DecoderSelf);
      CHECK(layer.causal);
      CHECK(layer.query_length == 32);
      CHECK(layer.key_length == 32);
    }
    const auto allowed = reader.allowed_keys(1);
    CHECK(allowed.values[0] == 1);
    CHECK(allowed.values[31] == 32);

    const auto task = tasks::make_task(config);
    const auto indices = reader.probe(dump::kProbeIndices).values;
    CHECK(indices == record::make_probe(*task, 8, 0).indices);
    const auto tokens = reader.probe(dump::kProbeTokens);
    REQUIRE(tokens.shape == std::vector<std::int64_t>({8, 32}));
    for (std::size_t sample = 0; sample < indices.size(); ++sample) {
      const auto example = task->examples(tasks::Split::Val, indices[sample], 1).inputs;  // [1,T]
      const std::vector<std::int64_t> expected(example.data_ptr<std::int64_t>(),
                                               example.data_ptr<std::int64_t>() + 32);
      const std::vector<std::int64_t> stored(tokens.values.begin() + 32 * sample,
                                             tokens.values.begin() + 32 * (sample + 1));
      CHECK(stored == expected);
    }
    const auto loss = reader.probe_loss();
    CHECK(loss.back() < loss.front());
  }

  {  // maps are causal softmax rows
    for (std::int64_t layer = 0; layer < 2; ++layer) {
      const auto map = reader.map(layer, reader.snapshots() - 1, 3, 2);  // [T,T]
      double worst_sum = 0.0, above_diagonal = 0.0;
      for (std::int64_t query = 0; query < 32; ++query) {
        double sum = 0.0;
        for (std::int64_t key = 0; key < 32; ++key) {
          const double weight = map[static_cast<std::size_t>(query * 32 + key)];
          sum += weight;
          if (key > query) above_diagonal += std::abs(weight);
        }
        worst_sum = std::max(worst_sum, std::abs(sum - 1.0));
      }
      CHECK(worst_sum < 5e-3);  // float16 rounding of 32 weights
      CHECK(above_diagonal == 0.0);
    }
  }

  {  // statistics are in range
    for (std::int64_t layer = 0; layer < 2; ++layer) {
      const auto entropy = reader.statistic(layer, dump::kEntropyNormalised).values;
      for (const auto value : entropy) {
        CHECK(value >= 0.0f);
        CHECK(value <= 1.0f + 1e-5f);
      }
      // At initialisation attention is close to uniform: normalised entropy close to 1.
      CHECK(entropy[0] > 0.95f);
      const auto k90 = reader.statistic(layer, dump::kK90).values;
      for (const auto value : k90) CHECK((value >= 1.0f && value <= 32.0f));
      const auto importance = reader.statistic(layer, dump::kImportance);
      REQUIRE(importance.shape == std::vector<std::int64_t>({9, 4}));
      const auto normalised = reader.statistic(layer, dump::kImportanceNormalised).values;
      for (std::int64_t snapshot = 0; snapshot < 9; ++snapshot) {
        double squares = 0.0;
        for (std::int64_t head = 0; head < 4; ++head) {
          const auto value = importance.values[static_cast<std::size_t>(snapshot * 4 + head)];
          CHECK(value >= 0.0f);
          squares += std::pow(normalised[static_cast<std::size_t>(snapshot * 4 + head)], 2);
        }
        CHECK(squares == Catch::Detail::Approx(1.0).epsilon(1e-4));
      }
      for (const auto value : reader.statistic(layer, dump::kOutputNorm).values) {
        CHECK(std::isfinite(value));
        CHECK(value > 0.0f);
      }
      CHECK(reader.statistic(layer, dump::kValueNorms).shape ==
            std::vector<std::int64_t>({9, 8, 4, 32}));
    }
  }

  {  // h5dump and h5py read it
    const auto dumped = testing::run_command({"h5dump", "-H", path.string()}, results.path());
    INFO(dumped.output);
    CHECK(dumped.exit_code == 0);
    CHECK_THAT(dumped.output, Catch::Contains("DATASET \"maps\"") &&
                                  Catch::Contains("H5S_UNLIMITED") &&
                                  Catch::Contains("16-bit little-endian floating-point"));
    const auto python = testing::run_command(
        {"/usr/bin/python3", std::string(ATTNLAB_SOURCE_DIR) + "/scripts/read_dump.py",
         path.string()},
        results.path());
    INFO(python.output);
    CHECK(python.exit_code == 0);
    CHECK_THAT(python.output, Catch::Contains("9 complete snapshots") &&
                                  Catch::Contains("layers/01") && Catch::Contains("entropy"));
  }
}

TEST_CASE("an encoder-decoder run's dump names each layer's role", "[record]") {
  testing::TempDir results;
  const auto config =
      short_run(results.path(), {"model.arch=encoder_decoder", "model.layers=2", "train.steps=10"});
  const auto run = run::RunDir::create(config);
  train_recording(config, run);
  const dump::DumpReader reader(run.path() / dump::kFileName);
  std::vector<std::string> roles;
  for (const auto& layer : reader.layers()) roles.push_back(dump::role_name(layer.role));
  // Forward order: the encoder's layers, then per decoder block its self- and cross-attention.
  CHECK(roles == std::vector<std::string>({"encoder_self", "encoder_self", "decoder_self",
                                           "cross", "decoder_self", "cross"}));
  CHECK(reader.has(dump::kProbeSource));
}

TEST_CASE("the probe is a fixed, seeded draw of distinct validation examples", "[record]") {
  const auto first = record::draw_probe_indices(64, 8, 0);
  CHECK(first == record::draw_probe_indices(64, 8, 0));
  CHECK(first != record::draw_probe_indices(64, 8, 1));
  auto sorted = first;
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  CHECK(sorted.front() >= 0);
  CHECK(sorted.back() < 64);
  CHECK(record::draw_probe_indices(5, 5, 3).size() == 5);
  CHECK_THROWS_AS(record::draw_probe_indices(5, 6, 0), config::ConfigError);
  // The config check names the key before any run starts.
  CHECK_THROWS_WITH(run::load_config(run::default_config_file(),
                                     {"task.val_examples=4", "record.samples=8"}),
                    Catch::Contains("record.samples"));
  CHECK_NOTHROW(run::load_config(run::default_config_file(),
                                 {"task.val_examples=4", "record.samples=8", "record.every=0"}));
}

TEST_CASE("a snapshot leaves gradients, the torch RNG, threads and the train mode as they were",
          "[record]") {
  testing::TempDir results;
  const auto config = short_run(results.path(), {"model.dropout=0.1"});
  const auto task = tasks::make_task(config);
  model::Transformer model(model::model_spec(config, *task));
  model->train();
  // Gradients as the optimiser would find them after a backward pass.
  const auto batch = task->examples(tasks::Split::Train, 0, 4);
  train::objective(model->forward(batch.inputs), batch.targets).loss.backward();
  std::vector<torch::Tensor> gradients;
  for (const auto& parameter : model->parameters()) gradients.push_back(parameter.grad().clone());

  torch::manual_seed(7);
  const auto expected = torch::rand({4});
  torch::manual_seed(7);
  torch::set_num_threads(2);
  record::Recorder recorder(config, results.path() / dump::kFileName, /*resume=*/false);
  recorder.on_start(model, 0);
  recorder.on_step(model, 5, /*last_step=*/false);
  CHECK(torch::equal(torch::rand({4}), expected));
  CHECK(torch::get_num_threads() == 2);
  CHECK(model->is_training());
  const auto parameters = model->parameters();
  for (std::size_t index = 0; index < parameters.size(); ++index) {
    CHECK(torch::equal(parameters[index].grad(), gradients[index]));
  }
  nlohmann::json summary;
  recorder.on_finish(summary);
  CHECK(summary["recording"]["snapshots"] == 2);
  // The head gates are gone again: with every parameter frozen, nothing in the forward pass
  // requires a gradient (a gate left behind would).
  for (auto& parameter : model->parameters()) parameter.requires_grad_(false);
  CHECK_FALSE(model->forward(batch.inputs).requires_grad());
}

TEST_CASE("a head whose output projection is zero has importance 0 and output norm 0",
          "[record]") {
  testing::TempDir results;
  const auto config = short_run(results.path());
  const auto task = tasks::make_task(config);
  model::Transformer model(model::model_spec(config, *task));
  {
    torch::NoGradGuard no_grad;
    // Head 1 of layer 0 writes through columns [16, 32) of W_O (D = 16).
    model->attention_layers()[0]->output_projection()->weight.narrow(1, 16, 16).zero_();
  }
  record_first_snapshot(config, model, results.path() / dump::kFileName);
  const dump::DumpReader reader(results.path() / dump::kFileName);
  REQUIRE(reader.steps() == std::vector<std::int64_t>({0}));
  const auto importance = reader.statistic(0, dump::kImportance).values;  // [1,H]
  const auto output_norm = reader.statistic(0, dump::kOutputNorm).values;
  CHECK(importance[1] == 0.0f);
  CHECK(output_norm[1] == 0.0f);
  for (const int head : {0, 2, 3}) {
    INFO("head " << head);
    CHECK(importance[static_cast<std::size_t>(head)] > 0.0f);
    CHECK(output_norm[static_cast<std::size_t>(head)] > 0.0f);
  }
}

TEST_CASE("a resumed run's dump equals an uninterrupted run's", "[record]") {
  testing::TempDir results;
  const auto config = short_run(results.path());
  const auto straight = run::RunDir::create(config);
  train_recording(config, straight);

  // As in the trainer's resume test: a full run cut back to its step-20 checkpoint. Its dump
  // still holds snapshots up to step 40, which the resumed recorder must replace, not repeat.
  const auto interrupted = run::RunDir::create(config);
  train_recording(config, interrupted);
  for (const auto& path : train::step_checkpoints(interrupted.checkpoints())) {
    if (path.filename() != "step-00000020.pt") std::filesystem::remove(path);
  }
  std::filesystem::remove(interrupted.checkpoints() / "best.pt");
  std::filesystem::remove(interrupted.summary());
  const auto summary = train_recording(config, run::RunDir::open(interrupted.path()), true);
  CHECK(summary["recording"]["snapshots"] == 9);
  CHECK(summary["recording"]["snapshots_recorded"] == 4);  // 25, 30, 35, 40

  const dump::DumpReader expected(straight.path() / dump::kFileName);
  const dump::DumpReader resumed(interrupted.path() / dump::kFileName);
  CHECK(resumed.steps() == expected.steps());
  CHECK(all_statistics(resumed) == all_statistics(expected));
  CHECK(all_maps(resumed) == all_maps(expected));
  CHECK(resumed.probe_loss() == expected.probe_loss());
}

TEST_CASE("head importance is the mean over probe examples of |dL(x)/d gate|", "[record]") {
  testing::TempDir results;
  const auto config = short_run(results.path());
  const auto task = tasks::make_task(config);
  model::Transformer model(model::model_spec(config, *task));
  record_first_snapshot(config, model, results.path() / dump::kFileName);
  const dump::DumpReader reader(results.path() / dump::kFileName);

  // The definition, one example at a time with shared gates [H] (the recorder does all examples
  // in one pass with per-example gates [B,H]).
  const auto probe = record::make_probe(*task, 8, 0);
  auto layers = model->attention_layers();
  std::vector<torch::Tensor> gates, sums;
  for (auto& layer : layers) {
    gates.push_back(torch::ones({4}, torch::requires_grad()));
    sums.push_back(torch::zeros({4}, torch::kDouble));
    layer->set_head_gate(gates.back());
  }
  model->eval();
  for (std::int64_t sample = 0; sample < 8; ++sample) {
    const auto logits = model->forward(probe.batch.inputs.narrow(0, sample, 1));
    const auto loss = train::objective(logits, probe.batch.targets.narrow(0, sample, 1)).loss;
    const auto gradients = torch::autograd::grad({loss}, gates);
    for (std::size_t layer = 0; layer < layers.size(); ++layer) {
      sums[layer] += gradients[layer].abs().to(torch::kDouble) / 8.0;
    }
  }
  for (std::size_t layer = 0; layer < layers.size(); ++layer) {
    const auto stored =
        reader.statistic(static_cast<std::int64_t>(layer), dump::kImportance).values;
    for (std::int64_t head = 0; head < 4; ++head) {
      INFO("layer " << layer << " head " << head);
      CHECK(stored[static_cast<std::size_t>(head)] ==
            Catch::Detail::Approx(sums[layer][head].item<double>()).epsilon(1e-4));
    }
  }
}

TEST_CASE("float32 maps are the model's probabilities: statistics alone need no maps",
          "[record]") {
  testing::TempDir results;
  const bool maps = GENERATE(true, false);
  const auto config =
      short_run(results.path(),
                maps ? std::vector<std::string>{"record.dtype=float32"}
                     : std::vector<std::string>{"record.maps=false", "record.importance=false"});
  const auto task = tasks::make_task(config);
  model::Transformer model(model::model_spec(config, *task));
  const auto summary = record_first_snapshot(config, model, results.path() / dump::kFileName);
  const dump::DumpReader reader(results.path() / dump::kFileName);
  REQUIRE(reader.snapshots() == 1);
  CHECK(reader.has_maps() == maps);
  CHECK(reader.has_importance() == maps);
  CHECK(reader.statistic(1, dump::kEntropy).shape == std::vector<std::int64_t>({1, 4}));
  if (!maps) {
    CHECK_FALSE(reader.has(dump::layer_group(0) + "/" + dump::kLayerMaps));
    CHECK(summary["recording"]["map_bytes"] == 0);
    return;
  }
  CHECK(reader.string_attribute(dump::kAttributeMapDtype) == "float32");
  model::AttentionTap tap;
  {
    torch::NoGradGuard no_grad;
    model->eval();
    model->forward(record::make_probe(*task, 8, 0).batch.inputs, &tap);
  }
  for (std::int64_t layer = 0; layer < 2; ++layer) {
    const auto expected = tap.captures[static_cast<std::size_t>(layer)].probs[5][3].contiguous();
    const auto stored = reader.map(layer, 0, 5, 3);  // sample 5, head 3: [T,T]
    CHECK(std::equal(stored.begin(), stored.end(), expected.data_ptr<float>()));
  }
}

namespace {

// From the stored maps of one head of a causal layer at snapshot 0 (every query has keys): the
// mean row sum of A and the mean entropy of |A| row-normalised, over samples and queries.
struct RowFigures {
  double mass = 0.0, entropy = 0.0;
};

RowFigures row_figures(const dump::DumpReader& reader, std::int64_t layer, std::int64_t head) {
  const auto& info = reader.layers()[static_cast<std::size_t>(layer)];
  const auto keys = info.key_length;
  RowFigures figures;
  for (std::int64_t sample = 0; sample < reader.samples(); ++sample) {
    const auto map = reader.map(layer, 0, sample, head);  // [Tq,Tk]
    for (std::int64_t query = 0; query < info.query_length; ++query) {
      const float* row = map.data() + query * keys;
      double abs_sum = 0.0;
      for (std::int64_t key = 0; key < keys; ++key) {
        figures.mass += row[key];
        abs_sum += std::abs(row[key]);
      }
      for (std::int64_t key = 0; key < keys; ++key) {
        const double weight = std::abs(row[key]) / abs_sum;
        if (weight > 0) figures.entropy -= weight * std::log(weight);
      }
    }
  }
  const auto rows = static_cast<double>(reader.samples() * info.query_length);
  return {figures.mass / rows, figures.entropy / rows};
}

}  // namespace

TEST_CASE("each layer's map kind is recorded; statistics read |A| row-normalised, mass apart",
          "[record]") {
  testing::TempDir results;
  const auto [setting, kind] = GENERATE(table<std::string, std::string>(
      {{"variant.normaliser=softmax", "distribution"},
       {"variant.normaliser=sink", "partial"},
       {"variant.normaliser=sigmoid", "unnormalised"},
       {"variant.mixer=differential", "signed"}}));
  INFO(setting);
  const auto config = short_run(results.path(),
                                {setting, "record.dtype=float32", "record.importance=false"});
  const auto task = tasks::make_task(config);
  model::Transformer model(model::model_spec(config, *task));
  record_first_snapshot(config, model, results.path() / dump::kFileName);
  const dump::DumpReader reader(results.path() / dump::kFileName);
  for (const auto& layer : reader.layers()) CHECK(layer.map_kind == kind);

  const auto row_mass = reader.statistic(0, dump::kRowMass).values;  // [1,H]
  const auto entropy = reader.statistic(0, dump::kEntropy).values;   // [1,H]
  for (std::int64_t head = 0; head < 4; ++head) {
    INFO("head " << head);
    const auto expected = row_figures(reader, 0, head);
    const auto at = static_cast<std::size_t>(head);
    CHECK(row_mass[at] == Catch::Detail::Approx(expected.mass).epsilon(1e-4));
    CHECK(entropy[at] == Catch::Detail::Approx(expected.entropy).epsilon(1e-4));
    if (kind == "distribution") CHECK(row_mass[at] == Catch::Detail::Approx(1.0).epsilon(1e-5));
    if (kind == "partial") CHECK(row_mass[at] < 1.0f);
  }
}
