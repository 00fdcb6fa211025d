#include "engine_refusal.hpp"

namespace hwbp::cli {

std::string refusal_with_options(const core::EngineChoice& choice) {
  switch (choice.remedy) {
    case core::EngineRemedy::none: return choice.refusal;
    case core::EngineRemedy::software_engine: return choice.refusal + ": use --engine page or auto";
    case core::EngineRemedy::drop_flexible: return choice.refusal + ": drop --flexible";
    case core::EngineRemedy::exec_privilege: return choice.refusal + ": run hwbp as root";
  }
  return choice.refusal;
}

}  // namespace hwbp::cli
