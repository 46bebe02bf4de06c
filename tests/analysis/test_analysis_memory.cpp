// The analysis streams: a dump larger than the memory the analysis may use is analysed within
// that limit. A child process caps its address space (RLIMIT_AS) at what it already maps plus
// kHeadroom, checks that the cap binds (a kHeadroom allocation fails), then runs the per-head pass
// over every snapshot, the similarity pass, the figures and analysis.h5 on a dump whose maps
// alone are about twice kHeadroom.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <new>
#include <string>

#include "dump/dump_reader.h"
#include "analysis/heads/analysis_file.h"
#include "analysis/heads/head_analysis.h"
#include "analysis/heads/head_figures.h"
#include "analysis/heads/head_similarity.h"
#include "experiments/record/record_benchmark.h"
#include "tests/support/temp_dir.h"

using namespace attnlab;

namespace {

constexpr std::size_t kHeadroom = 64u << 20;  // bytes the analysis may add to the process

// Bytes of address space the process maps now (VmSize).
std::size_t mapped_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  std::size_t kilobytes = 0;
  while (status >> key) {
    if (key == "VmSize:") {
      status >> kilobytes;
      return kilobytes * 1024;
    }
    status.ignore(1 << 12, '\n');
  }
  return 0;
}

void cap_address_space() {
  const rlimit limit{mapped_bytes() + kHeadroom, mapped_bytes() + kHeadroom};
  if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(10);
}

// Runs `work` in a child under the cap; its exit code (or -1 when it died on a signal).
template <typename Work>
int in_capped_child(Work work) {
  const pid_t child = fork();
  if (child == 0) {
    cap_address_space();
    int code = 0;
    try {
      code = work();
    } catch (const std::bad_alloc&) {
      code = 20;
    } catch (...) {
      code = 30;
    }
    _exit(code);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("analysis of a dump larger than its memory limit stays within the limit",
          "[analysis][heads][memory]") {
  testing::TempDir directory;
  const auto dump_path = directory.path() / "large.h5";
  record::WriterBenchmarkOptions shape;
  shape.layers = 2;
  shape.heads = 4;
  shape.samples = 12;
  shape.length = 256;
  shape.snapshots = 10;  // 2*4*12*256*256 halves per snapshot: 12.6 MB; 126 MB of maps
  // Written by a child: the buffers it frees would otherwise stay mapped in this process (and in
  // the capped children forked from it), where the analysis could reuse them under the cap.
  const pid_t writer = fork();
  if (writer == 0) {
    try {
      record::write_synthetic_dump(dump_path, shape);
    } catch (...) {
      _exit(1);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(writer, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  const std::uint64_t map_bytes = 10ull * 2 * 4 * 12 * 256 * 256 * 2;
  REQUIRE(map_bytes > kHeadroom * 3 / 2);
  REQUIRE(std::filesystem::file_size(dump_path) > map_bytes);

  // The cap binds: allocating the headroom at once fails in a capped child.
  CHECK(in_capped_child([] {
          std::vector<char> block(kHeadroom, 1);
          return block[kHeadroom / 2] == 1 ? 0 : 1;
        }) == 20);

  const auto out = directory.path() / "analysis.h5";
  const int code = in_capped_child([&] {
    const dump::DumpReader reader(dump_path);
    const auto snapshots = heads::select_snapshots("all", reader.snapshots());
    const auto analysis = heads::analyse_heads(reader, snapshots);
    const auto similarity = heads::head_similarity(reader, snapshots.back());
    const auto figures = heads::head_figures(analysis, &similarity, reader);
    heads::write_analysis_file(out, analysis, &similarity, reader.layers(), dump_path);
    // Every map was read once by the head pass, once more by the similarity pass.
    // (similarity: per sample layer 0 once, layer 1 twice).
    const auto expected = map_bytes + map_bytes / 10 * 3 / 2;
    if (analysis.heads.size() != 10 * 2 * 4) return 2;
    if (reader.map_bytes_read() < expected) return 3;
    return figures.empty() ? 4 : 0;
  });
  CHECK(code == 0);
  CHECK(std::filesystem::exists(out));
}
