// attnlab sweep [--sweep FILE [--preset NAME]] [--config F] [--launcher local|slurm] [--jobs N]
// PARAM...: a Hydra-style multirun (grammar: experiments/sweep/sweep_grammar.h), safe to
// interrupt and run again; `sweep status DIR` and `sweep job DIR --index I` (what Slurm array
// tasks run). `attnlab train -m` is the same as `attnlab sweep`.
#include <fmt/core.h>

#include "experiments/cli/commands.h"
#include "experiments/sweep/sweep_runner.h"

namespace attnlab::cli {

void add_sweep_options(CLI::App& command, sweep::SweepRequest& request) {
  command.add_option("--launcher", request.launcher, "local (default) or slurm")
      ->check(CLI::IsMember({"local", "slurm"}));
  command.add_option("--jobs", request.jobs,
                     "local: runs side by side; the cores are split between them (default 1)")
      ->check(CLI::PositiveNumber);
  command.add_flag("--retry-failed", request.retry_failed,
                   "run failed jobs again (finished jobs are always skipped)");
  command.add_flag("--dry-run", request.dry_run, "print the jobs and exit");
  command.add_flag("--new", request.fresh,
                   "start a new sweep folder even if this sweep ran before (default: continue it)");
  command.add_flag("--wait", request.wait,
                   "slurm: wait for the array and compare jobs, then print the summary");
}

namespace {

struct SweepArguments {
  sweep::SweepRequest request;
  std::filesystem::path sweep_file;
  std::filesystem::path status_dir, job_dir;
  std::int64_t job_index = -1;
  int job_threads = 1;
};

}  // namespace

void add_sweep_command(CLI::App& app) {
  auto arguments = std::make_shared<SweepArguments>();
  auto* command = app.add_subcommand(
      "sweep", "run a grid of configs (Hydra multirun grammar) locally or on Slurm");
  command->add_option("--sweep", arguments->sweep_file,
                      "sweep file (configs/sweep/*.toml): base config, [params], [slurm]");
  command->add_option("--preset", arguments->request.preset,
                      "a [preset.<name>] of the sweep file, laid over its [params] (e.g. cpu)");
  command->add_option("--config", arguments->request.config_file,
                      "base config (default: the sweep file's, else configs/experiment.toml)");
  add_sweep_options(*command, arguments->request);
  command->add_option("parameters", arguments->request.arguments,
                      "key=a,b  key=range(0,3)  key=choice(a,b)  group=glob(*)  key=value  "
                      "slurm.<key>=value");

  auto* status = command->add_subcommand("status", "progress of a sweep from its manifest (and squeue)");
  status->add_option("dir", arguments->status_dir, "the sweep folder")->required();
  status->callback([arguments] { fmt::print("{}", sweep::sweep_status(arguments->status_dir)); });

  auto* job = command->add_subcommand("job", "run one job of a sweep (what Slurm array tasks run)");
  job->add_option("dir", arguments->job_dir, "the sweep folder")->required();
  job->add_option("--index", arguments->job_index, "the job's number")->required();
  job->add_option("--threads", arguments->job_threads, "runtime.threads of the job")
      ->check(CLI::PositiveNumber);
  job->callback([arguments] {
    const int code = sweep::run_sweep_job(arguments->job_dir, arguments->job_index,
                                          arguments->job_threads);
    if (code != 0) throw sweep::SweepFailed("job " + std::to_string(arguments->job_index) + " failed");
  });

  command->callback([command, arguments] {
    if (!command->get_subcommands().empty()) return;  // status or job
    if (!arguments->sweep_file.empty()) arguments->request.sweep_file = arguments->sweep_file;
    sweep::run_sweep(arguments->request);
  });
}

}  // namespace attnlab::cli
