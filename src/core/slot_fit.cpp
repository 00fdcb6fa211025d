#include "core/slot_fit.hpp"

#include <algorithm>
#include <array>

namespace hwbp::core {

SlotFit fit_slots(const ArchInfo& arch, const WatchRequest& req, const SlotTable& table,
                  std::size_t max_chunks, const SlotKey& key) {
  SlotFit fit;
  std::array<Chunk, kMaxFitChunks> chunks;
  const std::size_t limit = std::min(max_chunks, kMaxFitChunks);
  fit.needed = split_range(arch, req, std::span(chunks.data(), limit));
  if (fit.needed > limit) return fit;
  for (std::size_t k = 0; k < fit.needed; ++k) {
    SlotKey k_key = key;
    k_key.chunk = chunks[k];
    fit.keys.push_back(k_key);
  }
  fit.plan = table.plan(fit.key_span()).plan;
  return fit;
}

}  // namespace hwbp::core
