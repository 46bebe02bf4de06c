#include "experiments/sweep/sweep_spec.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "experiments/config/config.h"
#include "base/atomic_file.h"
#include "experiments/run/run_dir.h"
#include "experiments/run/schema.h"

namespace attnlab::sweep {
namespace {

std::string where(const std::filesystem::path& file, const toml::source_region& region) {
  return fmt::format("{}:{}", file.string(), region.begin.line);
}

std::uint64_t fnv1a(const std::string& text) {
  std::uint64_t hash = 14695981039346656037ull;
  for (const unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

// A TOML value of a sweep file as override text: strings as they are, numbers and booleans
// printed, anything else an error.
std::string value_text(const std::filesystem::path& file, const std::string& key,
                       const toml::node& node) {
  if (const auto* text = node.as_string()) return text->get();
  if (const auto* integer = node.as_integer()) return std::to_string(integer->get());
  if (const auto* real = node.as_floating_point()) return fmt::format("{}", real->get());
  if (const auto* boolean = node.as_boolean()) return boolean->get() ? "true" : "false";
  throw config::ConfigError(where(file, node.source()) + ": " + key +
                            ": expected a string like \"a,b\" or \"range(0,3)\", a number or a "
                            "boolean");
}

// A parameter of a sweep file with where it was written: toml++ iterates tables by key, but the
// order of parameters is the order of the jobs, so the file's order is restored from positions.
struct PlacedParameter {
  toml::source_position position;
  std::string text;
};

// `table_name`: where the parameters are in the file ("params", "preset.cpu"), for errors.
void flatten_params(const std::filesystem::path& file, const std::string& table_name,
                    const std::string& prefix, const toml::table& table,
                    std::vector<PlacedParameter>& out) {
  for (const auto& [name, node] : table) {
    const std::string key =
        prefix.empty() ? std::string(name.str()) : prefix + "." + std::string(name.str());
    if (const auto* nested = node.as_table()) {
      flatten_params(file, table_name, key, *nested, out);
    } else {
      out.push_back(
          {node.source().begin, key + "=" + value_text(file, table_name + "." + key, node)});
    }
  }
}

std::int64_t positive_int(const std::string& key, const std::string& value,
                          const std::string& origin) {
  char* end = nullptr;
  const long long parsed = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || parsed < 0) {
    throw config::ConfigError(origin + ": slurm." + key + " must be an integer >= 0, not '" +
                              value + "'");
  }
  return parsed;
}

void set_slurm(SlurmSettings& slurm, const std::string& key, const std::string& value,
               const std::string& origin) {
  if (key == "partition") {
    slurm.partition = value;
  } else if (key == "time") {
    slurm.time = value;
  } else if (key == "mem") {
    slurm.mem = value;
  } else if (key == "cpus_per_task") {
    slurm.cpus_per_task = positive_int(key, value, origin);
    if (slurm.cpus_per_task < 1) {
      throw config::ConfigError(origin + ": slurm.cpus_per_task must be at least 1");
    }
  } else if (key == "array_parallelism") {
    slurm.array_parallelism = positive_int(key, value, origin);
  } else if (key == "extra") {
    slurm.extra.push_back(value);
  } else {
    throw config::ConfigError(origin + ": unknown key slurm." + key +
                              " (partition, time, cpus_per_task, mem, array_parallelism, extra)");
  }
}

std::filesystem::path resolve_config(const std::filesystem::path& name,
                                     const std::filesystem::path& relative_to) {
  if (name.is_absolute()) return name;
  for (const auto& candidate : {relative_to / name, std::filesystem::current_path() / name,
                                run::default_config_dir() / name}) {
    if (std::filesystem::exists(candidate)) return std::filesystem::weakly_canonical(candidate);
  }
  return std::filesystem::absolute(name);
}

// The parameters of a params table as override texts, in the order the file writes them.
std::vector<std::string> ordered_params(const std::filesystem::path& file,
                                        const std::string& table_name, const toml::table& table) {
  std::vector<PlacedParameter> placed;
  flatten_params(file, table_name, "", table, placed);
  std::stable_sort(placed.begin(), placed.end(), [](const auto& a, const auto& b) {
    return a.position.line != b.position.line ? a.position.line < b.position.line
                                              : a.position.column < b.position.column;
  });
  std::vector<std::string> texts;
  for (auto& parameter : placed) texts.push_back(std::move(parameter.text));
  return texts;
}

std::vector<std::string> preset_names(const toml::table* presets) {
  std::vector<std::string> names;
  if (presets == nullptr) return names;
  for (const auto& [name, node] : *presets) {
    if (node.is_table()) names.emplace_back(name.str());
  }
  return names;
}

// The parameters of [preset.<name>]; an error lists the presets the file has.
std::vector<std::string> preset_params(const std::filesystem::path& file,
                                       const toml::table* presets, const std::string& name) {
  const toml::node* chosen = presets != nullptr ? presets->get(name) : nullptr;
  if (chosen == nullptr || !chosen->is_table()) {
    std::string names;
    for (const auto& preset : preset_names(presets)) {
      names += (names.empty() ? "" : ", ") + preset;
    }
    throw config::ConfigError(file.string() + ": no preset '" + name + "'" +
                              (names.empty() ? " (this sweep file has none)"
                                             : " (its presets: " + names + ")"));
  }
  return ordered_params(file, "preset." + name, *chosen->as_table());
}

toml::table parse_sweep_file(const std::filesystem::path& file) {
  try {
    return toml::parse_file(file.string());
  } catch (const toml::parse_error& error) {
    throw config::ConfigError(where(file, error.source()) + ": " +
                              std::string(error.description()));
  }
}

void read_slurm_table(const std::filesystem::path& file, const toml::table& table,
                      SlurmSettings& slurm) {
  for (const auto& [name, value] : table) {
    const std::string key(name.str());
    if (const auto* list = value.as_array(); list != nullptr && key == "extra") {
      for (const auto& line : *list) {
        set_slurm(slurm, key, value_text(file, "slurm.extra", line), where(file, line.source()));
      }
    } else {
      set_slurm(slurm, key, value_text(file, "slurm." + key, value), where(file, value.source()));
    }
  }
}

// What a sweep file says: its base config (empty when it names none), [params], its [slurm]
// settings (into `slurm`) and, when `preset` is not empty, that preset's parameters.
struct SweepFile {
  std::filesystem::path config;
  std::vector<std::string> params, preset;
};

SweepFile read_sweep_file(const std::filesystem::path& file, const std::string& preset,
                          SlurmSettings& slurm) {
  const toml::table table = parse_sweep_file(file);
  const toml::table* presets = nullptr;
  SweepFile contents;
  for (const auto& [name, node] : table) {
    const std::string key(name.str());
    if (key == "config") {
      const auto* text = node.as_string();
      if (text == nullptr) {
        throw config::ConfigError(where(file, node.source()) + ": config: expected a file name");
      }
      contents.config = resolve_config(text->get(), file.parent_path());
    } else if (key == "params" && node.is_table()) {
      contents.params = ordered_params(file, "params", *node.as_table());
    } else if (key == "preset" && node.is_table()) {
      presets = node.as_table();
    } else if (key == "slurm" && node.is_table()) {
      read_slurm_table(file, *node.as_table(), slurm);
    } else {
      throw config::ConfigError(where(file, node.source()) + ": unknown key '" + key +
                                "' (a sweep file has config, [params], [slurm] and [preset.*])");
    }
  }
  if (!preset.empty()) contents.preset = preset_params(file, presets, preset);
  return contents;
}

// Parameters in order; a later one for the same key replaces the earlier one in its place.
std::vector<SweepParameter> parse_parameters(const std::vector<std::string>& texts,
                                             const std::filesystem::path& config_file) {
  const auto config_dir = config_file.parent_path();
  const GroupOptions options = [&](const std::string& group) {
    return config::group_options({config_dir, run::default_config_dir()}, group);
  };
  std::vector<SweepParameter> parameters;
  for (const auto& text : texts) {
    auto parameter = parse_parameter(text, options);
    const auto same = std::find_if(parameters.begin(), parameters.end(),
                                   [&](const SweepParameter& p) { return p.key == parameter.key; });
    if (same != parameters.end()) {
      *same = std::move(parameter);
    } else {
      parameters.push_back(std::move(parameter));
    }
  }
  return parameters;
}

}  // namespace

SweepSpec load_sweep(const std::optional<std::filesystem::path>& sweep_file,
                     const std::filesystem::path& config_file,
                     const std::vector<std::string>& arguments, const std::string& preset) {
  if (!preset.empty() && !sweep_file) {
    throw config::ConfigError("--preset " + preset +
                              " names a preset of a sweep file: add --sweep");
  }
  SweepSpec spec;
  spec.preset = preset;
  SweepFile file;
  if (sweep_file) file = read_sweep_file(*sweep_file, preset, spec.slurm);
  // [params], then the preset's, then the command line's: later ones replace earlier ones.
  std::vector<std::string> parameter_texts = file.params;
  std::vector<std::string> overrides = file.preset;
  overrides.insert(overrides.end(), arguments.begin(), arguments.end());
  for (const auto& argument : overrides) {
    if (argument.rfind("slurm.", 0) != 0) {
      parameter_texts.push_back(argument);
      continue;
    }
    const auto equals = argument.find('=');
    if (equals == std::string::npos) {
      throw config::ConfigError("'" + argument + "': expected slurm.<key>=<value>");
    }
    set_slurm(spec.slurm, argument.substr(6, equals - 6), argument.substr(equals + 1),
              "'" + argument + "'");
  }
  const auto base = !config_file.empty() ? config_file : file.config;
  spec.config_file = base.empty() ? run::default_config_file() : resolve_config(base, ".");
  if (!std::filesystem::exists(spec.config_file)) {
    throw config::ConfigError("config file " + spec.config_file.string() + " does not exist");
  }
  spec.parameters = parse_parameters(parameter_texts, spec.config_file);
  return spec;
}

std::vector<std::string> sweep_presets(const std::filesystem::path& sweep_file) {
  const auto table = parse_sweep_file(sweep_file);
  return preset_names(table["preset"].as_table());
}

std::vector<SweepJob> sweep_jobs(const SweepSpec& spec) {
  const auto combinations = expand(spec.parameters);
  std::vector<SweepJob> jobs;
  const auto count = static_cast<std::int64_t>(combinations.size());
  for (std::int64_t index = 0; index < count; ++index) {
    SweepJob job;
    job.index = index;
    job.overrides = combinations[static_cast<std::size_t>(index)];
    std::vector<std::string> swept;
    for (std::size_t position = 0; position < spec.parameters.size(); ++position) {
      if (spec.parameters[position].swept()) swept.push_back(job.overrides[position]);
    }
    job.name = job_name(index, count, swept);
    jobs.push_back(std::move(job));
  }
  return jobs;
}

std::string job_name(std::int64_t index, std::int64_t jobs,
                     const std::vector<std::string>& swept_overrides) {
  const auto width = std::max<std::size_t>(3, std::to_string(std::max<std::int64_t>(jobs - 1, 0)).size());
  std::string name = fmt::format("{:0{}}", index, width);
  std::string rest;
  for (const auto& text : swept_overrides) rest += (rest.empty() ? "" : ",") + text;
  for (auto& c : rest) {
    const bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                      c == '=' || c == ',' || c == '+' || c == '-';
    if (!keep) c = '_';
  }
  if (rest.size() > 80) rest = rest.substr(0, 71) + "-" + fmt::format("{:08x}", fnv1a(rest) & 0xffffffffu);
  return rest.empty() ? name : name + "-" + rest;
}

std::string sweep_toml(const SweepSpec& spec, const std::string& base_config_text) {
  toml::table table;
  table.insert("config", spec.config_file.string());
  table.insert("config_hash", fmt::format("{:016x}", fnv1a(base_config_text)));
  if (!spec.preset.empty()) table.insert("preset", spec.preset);
  // An array, not a table: tables are written sorted by key, and the order is the job order.
  toml::array params;
  for (const auto& parameter : spec.parameters) {
    toml::array values;
    for (const auto& value : parameter.values) values.push_back(value);
    params.push_back(toml::table{{"key", parameter.key}, {"values", std::move(values)}});
  }
  table.insert("params", std::move(params));
  toml::table slurm;
  slurm.insert("partition", spec.slurm.partition);
  slurm.insert("time", spec.slurm.time);
  slurm.insert("cpus_per_task", spec.slurm.cpus_per_task);
  slurm.insert("mem", spec.slurm.mem);
  slurm.insert("array_parallelism", spec.slurm.array_parallelism);
  toml::array extra;
  for (const auto& line : spec.slurm.extra) extra.push_back(line);
  slurm.insert("extra", std::move(extra));
  table.insert("slurm", std::move(slurm));
  std::ostringstream text;
  text << "# attnlab sweep: base config and parameters (values expanded), in job order.\n"
       << toml::toml_formatter(table) << "\n";
  return text.str();
}

std::string sweep_hash(const SweepSpec& spec, const std::vector<std::string>& job_configs) {
  std::string identity = spec.config_file.string() + "\n";
  for (const auto& parameter : spec.parameters) {
    identity += parameter.key;
    for (const auto& value : parameter.values) identity += "\x1f" + value;
    identity += "\n";
  }
  for (const auto& config : job_configs) identity += config + "\x1e";
  return fmt::format("{:08x}", fnv1a(identity) & 0xffffffffu);
}

std::filesystem::path sweep_directory(const std::filesystem::path& experiment_dir,
                                      const std::string& hash, bool fresh) {
  std::error_code error;
  std::filesystem::create_directories(experiment_dir, error);
  if (error) {
    throw attnlab::IoError("cannot create " + experiment_dir.string() + ": " + error.message());
  }
  if (!fresh) {
    std::vector<std::filesystem::path> existing;
    for (const auto& entry : std::filesystem::directory_iterator(experiment_dir)) {
      const auto name = entry.path().filename().string();
      if (entry.is_directory() && name.rfind("sweep-", 0) == 0 &&
          name.size() > hash.size() && name.compare(name.size() - hash.size(), hash.size(), hash) == 0) {
        existing.push_back(entry.path());
      }
    }
    if (!existing.empty()) return *std::max_element(existing.begin(), existing.end());
  }
  const std::string base = "sweep-" + run::timestamp_now() + "-" + hash;
  // create_directory is atomic: two sweeps started in the same second get different folders.
  for (int suffix = 0;; ++suffix) {
    const auto candidate =
        experiment_dir / (suffix == 0 ? base : base + "-" + std::to_string(suffix) + "-" + hash);
    if (std::filesystem::create_directory(candidate, error)) return candidate;
    if (error) throw attnlab::IoError("cannot create " + candidate.string() + ": " + error.message());
  }
}

}  // namespace attnlab::sweep
