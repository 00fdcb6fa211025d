// A refused engine choice (core::choose_engine) in the command line's terms: core says what is
// wrong, this adds what to do with hwbp's options (--engine, --flexible). The library phrases
// the same remedies in API terms (src/inprocess/registry.cpp).
#pragma once

#include <string>

#include "core/engine_choice.hpp"

namespace hwbp::cli {

std::string refusal_with_options(const core::EngineChoice& choice);

}  // namespace hwbp::cli
