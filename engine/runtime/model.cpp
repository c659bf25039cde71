#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <system_error>
#include <thread>
#include <utility>

#include "engine/runtime/model_impl.hpp"
#include "kernels/kernels.hpp"
#include "qwenedge/error.hpp"
#include "tokenizer/chat_template.hpp"

namespace qwenedge {

using namespace detail;  // the engine's internals
namespace {


}  // namespace

int physical_cores() {
  // Distinct (package, core) pairs of the online CPUs; SMT siblings count once.
  std::set<std::pair<std::string, std::string>> cores;
  for (unsigned cpu = 0; cpu < 4096; ++cpu) {
    const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    std::ifstream core(base + "core_id"), pkg(base + "physical_package_id");
    if (!core) {
      if (cpu > 0) break;
      continue;
    }
    std::string c, p;
    core >> c;
    pkg >> p;
    cores.emplace(p, c);
  }
  const auto logical = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (cores.empty()) return logical;
  return std::clamp(static_cast<int>(cores.size()), 1, logical);
}

Model Model::load(const std::string& path, const LoadOptions& options) {
  if (options.threads < 0 || options.threads > 1024) {
    throw Error(ErrorCode::kInvalidArgument, "threads = " + std::to_string(options.threads) + " (expected 0..1024, 0 = all cores)");
  }
  if (options.context < 0) {
    throw Error(ErrorCode::kInvalidArgument, "context = " + std::to_string(options.context) + " (expected at least 1; 0 = default)");
  }
  const kernels::KernelTable* kernels = nullptr;
  try {
    kernels = &kernels::active_kernels();  // resolves QWENEDGE_ISA once, before any work
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInvalidArgument, e.what());
  }
  LoadedModel loaded = load_model(path);
  if (options.context > loaded.config.context_length) {
    throw Error(ErrorCode::kInvalidArgument, "context " + std::to_string(options.context) + " is larger than the model allows (" +
                                                 std::to_string(loaded.config.context_length) + " positions)");
  }
  if (options.prefetch) loaded.file.prefetch();
  LoadOptions resolved = options;
  if (resolved.threads == 0) resolved.threads = physical_cores();
  if (resolved.context == 0) resolved.context = std::min<int64_t>(4096, loaded.config.context_length);
  std::shared_ptr<const tokenizer::Tokenizer> tok;
  prepare_weights(loaded, *kernels, resolved.threads, options.prefetch,
                  [&] { tok = std::make_shared<const tokenizer::Tokenizer>(loaded.vocab); });

  ModelInfo info;
  info.path = path;
  info.name = loaded.file.find("general.name") ? std::string(loaded.file.get_string("general.name"))
                                               : std::filesystem::path(path).filename().string();
  info.architecture = "qwen2";
  info.weight_type = gguf::tensor_type_name(loaded.weights.layers.front().w_gate.type);
  const ModelConfig& c = loaded.config;
  info.vocab_size = c.vocab_size;
  info.hidden = c.hidden;
  info.layers = c.n_layers;
  info.heads = c.n_heads;
  info.kv_heads = c.n_kv_heads;
  info.ffn = c.ffn;
  info.context_length = c.context_length;
  for (const gguf::TensorInfo& t : loaded.file.tensors()) info.parameters += t.elements();
  info.file_bytes = loaded.file.file_size();
  auto matrix_bytes = [](const WeightView& w) { return static_cast<uint64_t>(w.rows) * w.row_bytes; };
  info.decode_bytes = matrix_bytes(loaded.weights.output);
  for (const LayerWeights& l : loaded.weights.layers) {
    for (const WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) info.decode_bytes += matrix_bytes(*w);
  }
  info.eos_ids = loaded.generation.eos_ids;
  info.isa = std::string(kernels::isa_name(kernels->isa));
  info.warnings = loaded.generation.warnings;

  auto impl = std::make_shared<detail::ModelImpl>(std::move(loaded), detail::TokenizerAccess::make(std::move(tok)), resolved,
                                                  std::move(info));
  return Model(std::move(impl));
}

const ModelInfo& Model::info() const { return impl_->info; }
const LoadOptions& Model::options() const { return impl_->options; }

const Tokenizer& Model::tokenizer() const { return impl_->public_tokenizer; }

std::vector<int32_t> Model::tokenize(std::string_view text, bool parse_special) const {
  return impl_->public_tokenizer.encode(text, parse_special);
}

std::string Model::detokenize(std::span<const int32_t> ids, bool skip_special) const {
  return impl_->public_tokenizer.decode(ids, skip_special);
}

std::string Model::render_chat(const std::vector<Message>& messages, bool add_generation_prompt,
                               const std::vector<std::string>& tools) const {
  return impl_->public_tokenizer.render_chat(messages, add_generation_prompt, tools);
}

}  // namespace qwenedge
