// Fuzzes config loading (experiments/config/compose.cpp and the library under it): a TOML
// config file plus command-line overrides, composed against a representative attnlab schema
// (fuzz_schema.h) with configs/ as the place where group options (model/tiny.toml, ...) live.
//
// Input: the TOML document, optionally followed by a line `---` and one override per line:
//   defaults = ["model/tiny", "variant/scaled", "task/copy", "train/quick"]
//   [train]
//   lr = 1e-3
//   ---
//   variant=rope
//   +extra.tag=[1,2]
// Rejections must be ConfigError. An accepted config must also keep the promise of config.h:
// its to_toml() text, loaded again with --config, reproduces it (the same hash). Any other
// exception, a broken promise, a crash or a sanitizer report is a bug.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "experiments/config/config.h"
#include "tests/fuzz/fuzz_schema.h"

namespace {

namespace fs = std::filesystem;
using attnlab::config::ConfigError;

// A private directory for the config files, so that group lookups next to the config file (the
// first search dir, as in run::load_config) find nothing of another process. Removed at exit.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "attnlab-config-fuzz-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror("config_fuzz: mkdtemp");
      std::abort();
    }
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

const fs::path& scratch_dir() {
  static const ScratchDir dir;
  return dir.path();
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) {
    std::perror("config_fuzz: writing the config file");
    std::abort();
  }
}

attnlab::config::Config compose(const fs::path& file, const std::vector<std::string>& overrides) {
  attnlab::config::ComposeRequest request;
  request.config_file = file;
  request.search_dirs = {scratch_dir(), ATTNLAB_CONFIG_DIR};
  request.overrides = overrides;
  return attnlab::config::compose(attnlab::fuzz::representative_schema(), request);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::string toml;
  std::vector<std::string> overrides;
  bool in_overrides = false;
  std::size_t start = 0;
  while (start <= input.size()) {
    std::size_t end = input.find('\n', start);
    if (end == std::string::npos) end = input.size();
    const std::string line = input.substr(start, end - start);
    if (in_overrides) {
      if (!line.empty()) overrides.push_back(line);
    } else if (line == "---") {
      in_overrides = true;
    } else {
      toml += line + '\n';
    }
    start = end + 1;
  }
  const fs::path file = scratch_dir() / "config.toml";
  write_file(file, toml);

  attnlab::config::Config config;
  try {
    config = compose(file, overrides);
  } catch (const ConfigError&) {
    return 0;
  }

  // The resolved text, as a run directory's config.toml, must load to the same config.
  const fs::path resolved = scratch_dir() / "resolved.toml";
  write_file(resolved, config.to_toml());
  try {
    const attnlab::config::Config reloaded = compose(resolved, {});
    if (reloaded.hash() != config.hash()) {
      std::fprintf(stderr, "config_fuzz: the resolved config reloads differently\n%s\n---\n%s\n",
                   config.to_toml().c_str(), reloaded.to_toml().c_str());
      std::abort();
    }
  } catch (const ConfigError& error) {
    std::fprintf(stderr, "config_fuzz: the resolved config does not load: %s\n%s\n", error.what(),
                 config.to_toml().c_str());
    std::abort();
  }
  return 0;
}
