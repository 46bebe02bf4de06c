// Reading dumps out of process: the helper-process channel (framing, a crash, a hang, a kill), the
// DumpReader that uses it returning exactly what an in-process DumpFile reads, and the damaged
// files on which libhdf5 1.10 itself crashes or loops ending as DumpError, not as a crash or a
// hang of the caller. No LibTorch: these also run under the sanitizers (scripts/test.sh
// --sanitize).
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dump/child_process.h"
#include "dump/dump_reader.h"

using namespace attnlab;
using Failure = dump::ChildProcess::Failure;

namespace {

const std::filesystem::path kSourceDir = ATTNLAB_SOURCE_DIR;

// A child that answers "echo <text>" with the text, and on the other requests crashes, hangs or
// is killed, as libhdf5 does on some damaged files.
std::string misbehave(const std::string& request, dump::SharedBuffer& shared) {
  if (request == "crash") {
    volatile int* nowhere = nullptr;
    *nowhere = 1;
  }
  if (request == "hang") {
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  if (request == "terminate") ::raise(SIGTERM);
  if (request.rfind("shared ", 0) == 0) {
    // Leaves the rest of the request in shared memory and replies with its length.
    const auto text = request.substr(7);
    std::memcpy(shared.map(text.size(), true), text.data(), text.size());
    return std::to_string(text.size());
  }
  return request;
}

Failure failure_of(dump::ChildProcess& child, const std::string& request) {
  try {
    child.call(request);
  } catch (const Failure& failure) {
    return failure;
  }
  FAIL("the call to the child succeeded");
  return Failure(Failure::Kind::crashed, "");
}

// Sets an environment variable for one scope.
class ScopedVariable {
 public:
  ScopedVariable(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedVariable() {
    if (old_.empty()) {
      ::unsetenv(name_);
    } else {
      ::setenv(name_, old_.c_str(), 1);
    }
  }

 private:
  const char* name_;
  std::string old_;
};

// Opens `path` and reads every part of it, in the order `attnlab analyze` does; returns the
// DumpError of each part that failed (a part that fails does not stop the next, as analysis code
// goes on past optional parts). Any other exception fails the test.
std::vector<std::string> read_every_part(const std::filesystem::path& path) {
  std::vector<std::string> errors;
  const auto attempt = [&](auto&& read) {
    try {
      read();
    } catch (const dump::DumpError& error) {
      errors.emplace_back(error.what());
    }
  };
  std::unique_ptr<dump::DumpReader> opened;
  attempt([&] { opened = std::make_unique<dump::DumpReader>(path); });
  if (!opened) return errors;
  const auto& reader = *opened;
  for (const char* probe : {dump::kProbeTokens, dump::kProbeTargets, dump::kProbeIndices}) {
    attempt([&] { reader.probe(probe); });
  }
  attempt([&] { reader.probe_loss(); });
  attempt([&] { reader.string_attribute(dump::kAttributeConfig); });
  for (std::int64_t layer = 0; layer < static_cast<std::int64_t>(reader.layers().size()); ++layer) {
    for (const auto& statistic : dump::kStatistics) {
      attempt([&] { reader.statistic(layer, statistic.name); });
    }
    attempt([&] { reader.allowed_keys(layer); });
    if (!reader.has_maps()) continue;
    for (std::int64_t snapshot = 0; snapshot < reader.snapshots(); ++snapshot) {
      for (std::int64_t sample = 0; sample < reader.samples(); ++sample) {
        for (std::int64_t head = 0; head < reader.layers()[layer].heads; ++head) {
          attempt([&] { reader.map(layer, snapshot, sample, head); });
        }
      }
    }
  }
  return errors;
}

bool any_contains(const std::vector<std::string>& errors, const std::string& text) {
  for (const auto& error : errors) {
    if (error.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a helper process answers requests, large ones included", "[dump][child_process]") {
  dump::ChildProcess child(misbehave, std::chrono::seconds(30));
  CHECK(child.call("echo") == "echo");
  CHECK(child.call("").empty());
  // Larger than a socket's buffer in both directions, with every byte value.
  std::string large(12 << 20, '\0');
  for (std::size_t i = 0; i < large.size(); ++i) large[i] = static_cast<char>(i * 131 % 251);
  CHECK(child.call(large) == large);
  CHECK(child.call("still there") == "still there");
  // Through shared memory, growing it: what the child wrote is what the parent reads.
  for (const std::size_t size : {std::size_t{10}, std::size_t{3} << 20, std::size_t{5}}) {
    const auto text = large.substr(size, size);
    const auto length = std::stoul(child.call("shared " + text));
    REQUIRE(length == size);
    CHECK(std::string(child.shared().map(length, false), length) == text);
  }
}

TEST_CASE("a helper process that crashes, hangs or is killed fails the call, not the caller",
          "[dump][child_process]") {
  SECTION("a crash") {
    dump::ChildProcess child(misbehave, std::chrono::seconds(30));
    const auto failure = failure_of(child, "crash");
    CHECK(failure.kind == Failure::Kind::crashed);
    // Outside the sanitizers a signal; under AddressSanitizer its report and exit code.
    CHECK_THAT(failure.what(), Catch::Contains("Segmentation fault") ||
                                   Catch::Contains("exit code"));
    // Every later call fails the same way: the child is not restarted behind the caller's back.
    CHECK(failure_of(child, "echo").kind == Failure::Kind::crashed);
  }
  SECTION("a hang ends at the time limit") {
    dump::ChildProcess child(misbehave, std::chrono::milliseconds(300));
    const auto start = std::chrono::steady_clock::now();
    const auto failure = failure_of(child, "hang");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
    CHECK(failure.kind == Failure::Kind::hung);
    CHECK_THAT(failure.what(), Catch::Contains("did not reply within 0.3 s"));
    CHECK(failure_of(child, "echo").kind == Failure::Kind::hung);
  }
  SECTION("a kill from outside is not a crash") {
    dump::ChildProcess child(misbehave, std::chrono::seconds(30));
    const auto failure = failure_of(child, "terminate");
    CHECK(failure.kind == Failure::Kind::interrupted);
    CHECK_THAT(failure.what(), Catch::Contains("Terminated"));
  }
}

TEST_CASE("DumpReader reads what DumpFile reads, part for part", "[dump][child_process]") {
  const auto corpus = kSourceDir / "tests" / "fuzz" / "corpus" / "dump";
  int compared = 0;
  for (const char* name : {"float16_maps.h5", "float32_maps.h5", "encoder_decoder_cross.h5",
                           "classification_encoder.h5", "statistics_only_compact.h5",
                           "gzip_chunked_latest_format.h5", "encoder_decoder_roles.h5"}) {
    INFO(name);
    const dump::DumpFile file(corpus / name);
    const dump::DumpReader reader(corpus / name);
    CHECK(reader.schema_version() == file.schema_version());
    CHECK(reader.steps() == file.steps());
    CHECK(reader.samples() == file.samples());
    CHECK(reader.heads() == file.heads());
    CHECK(reader.has_maps() == file.has_maps());
    CHECK(reader.has_importance() == file.has_importance());
    CHECK(reader.string_attribute(dump::kAttributeConfig) ==
          file.string_attribute(dump::kAttributeConfig));
    CHECK(reader.int_attribute(dump::kAttributeRecordEvery) ==
          file.int_attribute(dump::kAttributeRecordEvery));
    CHECK(reader.probe_loss() == file.probe_loss());
    CHECK(reader.probe(dump::kProbeTokens).values == file.probe(dump::kProbeTokens).values);
    CHECK(reader.has(dump::kProbeSource) == file.has(dump::kProbeSource));
    REQUIRE(reader.layers().size() == file.layers().size());
    std::uint64_t map_elements = 0;
    for (std::int64_t layer = 0; layer < static_cast<std::int64_t>(file.layers().size()); ++layer) {
      const auto& mine = reader.layers()[layer];
      const auto& theirs = file.layers()[layer];
      CHECK(mine.kind == theirs.kind);
      CHECK(mine.role == theirs.role);
      CHECK(mine.causal == theirs.causal);
      CHECK(mine.heads == theirs.heads);
      CHECK(mine.query_length == theirs.query_length);
      CHECK(mine.key_length == theirs.key_length);
      for (const auto& statistic : dump::kStatistics) {
        if (!file.has(dump::layer_group(layer) + "/" + statistic.name)) continue;
        const auto expected = file.statistic(layer, statistic.name);
        const auto got = reader.statistic(layer, statistic.name);
        CHECK(got.shape == expected.shape);
        CHECK(got.values == expected.values);
      }
      CHECK(reader.allowed_keys(layer).values == file.allowed_keys(layer).values);
      if (!file.has_maps()) continue;
      for (std::int64_t snapshot = 0; snapshot < file.snapshots(); ++snapshot) {
        const auto map = reader.map(layer, snapshot, 0, mine.heads - 1);
        CHECK(map == file.map(layer, snapshot, 0, mine.heads - 1));
        map_elements += map.size();
      }
    }
    CHECK(reader.map_bytes_read() == map_elements * file.map_element_bytes());
    // Errors keep their kind across the process boundary.
    CHECK_THROWS_AS(reader.statistic(0, "no_such_statistic"), dump::DumpError);
    CHECK_THROWS_AS(reader.allowed_keys(99), std::out_of_range);
    ++compared;
  }
  CHECK(compared == 7);
}

TEST_CASE("a schema 1 dump reads, each layer's role derived from the layer order",
          "[dump][child_process]") {
  // The corpus dumps were recorded before the role was stored.
  const auto corpus = kSourceDir / "tests" / "fuzz" / "corpus" / "dump";
  const std::vector<std::pair<const char*, std::vector<std::string>>> expected = {
      {"encoder_decoder_cross.h5", {"encoder_self", "decoder_self", "cross"}},
      {"classification_encoder.h5", {"encoder_self"}},
      {"float16_maps.h5", {"decoder_self"}}};
  for (const auto& [name, roles] : expected) {
    INFO(name);
    const dump::DumpReader reader(corpus / name);
    CHECK(reader.schema_version() == 1);
    std::vector<std::string> read;
    for (const auto& layer : reader.layers()) read.push_back(dump::role_name(layer.role));
    CHECK(read == roles);
    CHECK_FALSE(reader.map(0, reader.snapshots() - 1, 0, 0).empty());
  }
}

TEST_CASE("a dump on which libhdf5 crashes or loops is a DumpError, not a crash or a hang",
          "[dump][child_process]") {
  // Inputs found by the dump fuzzer (tests/fuzz/README.md); outside the reader's child each ends
  // the process or never returns.
  ScopedVariable limit("ATTNLAB_DUMP_READ_SECONDS", "3");
  const auto damaged = kSourceDir / "tests" / "fuzz" / "hdf5_crashes";
  const auto read = [&](const char* name) {
    const auto start = std::chrono::steady_clock::now();
    const auto errors = read_every_part(damaged / name);
    // Each call waits at most 3 s, and once the child is gone every later call fails at once.
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(15));
    CHECK_FALSE(errors.empty());
    for (const auto& error : errors) CHECK_THAT(error, Catch::Contains(name));
    return errors;
  };
  CHECK(any_contains(read("global_heap_memcpy_overlap.h5"),
                     "the file is damaged: the HDF5 library crashed reading it"));
  CHECK(any_contains(read("metadata_cache_hang.h5"),
                     "the file is damaged: the HDF5 library did not reply within 3 s"));
  // libhdf5 reads past a buffer here; outside AddressSanitizer that goes unnoticed and the file
  // fails on its contents instead.
  read("attribute_message_heap_overflow.h5");
}

TEST_CASE("a bad ATTNLAB_DUMP_READ_SECONDS is refused", "[dump][child_process]") {
  const auto dump = kSourceDir / "tests" / "fuzz" / "corpus" / "dump" / "float16_maps.h5";
  for (const char* value : {"soon", "0", "0.0004", "-3", "1e9"}) {
    INFO(value);
    ScopedVariable limit("ATTNLAB_DUMP_READ_SECONDS", value);
    CHECK_THROWS_WITH(dump::DumpReader(dump),
                      Catch::Contains("ATTNLAB_DUMP_READ_SECONDS=" + std::string(value) +
                                      ": expected a number of seconds from 0.001 to 1e6"));
  }
}

TEST_CASE("a dump recorded without maps says so when a map is asked for",
          "[dump][child_process]") {
  const dump::DumpReader reader(kSourceDir / "tests" / "fuzz" / "corpus" / "dump" /
                                "statistics_only_compact.h5");
  REQUIRE_FALSE(reader.has_maps());
  CHECK_THROWS_WITH(reader.map(0, 0, 0, 0), Catch::Contains("recorded without maps"));
  CHECK(reader.probe_loss().size() == static_cast<std::size_t>(reader.snapshots()));
}
