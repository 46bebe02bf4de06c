// The export's tensor naming contract: stable, documented names for the model's weights
// (docs/export.md), independent of the C++ module names, which may change. Derived from
// the module tree by fixed rules; a parameter or buffer no rule covers is an error, so a new
// module cannot leak into an export under an undocumented name.
//
//   embed.weight                      [V,C]  token embedding (shared by encoder and decoder)
//   pos_embed.weight                  [T,C]  learned input positions (model.positions=learned)
//   encoder.pos_embed.weight          [S,C]  the encoder's learned positions (encoder_decoder)
//   encoder.layers.<i>.<block>               encoder blocks (encoder_decoder)
//   encoder.final_norm.{weight,bias}
//   layers.<i>.<block>                       decoder (or only) blocks
//   final_norm.{weight,bias}, head.{weight,bias}
// <block> (i is the block's depth in its stack, differential attention's λ_init reads it):
//   attention_norm, cross_norm, mlp_norm .{weight,bias}        LayerNorms (pre-LN)
//   self_attention.qkv.{weight,bias}    [C+2GD,C]  rows: queries (H heads), keys, values (G heads
//                                                  each, variant.kv_heads; heads contiguous)
//   self_attention.out.{weight,bias}    [C,C]
//   cross_attention.q.{weight,bias}     [C,C]   queries from the decoder
//   cross_attention.kv.{weight,bias}    [2GD,C] rows: keys, values (from the encoder's output)
//   cross_attention.out.{weight,bias}   [C,C]
//   <attention>.score.<name>                    the score's own parameters (additive:
//                                               query_projection, key_projection [H,d,A],
//                                               vector [H,A])
//   <attention>.position.<name>                 the position scheme's own parameters (t5: table
//                                               [K,H], K = variant.t5_buckets)
//   <attention>.qk_norm.{query_scale,key_scale}   [d]  rms and layer QK-norm's learned scales
//   <attention>.normaliser.logits               [H]  the sink's logit per head (also when fixed)
//   <attention>.mixer.lambda_{q1,k1,q2,k2}      [d]  differential attention's λ vectors
//   <attention>.mixer.norm_scale                [D]  differential attention's per-head RMSNorm
//   <attention>.gate.projection.{weight,bias}   [H,C], [H] (head gate) or [HD,C], [HD] (element)
//   mlp.fc1.{weight,bias} [4C,C], mlp.fc2.{weight,bias} [C,4C]   GELU between them
// D = C / H; d = the score's head dimension: D, or D / 2 under variant.mixer = differential.
#pragma once

#include <string>
#include <vector>

#include "experiments/export/safetensors_writer.h"
#include "experiments/model/transformer.h"

namespace attnlab::exporting {

// The contract name of a module path as named_parameters() spells it
// ("blocks.0.attention.query_key_value.weight" -> "layers.0.self_attention.qkv.weight").
// Throws ExportError for a path no rule covers.
std::string tensor_name(const std::string& module_path);

// Every parameter and buffer of the model under its contract name.
std::vector<NamedTensor> named_weights(const model::TransformerImpl& model);

}  // namespace attnlab::exporting
