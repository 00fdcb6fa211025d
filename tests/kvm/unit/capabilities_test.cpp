// The probe's verdicts as typed errors: each missing piece of KVM names itself and says what it
// means and what to do (Capabilities::missing / describe), without a /dev/kvm.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "hwbp/kvm.hpp"

namespace hwbp::kvm {
namespace {

// Every feature a Capabilities reports in describe(), with a word its message must contain: the
// thing it lacks or the way out it names.
const std::vector<std::pair<Feature, std::string>>& features() {
  static const std::vector<std::pair<Feature, std::string>> all = {
      {Feature::api_version, "not 12"},
      {Feature::guest_debug, "KVM_SET_GUEST_DEBUG"},
      {Feature::block_irq, "Linux 5.15"},
      {Feature::debug_registers, "KVM_CAP_DEBUGREGS"},
      {Feature::readonly_memory, "use hardware watches"},
      {Feature::sync_registers, "Linux 4.17"},
      {Feature::data_hits, "write trapping"},
      {Feature::int3_exits, "use hardware breakpoints"},
      {Feature::general_detect_exits, "kvm_intel"},
      {Feature::trapped_stores, "use hardware watches"},
  };
  return all;
}

Capabilities everything() {
  Capabilities c;
  c.api_version = 12;
  c.guest_debug = c.block_irq = c.debug_registers = c.readonly_memory = c.sync_registers = true;
  c.backend = Backend::svm;
  c.module = "kvm_amd";
  c.guest_ran = c.data_hits = c.int3_exits = c.general_detect_exits = c.trapped_stores = true;
  return c;
}

TEST(KvmCapabilities, EachMissingFeatureIsItsOwnTypedError) {
  Capabilities none;
  none.backend = Backend::software;
  none.module = "kvm_pvm";
  none.api_version = 11;
  none.guest_error = "KVM_RUN failed";
  for (const auto& [feature, words] : features()) {
    SCOPED_TRACE(to_string(feature));
    EXPECT_FALSE(none.has(feature));
    const KvmError e = none.missing(feature);
    EXPECT_EQ(e.missing(), feature);
    EXPECT_EQ(e.code(), Errc::unsupported);
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    EXPECT_THROW(none.require(feature), KvmError);
  }
  // The measured features say why they could not be measured.
  EXPECT_NE(std::string(none.missing(Feature::data_hits).what()).find("KVM_RUN failed"), std::string::npos);
}

TEST(KvmCapabilities, DescribeHasOneLinePerFeature) {
  const Capabilities all = everything();
  Capabilities no_data = all;
  no_data.data_hits = false;
  const std::string ok = all.describe(), partly = no_data.describe();
  for (const auto& [feature, words] : features()) {
    SCOPED_TRACE(to_string(feature));
    EXPECT_TRUE(all.has(feature));
    EXPECT_NO_THROW(all.require(feature));
    EXPECT_NE(ok.find(std::string("ok  ") + to_string(feature) + "\n"), std::string::npos) << ok;
  }
  EXPECT_NE(partly.find(std::string("no  ") + to_string(Feature::data_hits) + ": "), std::string::npos)
      << partly;
  EXPECT_EQ(partly.find(std::string("ok  ") + to_string(Feature::data_hits)), std::string::npos);
}

}  // namespace
}  // namespace hwbp::kvm
