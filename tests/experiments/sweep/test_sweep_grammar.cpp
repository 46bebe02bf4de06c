// The sweep grammar (every form, and errors with their column), the cartesian product's order,
// job folder names, sweep files, and the sweep folder (reused for the same sweep, never shared).
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <set>

#include "experiments/config/config.h"
#include "experiments/sweep/sweep_grammar.h"
#include "experiments/run/schema.h"
#include "experiments/sweep/sweep_runner.h"
#include "experiments/sweep/sweep_spec.h"
#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;
using sweep::parse_parameter;

namespace {

std::vector<std::string> options_of(const std::string& group) {
  if (group == "variant") return {"additive", "rope", "rope_local", "scaled"};
  return {};
}

std::vector<std::string> values(const std::string& text) {
  return parse_parameter(text, options_of).values;
}

// The message of the ConfigError a parameter raises ("" when it parses).
std::string error_of(const std::string& text) {
  try {
    parse_parameter(text, options_of);
  } catch (const config::ConfigError& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST_CASE("sweep grammar: comma lists, quotes and brackets", "[sweep]") {
  CHECK(values("variant=scaled,rope") == std::vector<std::string>{"scaled", "rope"});
  CHECK(values("train.lr=1e-3, 3e-4") == std::vector<std::string>{"1e-3", "3e-4"});
  CHECK(values("eval.lengths=[16,32],[64]") == std::vector<std::string>{"[16,32]", "[64]"});
  CHECK(values("+extra.tag='a,b',c") == std::vector<std::string>{"'a,b'", "c"});
  CHECK(values("seed=3") == std::vector<std::string>{"3"});
  const auto parameter = parse_parameter("++train.lr=1,2", options_of);
  CHECK(parameter.key == "++train.lr");
  CHECK(parameter.swept());
  CHECK_FALSE(parse_parameter("seed=3", options_of).swept());
}

TEST_CASE("sweep grammar: range, choice and glob", "[sweep]") {
  CHECK(values("seed=range(3)") == std::vector<std::string>{"0", "1", "2"});
  CHECK(values("seed=range(1,7,2)") == std::vector<std::string>{"1", "3", "5"});
  CHECK(values("seed=range(5,0,-2)") == std::vector<std::string>{"5", "3", "1"});
  CHECK(values("train.lr=range(0,1,0.25)") ==
        std::vector<std::string>{"0", "0.25", "0.5", "0.75"});
  CHECK(values("model.dropout=range(0,0.3,0.1)") == std::vector<std::string>{"0", "0.1", "0.2"});
  // No float noise: 0.1 * 3 is printed 0.3.
  CHECK(values("model.dropout=range(0,0.35,0.1)") ==
        std::vector<std::string>{"0", "0.1", "0.2", "0.3"});
  CHECK(values("variant=choice(scaled, rope)") == std::vector<std::string>{"scaled", "rope"});
  CHECK(values("variant=glob(*)") ==
        std::vector<std::string>{"additive", "rope", "rope_local", "scaled"});
  CHECK(values("variant=glob(r*,s*)") ==
        std::vector<std::string>{"rope", "rope_local", "scaled"});
}

TEST_CASE("sweep grammar: errors name the parameter and the column", "[sweep]") {
  CHECK_THAT(error_of("seed"), Catch::Contains("expected key=value at column 5"));
  CHECK_THAT(error_of("=1,2"), Catch::Contains("expected a key before '=' at column 1"));
  CHECK_THAT(error_of("++=glob(r*)"), Catch::Contains("expected a key before '='"));
  CHECK_THAT(error_of("seed="), Catch::Contains("expected a value after '=' at column 6"));
  CHECK_THAT(error_of("seed=1,,2"), Catch::Contains("empty value"));
  CHECK_THAT(error_of("tag='a,b"), Catch::Contains("unterminated quote"));
  CHECK_THAT(error_of("seed=range(0,3"), Catch::Contains("unclosed bracket at column 15"));
  CHECK_THAT(error_of("seed=range(0,3,0)"), Catch::Contains("step must not be 0"));
  CHECK_THAT(error_of("seed=range(a,3)"), Catch::Contains("range() takes numbers, not 'a'"));
  CHECK_THAT(error_of("seed=range(3,0)"), Catch::Contains("range() is empty"));
  CHECK_THAT(error_of("seed=range(1,2,3,4)"), Catch::Contains("1 to 3 arguments"));
  CHECK_THAT(error_of("seed=range(0,1e300)"), Catch::Contains("more than 100000 values"));
  CHECK_THAT(error_of("variant=glob(zz*)"), Catch::Contains("matches none of the options"));
  CHECK_THAT(error_of("train.lr=glob(*)"), Catch::Contains("needs a config group"));
  CHECK_THAT(error_of("~seed=1,2"), Catch::Contains("cannot be swept"));
  // The caret line points under the column.
  CHECK_THAT(error_of("seed=range(0,3"), Catch::Contains("\n  seed=range(0,3\n                ^"));
}

TEST_CASE("the cartesian product varies the last parameter fastest", "[sweep]") {
  const std::vector<sweep::SweepParameter> parameters = {
      parse_parameter("variant=scaled,rope", options_of), parse_parameter("seed=range(2)", options_of),
      parse_parameter("train.steps=10", options_of)};
  const auto jobs = sweep::expand(parameters);
  REQUIRE(jobs.size() == 4);
  CHECK(jobs[0] == std::vector<std::string>{"variant=scaled", "seed=0", "train.steps=10"});
  CHECK(jobs[1] == std::vector<std::string>{"variant=scaled", "seed=1", "train.steps=10"});
  CHECK(jobs[3] == std::vector<std::string>{"variant=rope", "seed=1", "train.steps=10"});
  // A product beyond 100000 jobs is refused before it is built.
  const std::vector<sweep::SweepParameter> huge = {parse_parameter("seed=range(1000)", options_of),
                                                   parse_parameter("train.steps=range(1000)", options_of)};
  CHECK_THROWS_WITH(sweep::expand(huge), Catch::Contains("1000000 jobs (1000 x 1000)"));
}

TEST_CASE("job folder names: numbered, readable, safe, unique", "[sweep]") {
  CHECK(sweep::job_name(3, 12, {"variant=rope", "seed=1"}) == "003-variant=rope,seed=1");
  CHECK(sweep::job_name(7, 2000, {"seed=1"}) == "0007-seed=1");
  CHECK(sweep::job_name(0, 1, {}) == "000");
  CHECK(sweep::job_name(1, 4, {"+extra.tag='a b/c'"}) == "001-+extra.tag=_a_b_c_");
  // Long overrides are shortened with a hash of the whole, so two long names still differ.
  const std::string long_value(120, 'x');
  const auto first = sweep::job_name(0, 2, {"+extra.a=" + long_value + "1"});
  const auto second = sweep::job_name(0, 2, {"+extra.a=" + long_value + "2"});
  CHECK(first.size() <= 84);
  CHECK(first != second);
}

TEST_CASE("a sweep file gives the base config, parameters and Slurm settings", "[sweep]") {
  testing::TempDir directory;
  const auto file = directory.path() / "grid.toml";
  std::ofstream(file) << "config = \"experiment.toml\"\n"
                         "[params]\n"
                         "variant = \"scaled,rope\"\n"
                         "seed = \"range(0,2)\"\n"
                         "train.lr = \"1e-3,3e-4\"\n"
                         "[params.model]\n"
                         "heads = 2\n"
                         "[slurm]\n"
                         "partition = \"gpu\"\n"
                         "cpus_per_task = 4\n"
                         "extra = [\"--qos=low\"]\n";
  const auto spec = sweep::load_sweep(file, "", {"seed=5"});  // the command line replaces seed
  CHECK(spec.config_file.filename() == "experiment.toml");
  REQUIRE(spec.parameters.size() == 4);
  CHECK(spec.parameters[0].key == "variant");
  CHECK(spec.parameters[1].values == std::vector<std::string>{"5"});
  CHECK(spec.parameters[2].key == "train.lr");
  CHECK(spec.parameters[3].text == "model.heads=2");
  CHECK(spec.slurm.partition == "gpu");
  CHECK(spec.slurm.cpus_per_task == 4);
  CHECK(spec.slurm.extra == std::vector<std::string>{"--qos=low"});
  const auto jobs = sweep::sweep_jobs(spec);
  REQUIRE(jobs.size() == 4);
  CHECK(jobs[1].name == "001-variant=scaled,train.lr=3e-4");

  std::ofstream(directory.path() / "bad.toml") << "[params]\nseed = \"range(0,2)\"\nwhat = 1\n[slurm]\nqueue = \"x\"\n";
  CHECK_THROWS_WITH(sweep::load_sweep(directory.path() / "bad.toml", "", {}),
                    Catch::Contains("bad.toml:5: unknown key slurm.queue"));
  CHECK_THROWS_WITH(sweep::load_sweep({}, "", {"slurm.cpus_per_task=many"}),
                    Catch::Contains("slurm.cpus_per_task must be an integer"));
}

TEST_CASE("a sweep file's preset replaces parameters of the same key and adds the others",
          "[sweep]") {
  testing::TempDir directory;
  const auto file = directory.path() / "recipe.toml";
  std::ofstream(file) << "config = \"experiment.toml\"\n"
                         "[params]\n"
                         "variant = \"scaled,rope\"\n"
                         "\"model.d_model\" = \"64,128,256,512\"\n"
                         "[preset.cpu]\n"
                         "\"model.d_model\" = \"64\"\n"
                         "\"train.steps\" = \"100\"\n"
                         "[preset.tiny]\n"
                         "variant = \"scaled\"\n";
  const auto full = sweep::load_sweep(file, "", {});
  CHECK(sweep::sweep_jobs(full).size() == 8);
  const auto cpu = sweep::load_sweep(file, "", {"variant=rope"}, "cpu");
  REQUIRE(cpu.parameters.size() == 3);
  CHECK(cpu.parameters[0].values == std::vector<std::string>{"rope"});  // command line last
  CHECK(cpu.parameters[1].values == std::vector<std::string>{"64"});    // in [params]' place
  CHECK(cpu.parameters[2].text == "train.steps=100");
  CHECK(sweep::sweep_toml(cpu, "").find("preset = 'cpu'") != std::string::npos);
  // A preset's grid is another sweep (its own folder), since its parameters differ.
  CHECK(sweep::sweep_hash(cpu, {}) != sweep::sweep_hash(full, {}));

  CHECK(sweep::sweep_presets(file) == std::vector<std::string>{"cpu", "tiny"});
  CHECK_THROWS_WITH(sweep::load_sweep(file, "", {}, "gpu"),
                    Catch::Contains("recipe.toml: no preset 'gpu' (its presets: cpu, tiny)"));
  CHECK_THROWS_WITH(sweep::load_sweep({}, "", {}, "cpu"), Catch::Contains("add --sweep"));
}

TEST_CASE("the sweep folder: the same sweep continues in its folder, others never share",
          "[sweep]") {
  testing::TempDir directory;
  const auto first = sweep::sweep_directory(directory.path(), "0123abcd", /*fresh=*/false);
  CHECK(first.filename().string().rfind("sweep-", 0) == 0);
  CHECK(sweep::sweep_directory(directory.path(), "0123abcd", false) == first);
  // Started in the same second: distinct folders, each still ending with its hash.
  const auto again = sweep::sweep_directory(directory.path(), "0123abcd", /*fresh=*/true);
  const auto third = sweep::sweep_directory(directory.path(), "0123abcd", /*fresh=*/true);
  std::set<std::filesystem::path> folders = {first, again, third};
  CHECK(folders.size() == 3);
  CHECK(third.filename().string().substr(third.filename().string().size() - 8) == "0123abcd");
  CHECK(sweep::sweep_directory(directory.path(), "99999999", false) != first);
}

namespace {

bool file_wants_gpu(const std::filesystem::path& file) {
  return testing::read_text(file).find("\"runtime.device\" = \"cuda\"") != std::string::npos;
}

}  // namespace

TEST_CASE("every shipped sweep file composes and checks every job, with each of its presets",
          "[sweep]") {
  std::vector<std::filesystem::path> files;
  const auto folder = run::default_config_dir() / "sweep";
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().extension() == ".toml") files.push_back(entry.path());
  }
  REQUIRE(files.size() >= 7);
  for (const auto& file : files) {
    auto presets = sweep::sweep_presets(file);
    presets.insert(presets.begin(), "");  // the file's own grid
    for (const auto& preset : presets) {
      INFO(file.filename().string() << (preset.empty() ? "" : " --preset " + preset));
      sweep::SweepRequest request;
      request.sweep_file = file;
      request.preset = preset;
      request.dry_run = true;  // composes every job's config and checks its shapes
      // The recipes' full grids are GPU work for a cluster, whose nodes judge device and memory;
      // presets are for this machine, which checks both.
      request.launcher = preset.empty() && file_wants_gpu(file) ? "slurm" : "local";
      CHECK_NOTHROW(sweep::run_sweep(request));
    }
  }
}
