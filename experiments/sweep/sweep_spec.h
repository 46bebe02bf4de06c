// A sweep: a base config, parameters in the sweep grammar (sweep_grammar.h) and launcher
// settings, from a sweep file (configs/sweep/*.toml) and the command line; its jobs; its folder.
//
// Sweep file:
//   config = "mqar.toml"            # base config: a path, or a name under configs/ (optional)
//   [params]                        # the same grammar as the command line
//   variant = "scaled,rope"
//   seed = "range(0,3)"
//   "train.lr" = "1e-3,3e-4"        # dotted keys quoted, or as nested tables ([params.train])
//   [slurm]                         # Slurm launcher settings (slurm_launcher.h)
//   partition = "debug"
//   [preset.cpu]                    # a named set of parameters laid over [params] when
//   "model.d_model" = "64,128"      #   chosen with `attnlab sweep --preset cpu`
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "experiments/sweep/sweep_grammar.h"

namespace attnlab::sweep {

struct SlurmSettings {
  std::string partition;               // empty: the cluster's default partition
  std::string time = "01:00:00";       // per job
  std::int64_t cpus_per_task = 2;      // also the job's runtime.threads
  std::string mem;                     // e.g. "4G"; empty: the cluster's default
  std::int64_t array_parallelism = 0;  // at most this many jobs at once (0: no limit)
  std::vector<std::string> extra;      // further "#SBATCH ..." lines, verbatim
};

struct SweepSpec {
  std::filesystem::path config_file;  // absolute
  std::string preset;                 // the sweep file's preset in use ("" for none)
  std::vector<SweepParameter> parameters;
  SlurmSettings slurm;
};

struct SweepJob {
  std::int64_t index = 0;
  std::vector<std::string> overrides;  // every parameter's key=value
  std::string name;                    // folder name: "003-variant=rope,seed=1"
};

// `preset`: one of the sweep file's [preset.<name>] tables, whose parameters replace [params]'
// of the same key (and add the others). `arguments`: parameters and `slurm.<key>=value`
// settings; they replace the file's and the preset's of the same key. Throws
// config::ConfigError naming the file and line, or the argument and column, or the presets there
// are when `preset` is not one of them.
SweepSpec load_sweep(const std::optional<std::filesystem::path>& sweep_file,
                     const std::filesystem::path& config_file,
                     const std::vector<std::string>& arguments, const std::string& preset = "");

// The names of a sweep file's [preset.<name>] tables, in name order.
std::vector<std::string> sweep_presets(const std::filesystem::path& sweep_file);

std::vector<SweepJob> sweep_jobs(const SweepSpec& spec);

// Job folder name: the zero-padded job number, then its swept overrides (fixed ones are the same
// for every job) with characters other than [A-Za-z0-9._=,+-] replaced by '_', shortened with a
// hash beyond 80 characters. The number makes names unique whatever the overrides.
std::string job_name(std::int64_t index, std::int64_t jobs,
                     const std::vector<std::string>& swept_overrides);

// The sweep.toml written into the sweep folder: base config, its resolved text's hash, and the
// parameters with their expanded values.
std::string sweep_toml(const SweepSpec& spec, const std::string& base_config_text);
// 8 hex digits identifying the sweep: the base config, the parameters and every job's resolved
// config (so editing a group file such as configs/variant/rope.toml makes a new sweep). The same
// command on the same configs gives the same hash; launcher settings are left out, so a sweep can
// move from this machine to a cluster and back.
std::string sweep_hash(const SweepSpec& spec, const std::vector<std::string>& job_configs);

// The sweep's folder: an existing results_dir/<experiment>/sweep-*-<hash> (the same sweep run
// again: it continues), else a new sweep-<timestamp>-<hash>. `fresh`: always a new one.
std::filesystem::path sweep_directory(const std::filesystem::path& experiment_dir,
                                      const std::string& hash, bool fresh);

}  // namespace attnlab::sweep
