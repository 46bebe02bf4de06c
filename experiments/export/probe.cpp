#include "experiments/export/probe.h"

#include <fmt/format.h>
#include <torch/utils.h>

#include "experiments/export/run_export.h"

namespace attnlab::exporting {

Probe run_probe(model::Transformer& model, const tasks::Task& task, std::int64_t samples) {
  const auto available = task.split_size(tasks::Split::Val);
  if (samples < 1 || samples > available) {
    throw ExportError(fmt::format("--probe {}: must be between 1 and the validation set's size, {}",
                                  samples, available));
  }
  const auto batch = task.examples(tasks::Split::Val, /*first=*/0, samples);
  torch::NoGradGuard no_grad;
  model->eval();
  const auto device = model->parameters().front().device();
  model::AttentionTap tap;  // requesting probabilities selects the plain path
  const auto source = batch.source.defined() ? batch.source.to(device) : batch.source;
  const auto logits = model->forward(batch.inputs.to(device), &tap, source);

  Probe probe;
  probe.tensors.push_back({"inputs", batch.inputs});
  if (batch.source.defined()) probe.tensors.push_back({"source", batch.source});
  probe.tensors.push_back({"logits", logits.to(torch::kFloat)});
  std::string kinds, map_kinds;
  for (std::size_t index = 0; index < tap.captures.size(); ++index) {
    const auto& capture = tap.captures[index];
    probe.tensors.push_back({fmt::format("probs.{:02}", index), capture.probs.to(torch::kFloat)});
    const auto* separator = index == 0 ? "" : ",";
    kinds += separator + capture.kind;
    map_kinds += separator + std::string(variants::map_kind_name(capture.map_kind));
  }
  probe.metadata = {{"format", "attnlab.probe"},
                    {"format_version", kExportFormatVersion},
                    {"split", "val"},
                    {"examples", fmt::format("0-{}", samples - 1)},
                    {"layers", kinds},
                    {"map_kinds", map_kinds}};
  return probe;
}

}  // namespace attnlab::exporting
