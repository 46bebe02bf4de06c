#include "dump/dump_reader.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <utility>

#include "dump/child_process.h"

namespace attnlab::dump {
namespace {

// Values in one map of the layer, Tq * Tk (DumpFile checked both positive and, when the file has
// maps, bounded by its size).
std::uint64_t map_values(const LayerInfo& info) {
  return static_cast<std::uint64_t>(info.query_length) *
         static_cast<std::uint64_t>(info.key_length);
}

// The requests the child answers, one per DumpFile accessor.
enum class Request : std::uint8_t {
  open,
  string_attribute,
  int_attribute,
  has,
  map,
  statistic,
  allowed_keys,
  probe,
  probe_text,
  probe_loss,
};

// The order in which a map request reads the [samples, heads] maps of one layer and snapshot:
// heads fastest (all heads of sample 0, then of sample 1, ...) or samples fastest.
enum class MapOrder : std::uint8_t { heads_fastest, samples_fastest };

// Position of the map of (sample, head) in `order`, and back.
std::int64_t position_of(MapOrder order, std::int64_t sample, std::int64_t head,
                         std::int64_t samples, std::int64_t heads) {
  return order == MapOrder::heads_fastest ? sample * heads + head : head * samples + sample;
}

std::pair<std::int64_t, std::int64_t> map_at(MapOrder order, std::int64_t position,
                                             std::int64_t samples, std::int64_t heads) {
  if (order == MapOrder::heads_fastest) return {position / heads, position % heads};
  return {position % samples, position / samples};
}

// How the child ended a request: the rest of the reply is the result, or the error's message.
enum class Outcome : std::uint8_t { done, dump_error, out_of_range, other_error };

template <typename T>
void put_array(MessageWriter& out, const Array<T>& array) {
  out.put(array.shape).put(array.values);
}

template <typename T>
Array<T> get_array(MessageReader& in) {
  Array<T> array;
  array.shape = in.get_vector<std::int64_t>();
  array.values = in.get_vector<T>();
  return array;
}

// The child's side: one DumpFile, opened by the first request. Maps are left in `shared`.
std::string answer(const std::filesystem::path& path, std::unique_ptr<DumpFile>& file,
                   const std::string& request, SharedBuffer& shared) {
  MessageWriter out;
  out.put(Outcome::done);
  try {
    MessageReader in(request);
    const auto kind = in.get<Request>();
    if (kind == Request::open) {
      file = std::make_unique<DumpFile>(path, DumpFile::Sharing::never);
      out.put(file->schema_version()).put(file->samples()).put(file->heads());
      out.put(file->has_maps()).put(file->has_importance()).put(file->map_element_bytes());
      out.put(file->steps()).put<std::uint64_t>(file->layers().size());
      for (const auto& layer : file->layers()) {
        out.put(layer.index).put(layer.kind).put(layer.role).put(layer.causal).put(layer.heads);
        out.put(layer.query_length).put(layer.key_length).put(layer.map_kind);
      }
      return out.take();
    }
    if (!file) throw std::logic_error("the dump is not open");
    switch (kind) {
      case Request::string_attribute:
        out.put(file->string_attribute(in.get_string().c_str()));
        break;
      case Request::int_attribute:
        out.put(file->int_attribute(in.get_string().c_str()));
        break;
      case Request::has:
        out.put(file->has(in.get_string()));
        break;
      case Request::map: {
        // `count` maps of one layer and snapshot, from (sample, head) on in the given order.
        const auto layer = in.get<std::int64_t>();
        const auto snapshot = in.get<std::int64_t>();
        const auto sample = in.get<std::int64_t>();
        const auto head = in.get<std::int64_t>();
        const auto count = in.get<std::int64_t>();
        const auto order = in.get<MapOrder>();
        const auto& layers = file->layers();
        if (count < 1) throw std::logic_error("a map request for no maps");
        if (layer < 0 || layer >= static_cast<std::int64_t>(layers.size()) || !file->has_maps()) {
          file->map(layer, snapshot, sample, head);  // throws, naming the layer or the lack of maps
        }
        const auto& info = layers[static_cast<std::size_t>(layer)];
        const auto size = map_values(info);
        auto* values = reinterpret_cast<float*>(
            shared.map((size * static_cast<std::uint64_t>(count) + 1) * sizeof(float), true));
        // The first map as asked (DumpFile checks the bounds), the rest by position. A map read
        // ahead that fails ends the run there: it is reported when it is asked for itself.
        file->map_into(layer, snapshot, sample, head, values);
        const auto first = position_of(order, sample, head, file->samples(), info.heads);
        std::int64_t read = 1;
        try {
          for (; read < count; ++read) {
            const auto [next_sample, next_head] =
                map_at(order, first + read, file->samples(), info.heads);
            file->map_into(layer, snapshot, next_sample, next_head, values + read * size);
          }
        } catch (const DumpError&) {
        }
        out.put(size).put(read);
        break;
      }
      case Request::statistic: {
        const auto layer = in.get<std::int64_t>();
        put_array(out, file->statistic(layer, in.get_string()));
        break;
      }
      case Request::allowed_keys:
        put_array(out, file->allowed_keys(in.get<std::int64_t>()));
        break;
      case Request::probe:
        put_array(out, file->probe(in.get_string()));
        break;
      case Request::probe_text: {
        const auto text = file->probe_text(in.get_string());
        out.put(text.shape).put<std::uint64_t>(text.values.size());
        for (const auto& value : text.values) out.put(value);
        break;
      }
      case Request::probe_loss:
        out.put(file->probe_loss());
        break;
      case Request::open:
        break;
    }
    return out.take();
  } catch (const DumpError& error) {
    return MessageWriter().put(Outcome::dump_error).put(std::string(error.what())).take();
  } catch (const std::out_of_range& error) {
    return MessageWriter().put(Outcome::out_of_range).put(std::string(error.what())).take();
  } catch (const std::exception& error) {
    return MessageWriter()
        .put(Outcome::other_error)
        .put("attention dump " + path.string() + ": " + error.what())
        .take();
  }
}

std::chrono::milliseconds reply_limit() {
  constexpr const char* kVariable = "ATTNLAB_DUMP_READ_SECONDS";
  const char* text = std::getenv(kVariable);
  if (text == nullptr || *text == '\0') return std::chrono::seconds(300);
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  if (*end != '\0' || !(seconds >= 0.001) || seconds > 1e6) {
    throw std::invalid_argument(std::string(kVariable) + "=" + text +
                                ": expected a number of seconds from 0.001 to 1e6");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
}

MessageWriter request(Request kind) { return std::move(MessageWriter().put(kind)); }

// Reads the result from a reply that DumpReader::ask has checked.
template <typename Read>
auto result(const std::string& reply, Read&& read) {
  MessageReader in(reply);
  in.get<Outcome>();
  return read(in);
}

}  // namespace

DumpReader::DumpReader(const std::filesystem::path& path) : DumpOutline(path) {
  if (!std::filesystem::exists(path_)) throw DumpError(context() + ": no such file");
  auto file = std::make_shared<std::unique_ptr<DumpFile>>();
  child_ = std::make_unique<ChildProcess>(
      [path, file](const std::string& message, SharedBuffer& shared) {
        return answer(path, *file, message, shared);
      },
      reply_limit());
  const auto reply = ask(request(Request::open).take());
  MessageReader in(reply);
  in.get<Outcome>();  // done: ask() throws on the others
  schema_version_ = in.get<std::int64_t>();
  samples_ = in.get<std::int64_t>();
  heads_ = in.get<std::int64_t>();
  has_maps_ = in.get<bool>();
  has_importance_ = in.get<bool>();
  map_element_bytes_ = in.get<std::size_t>();
  steps_ = in.get_vector<std::int64_t>();
  layers_.resize(in.get<std::uint64_t>());
  for (auto& layer : layers_) {
    layer.index = in.get<std::int64_t>();
    layer.kind = in.get_string();
    layer.role = in.get<LayerRole>();
    layer.causal = in.get<bool>();
    layer.heads = in.get<std::int64_t>();
    layer.query_length = in.get<std::int64_t>();
    layer.key_length = in.get<std::int64_t>();
    layer.map_kind = in.get_string();
  }
}

std::uint64_t DumpReader::map_size(std::int64_t layer) const {
  return map_values(layers_[static_cast<std::size_t>(layer)]);
}

DumpReader::~DumpReader() = default;

std::string DumpReader::context() const { return "attention dump " + path_.string(); }

std::string DumpReader::ask(const std::string& message) const {
  std::string reply;
  try {
    reply = child_->call(message);
  } catch (const ChildProcess::Failure& failure) {
    switch (failure.kind) {
      case ChildProcess::Failure::Kind::crashed:
        throw DumpError(context() + ": the file is damaged: the HDF5 library crashed reading it (" +
                        failure.what() + ")");
      case ChildProcess::Failure::Kind::hung:
        throw DumpError(context() + ": the file is damaged: the HDF5 library " + failure.what() +
                        " (ATTNLAB_DUMP_READ_SECONDS)");
      case ChildProcess::Failure::Kind::interrupted:
        throw std::runtime_error(context() + ": reading it was interrupted (" + failure.what() +
                                 ")");
    }
  }
  MessageReader in(reply);
  const auto outcome = in.get<Outcome>();
  if (outcome == Outcome::done) return reply;
  const auto what = in.get_string();  // a short reply throws std::logic_error: a bug, not the file
  if (outcome == Outcome::dump_error) throw DumpError(what);
  if (outcome == Outcome::out_of_range) throw std::out_of_range(what);
  throw std::runtime_error(what);
}

std::string DumpReader::string_attribute(const char* name) const {
  return result(ask(request(Request::string_attribute).put(std::string(name)).take()),
                [](MessageReader& in) { return in.get_string(); });
}

std::int64_t DumpReader::int_attribute(const char* name) const {
  return result(ask(request(Request::int_attribute).put(std::string(name)).take()),
                [](MessageReader& in) { return in.get<std::int64_t>(); });
}

bool DumpReader::has(const std::string& dataset_path) const {
  return result(ask(request(Request::has).put(dataset_path).take()),
                [](MessageReader& in) { return in.get<bool>(); });
}

std::vector<float> DumpReader::map(std::int64_t layer, std::int64_t snapshot, std::int64_t sample,
                                   std::int64_t head) const {
  // A round trip to the child costs about 0.1 ms on a virtual machine, more than decoding a
  // 128 x 128 map. Analysis walks the maps of one layer and snapshot in order, heads fastest (the
  // heads of a sample: a row) or samples fastest (the samples of a head), so a request that
  // continues such a walk has the child read ahead, up to kRunBytes, and map() serves the run
  // from shared memory without a round trip: to the end of the row, or to the end of the plane
  // once the walk has gone past a row (similarity reads one row at a time; the per-head pass
  // and the report whole planes). A request that starts a walk reads the rest of its row of
  // heads, up to kFirstRunBytes: a few maps decoded in vain when the walk goes along the
  // samples instead, none at all once maps are 1 MB or larger.
  constexpr std::uint64_t kRunBytes = 8 << 20, kFirstRunBytes = 1 << 20;
  const bool valid = has_maps_ && layer >= 0 && layer < static_cast<std::int64_t>(layers_.size()) &&
                     snapshot >= 0 && snapshot < snapshots() && sample >= 0 &&
                     sample < samples_ && head >= 0 &&
                     head < layers_[static_cast<std::size_t>(layer)].heads;
  const auto heads = valid ? layers_[static_cast<std::size_t>(layer)].heads : 1;
  const auto position = [&](MapOrder order, std::int64_t at_sample, std::int64_t at_head) {
    return position_of(order, at_sample, at_head, samples_, heads);
  };
  const auto order_of = [](bool heads_fastest) {
    return heads_fastest ? MapOrder::heads_fastest : MapOrder::samples_fastest;
  };
  const bool walking = valid && layer == last_.layer && snapshot == last_.snapshot;
  const auto follows = [&](MapOrder order) {
    return walking &&
           position(order, sample, head) == position(order, last_.sample, last_.head) + 1;
  };
  const bool samples_fastest = follows(MapOrder::samples_fastest);
  const bool continues = samples_fastest || follows(MapOrder::heads_fastest);
  streak_ = continues ? streak_ + 1 : 1;
  const auto in_run = position(order_of(run_.heads_fastest), sample, head) - run_.first;
  if (!valid || layer != run_.layer || snapshot != run_.snapshot || in_run < 0 ||
      in_run >= run_.count) {
    const auto order = order_of(!samples_fastest);
    std::int64_t count = 1;
    if (valid) {
      const auto map_bytes = map_size(layer) * sizeof(float);
      const auto fits = [&](std::uint64_t bytes) {
        return static_cast<std::int64_t>(std::max<std::uint64_t>(1, bytes / map_bytes));
      };
      const auto row = samples_fastest ? samples_ : heads;
      const auto row_left = samples_fastest ? samples_ - sample : heads - head;
      const auto plane_left = samples_ * heads - position(order, sample, head);
      // A walk's first map brings the rest of its row (heads fastest) when maps are small.
      count = continues ? std::min(fits(kRunBytes), streak_ > row ? plane_left : row_left)
                        : std::min(fits(kFirstRunBytes), row_left);
    }
    run_ = {layer, snapshot, position(order, sample, head), 0, order == MapOrder::heads_fastest, 0};
    const auto [size, read] = result(
        ask(request(Request::map).put(layer).put(snapshot).put(sample).put(head).put(count).put(order).take()),
        [](MessageReader& in) {
          const auto size = in.get<std::uint64_t>();
          return std::pair{size, in.get<std::int64_t>()};
        });
    // The parent maps and copies what the child says it wrote: it must be what was asked for.
    if (size != map_size(layer) || read < 1 || read > count) {
      throw DumpError(context() + ": the file is damaged: its reader returned " +
                      std::to_string(read) + " maps of " + std::to_string(size) +
                      " values for a request of " + std::to_string(count) + " of " +
                      std::to_string(map_size(layer)));
    }
    run_.size = size;
    run_.count = read;
  }
  last_ = {layer, snapshot, sample, head};
  const auto index = position(order_of(run_.heads_fastest), sample, head) - run_.first;
  const auto* shared = reinterpret_cast<const float*>(
      child_->shared().map((run_.size * static_cast<std::uint64_t>(run_.count) + 1) *
                               sizeof(float),
                           false)) +
                       static_cast<std::uint64_t>(index) * run_.size;
  std::vector<float> values(shared, shared + run_.size);
  map_bytes_read_ += values.size() * map_element_bytes_;
  return values;
}

Array<float> DumpReader::statistic(std::int64_t layer, const std::string& name) const {
  return result(ask(request(Request::statistic).put(layer).put(name).take()),
                [](MessageReader& in) { return get_array<float>(in); });
}

Array<std::int32_t> DumpReader::allowed_keys(std::int64_t layer) const {
  return result(ask(request(Request::allowed_keys).put(layer).take()),
                [](MessageReader& in) { return get_array<std::int32_t>(in); });
}

Array<std::int64_t> DumpReader::probe(const std::string& dataset_path) const {
  return result(ask(request(Request::probe).put(dataset_path).take()),
                [](MessageReader& in) { return get_array<std::int64_t>(in); });
}

Array<std::string> DumpReader::probe_text(const std::string& dataset_path) const {
  return result(ask(request(Request::probe_text).put(dataset_path).take()), [](MessageReader& in) {
    Array<std::string> text;
    text.shape = in.get_vector<std::int64_t>();
    const auto count = in.get<std::uint64_t>();
    for (std::uint64_t i = 0; i < count; ++i) text.values.push_back(in.get_string());
    return text;
  });
}

std::vector<double> DumpReader::probe_loss() const {
  return result(ask(request(Request::probe_loss).take()),
                [](MessageReader& in) { return in.get_vector<double>(); });
}

}  // namespace attnlab::dump
