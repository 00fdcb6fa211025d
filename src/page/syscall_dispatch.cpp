#include "page/engine_internal.hpp"

namespace hwbp::page::detail {

void on_first_arm() {}
void watches_changed() {}

}  // namespace hwbp::page::detail
