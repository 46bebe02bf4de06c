#include "experiments/train/train_log.h"

#include "experiments/run/run_dir.h"

namespace attnlab::train {

TrainLog::TrainLog(const std::filesystem::path& path, attnlab::Progress& progress)
    : file_(path, std::ios::app), progress_(progress) {}

void TrainLog::line(const std::string& text) {
  // Flushed at once, so that the log of a run that is killed ends with its last line.
  file_ << run::timestamp_now() << "  " << text << "\n";
  file_.flush();
  progress_.message(text);
}

}  // namespace attnlab::train
