#include "experiments/record/probe_run.h"

#include <fstream>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <torch/utils.h>

#include "base/atomic_file.h"
#include "dump/dump_reader.h"
#include "experiments/record/text_probe.h"
#include "experiments/run/preflight.h"
#include "experiments/run/run_dir.h"
#include "experiments/run/schema.h"
#include "experiments/tasks/utf8.h"
#include "experiments/train/checkpoint.h"
#include "experiments/train/finished_run.h"

namespace attnlab::record {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kTopKeys = 5;

std::vector<ProbeInput> gather_inputs(const ProbeRequest& request) {
  std::vector<ProbeInput> inputs;
  for (std::size_t i = 0; i < request.texts.size(); ++i) {
    inputs.push_back({request.texts[i], "--text " + std::to_string(i + 1)});
  }
  for (const auto& path : request.files) {
    std::ifstream file(path);
    if (!file) throw config::ConfigError("--file " + path.string() + ": cannot read it");
    std::string line;
    for (std::int64_t number = 1; std::getline(file, line); ++number) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      inputs.push_back({line, path.string() + ":" + std::to_string(number)});
    }
  }
  if (inputs.empty()) {
    throw config::ConfigError("no inputs: give --text \"...\" (repeatable) or --file F");
  }
  for (const auto& input : inputs) {  // the dump stores them as UTF-8 text
    try {
      tasks::decode_utf8(input.text, input.origin);
    } catch (const std::invalid_argument& error) {
      throw config::ConfigError(error.what());
    }
  }
  return inputs;
}

// The recorder's settings for one snapshot of float32 maps, whatever the run recorded.
std::vector<std::string> probe_overrides(std::vector<std::string> overrides) {
  for (const char* setting : {"record.every=1", "record.maps=true", "record.dtype=float32",
                              "record.compression=0"}) {
    overrides.emplace_back(setting);
  }
  return overrides;
}

ProbeLimits model_limits(const config::Config& config, const tasks::Task& task) {
  ProbeLimits limits;
  limits.causal = config.get_string("model.arch") == "decoder";
  if (config.get_string("model.positions") == "learned") {
    limits.longest = task.sequence_length();
    limits.longest_reason = "the run's learned positions (model.positions = learned) cover only " +
                            std::to_string(task.sequence_length());
  }
  return limits;
}

// The token --token names, as the task reads it: exactly one token, and one the task knows.
std::int64_t token_id(const tasks::Task& task, const std::string& token) {
  std::vector<std::int64_t> ids;
  try {
    ids = task.encode(token);
  } catch (const std::invalid_argument& error) {
    throw config::ConfigError("--token '" + token + "': " + error.what());
  }
  if (ids.size() != 1) {
    throw config::ConfigError("--token '" + token + "' reads as " + std::to_string(ids.size()) +
                              " tokens; give one word or token");
  }
  if (task.token_text(ids[0]) != token && task.encode(task.token_text(ids[0])) != ids) {
    throw config::ConfigError("--token '" + token + "' is not in the run's vocabulary (it reads "
                              "as " + task.token_text(ids[0]) + ")");
  }
  return ids[0];
}

std::vector<heads::Occurrence> chosen_occurrences(const ProbeRequest& request,
                                                  const tasks::Task& task, const Probe& probe) {
  if (!request.token.empty()) {
    const auto id = token_id(task, request.token);
    const auto inputs = probe.batch.inputs.contiguous();
    const dump::Array<std::int64_t> tokens{
        {inputs.size(0), inputs.size(1)},
        {inputs.data_ptr<std::int64_t>(), inputs.data_ptr<std::int64_t>() + inputs.numel()}};
    const auto found = heads::find_occurrences(tokens, probe.lengths, id);
    if (found.size() < 2) {
      throw config::ConfigError("--token '" + request.token + "' occurs " +
                                std::to_string(found.size()) + " time(s) in the inputs; "
                                "comparing its contexts needs two occurrences");
    }
    return found;
  }
  const auto found = heads::occurrences_at(probe.lengths, request.position);
  if (found.size() < 2) {
    throw config::ConfigError("--position " + std::to_string(request.position) + ": " +
                              std::to_string(found.size()) + " input(s) reach it; comparing "
                              "contexts needs two");
  }
  return found;
}

heads::InputTokens input_tokens(const Probe& probe) {
  heads::InputTokens tokens;
  const auto longest = probe.batch.inputs.size(1);
  for (std::size_t b = 0; b < probe.lengths.size(); ++b) {
    const auto begin = probe.token_text.begin() + static_cast<std::ptrdiff_t>(b) * longest;
    tokens.emplace_back(begin, begin + probe.lengths[b]);
  }
  return tokens;
}

// A name under `parent` that nothing holds yet: probe-<timestamp>, -1, -2, ... when taken.
fs::path fresh_folder(const fs::path& parent) {
  const auto base = "probe-" + run::timestamp_now();
  for (int suffix = 0;; ++suffix) {
    const auto candidate = parent / (suffix == 0 ? base : base + "-" + std::to_string(suffix));
    if (!fs::exists(candidate)) return candidate;
  }
}

// The folder to write: --out (which must not hold anything, under a folder or nothing), or a
// fresh one under <run>/probes.
fs::path out_folder(const ProbeRequest& request, const run::RunDir& run) {
  if (request.out.empty()) return fresh_folder(run.path() / "probes");
  auto out = request.out.lexically_normal();
  if (!out.has_filename()) out = out.parent_path();  // "dir/"
  if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out))) {
    throw config::ConfigError("--out " + request.out.string() + ": it exists and is not empty "
                              "(the probe writes a folder of its own)");
  }
  const auto parent = out.parent_path();
  if (!parent.empty() && fs::exists(parent) && !fs::is_directory(parent)) {
    throw config::ConfigError("--out " + request.out.string() + ": " + parent.string() +
                              " is not a folder");
  }
  return out;
}

void write_token_files(const ProbeRequest& request, const fs::path& folder,
                       ProbeResult& result) {
  const dump::DumpReader reader(folder / dump::kFileName);
  result.contexts = heads::token_contexts(reader, result.contexts->occurrences, kTopKeys);
  const auto& contexts = *result.contexts;
  const auto name = request.token.empty() ? "position " + std::to_string(request.position)
                                          : request.token;
  const auto heads = static_cast<std::size_t>(request.top_heads);
  const std::vector<std::pair<const char*, std::string>> files = {
      {heads::kTokenHeadsFile, heads::token_heads_csv(contexts)},
      {heads::kTokenRowsFile, heads::token_rows_csv(contexts, result.tokens)},
      {heads::kTokenFigureFile, heads::token_context_svg(contexts, result.tokens, name, heads)}};
  for (const auto& [file, content] : files) {
    attnlab::write_file_atomic(folder / file, content);
    result.files.push_back(file);
  }
}

// Records the probe into a folder under a temporary name beside result.out, then renames it: a
// failure removes it, so bad luck leaves no half folder under the final name.
void write_folder(const config::Config& config, train::TrainedModel& trained, Probe probe,
                  const ProbeRequest& request, ProbeResult& result) {
  const auto parent = result.out.has_parent_path() ? result.out.parent_path() : fs::path(".");
  const auto folder = parent / (".probe-" + std::to_string(::getpid()) + ".partial");
  try {
    fs::create_directories(parent);
    fs::remove_all(folder);
    fs::create_directories(folder);
    Recorder recorder(config, folder / dump::kFileName, /*resume=*/false, std::move(probe));
    recorder.on_start(trained.model, trained.step);
    nlohmann::json summary;
    recorder.on_finish(summary);
    result.files.push_back(dump::kFileName);
    if (result.contexts) write_token_files(request, folder, result);
    if (fs::exists(result.out)) fs::remove(result.out);  // an empty folder (out_folder)
    fs::rename(folder, result.out);
  } catch (const fs::filesystem_error& error) {
    std::error_code ignored;
    fs::remove_all(folder, ignored);
    throw attnlab::IoError(std::string("probe: ") + error.what());
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(folder, ignored);
    throw;
  }
}

}  // namespace

ProbeResult probe_run(const ProbeRequest& request) {
  train::check_run_overrides(request.overrides, "probe");
  if (!request.token.empty() && request.position >= 0) {
    throw config::ConfigError("--token and --position choose the same thing; give one");
  }
  if (request.top_heads < 1) throw config::ConfigError("--heads must be at least 1");
  const auto inputs = gather_inputs(request);
  const auto run = run::RunDir::open(request.run);
  const auto config = run::load_run_config(run, probe_overrides(request.overrides));
  run::check_runnable(config);
  if (config.get_string("model.arch") == "encoder_decoder") {
    throw config::ConfigError("model.arch = encoder_decoder: probe reads decoder and encoder "
                              "runs (an encoder-decoder model needs a source and a target)");
  }
  const auto task = tasks::make_task(config);
  auto probe = text_probe(*task, inputs, model_limits(config, *task));
  run::check_input_length(config, *task, probe.batch.inputs.size(1),
                          "for the probe's longest input");
  ProbeResult result;
  if (!request.token.empty() || request.position >= 0) {
    result.contexts = heads::TokenContexts{0, chosen_occurrences(request, *task, probe), {}};
  }
  result.out = out_folder(request, run);
  result.checkpoint = train::find_checkpoint(run.checkpoints(), request.checkpoint);

  torch::set_num_threads(run::resolve_threads(config));
  const torch::Device device(config.get_string("runtime.device"));
  auto trained = train::load_trained_model(config, *task, result.checkpoint, device);
  result.step = trained.step;
  result.inputs = static_cast<std::int64_t>(inputs.size());
  result.longest = probe.batch.inputs.size(1);
  result.tokens = input_tokens(probe);

  write_folder(config, trained, std::move(probe), request, result);
  return result;
}

}  // namespace attnlab::record
