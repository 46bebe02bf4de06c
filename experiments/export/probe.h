// A probe: the model's outputs for fixed inputs, for checking another implementation against this
// one (scripts/reference.py). It runs the first `samples` validation examples through the model in
// eval mode on the plain attention path (the attention tap the recorder uses), and names:
//   inputs     int64 [B,T]          the (decoder's) input tokens
//   source     int64 [B,S]          the encoder's tokens (encoder_decoder only)
//   logits     float32 [B,T,V]      (or [B,K] for a classification head)
//   probs.<ll> float32 [B,H,Tq,Tk]  the attention map A of attention layer <ll> (two digits,
//                                   forward order as in attention.h5: encoder self-attention
//                                   layers, then per decoder block self- and cross-attention);
//                                   masked keys hold exact zeros
// Metadata `layers` lists each layer's kind ("self" or "cross"), `map_kinds` what each map is
// (variants/map_kind.h: distribution, partial, unnormalised, signed), comma-separated, in that
// order.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "experiments/export/safetensors_writer.h"
#include "experiments/model/transformer.h"
#include "experiments/tasks/task.h"

namespace attnlab::exporting {

struct Probe {
  std::vector<NamedTensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Throws ExportError when `samples` is not between 1 and the validation set's size.
Probe run_probe(model::Transformer& model, const tasks::Task& task, std::int64_t samples);

}  // namespace attnlab::exporting
