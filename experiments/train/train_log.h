// train.log: the run's notable lines (resume, warnings, validation, the end), each stamped with
// the time, also shown on the terminal through the progress display.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "base/progress.h"

namespace attnlab::train {

class TrainLog {
 public:
  // Appends to `path` (a resumed run continues its log).
  TrainLog(const std::filesystem::path& path, attnlab::Progress& progress);
  void line(const std::string& text);

 private:
  std::ofstream file_;
  attnlab::Progress& progress_;
};

}  // namespace attnlab::train
