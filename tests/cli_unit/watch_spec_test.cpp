// The watch-spec parser shared by the hwbp subcommands: every accepted form and every message.
#include <gtest/gtest.h>

#include <string>

#include "watch_spec.hpp"
#include "hwbp/error.hpp"

namespace hwbp::cli {
namespace {

using namespace hwbp::core;

// The one-line message parse_watch_spec throws for `text` ("" if it parses).
std::string error_of(const std::string& text) {
  try {
    parse_watch_spec(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_request);
    return e.what();
  }
  return "";
}

TEST(WatchSpec, AddressLenAccess) {
  const WatchSpec s = parse_watch_spec("0x1003:13:w");
  EXPECT_EQ(s.kind, WatchSpec::Kind::address);
  EXPECT_EQ(s.addr, 0x1003u);
  EXPECT_EQ(s.len, 13u);
  EXPECT_TRUE(s.len_given);
  EXPECT_EQ(s.access, Access::write);
  EXPECT_FALSE(s.perf_form);
  EXPECT_EQ(s.text, "0x1003:13:w");
}

TEST(WatchSpec, AddressDefaultsToEightBytesModify) {
  const WatchSpec s = parse_watch_spec("0x1000");
  EXPECT_EQ(s.len, kDefaultAddressLen);
  EXPECT_FALSE(s.len_given);
  EXPECT_EQ(s.access, Access::modify);
}

TEST(WatchSpec, SecondFieldIsLengthOrAccess) {
  EXPECT_EQ(parse_watch_spec("0x1000:0x10").len, 16u);
  EXPECT_EQ(parse_watch_spec("0x1000:0x10").access, Access::modify);
  const WatchSpec s = parse_watch_spec("0x1000:rw");
  EXPECT_EQ(s.access, Access::read_write);
  EXPECT_EQ(s.len, 8u);
}

TEST(WatchSpec, EveryAccessName) {
  EXPECT_EQ(parse_watch_spec("0x1000:4:modify").access, Access::modify);
  EXPECT_EQ(parse_watch_spec("0x1000:4:w").access, Access::write);
  EXPECT_EQ(parse_watch_spec("0x1000:4:rw").access, Access::read_write);
  EXPECT_EQ(parse_watch_spec("0x1000:4:r").access, Access::read);
  EXPECT_EQ(parse_watch_spec("0x1000:1:x").access, Access::exec);
  EXPECT_EQ(parse_watch_spec("0x1000:4:write").access, Access::write);
}

TEST(WatchSpec, ExecDefaultsToOneByte) {
  EXPECT_EQ(parse_watch_spec("0x401000:x").len, 1u);
  EXPECT_EQ(parse_watch_spec("main:x").len, 1u);
  EXPECT_EQ(parse_watch_spec("main:1:x").len, 1u);
}

// Issue 12: "counter:8:x" was silently a 1-byte execute watch.
TEST(WatchSpec, ExecRefusesALength) {
  EXPECT_EQ(error_of("counter:8:x"), "watch spec 'counter:8:x': an execute watch covers one "
                                     "instruction, so it takes no length; drop ':8' (e.g. counter:x)");
  EXPECT_NE(error_of("0x401000:4:exec"), "");
  EXPECT_EQ(parse_watch_spec("mem:0x401000/8:x").len, 8u);  // perf's form: perf's meaning
}

TEST(WatchSpec, SymbolAndOffset) {
  WatchSpec s = parse_watch_spec("counter");
  EXPECT_EQ(s.kind, WatchSpec::Kind::symbol);
  EXPECT_EQ(s.symbol, "counter");
  EXPECT_EQ(s.offset, 0u);
  EXPECT_EQ(s.len, 0u);  // the symbol's own size, decided by the resolver
  EXPECT_FALSE(s.len_given);
  s = parse_watch_spec("table+0x10:4:w");
  EXPECT_EQ(s.symbol, "table");
  EXPECT_EQ(s.offset, 16u);
  EXPECT_EQ(s.len, 4u);
  EXPECT_EQ(s.access, Access::write);
  EXPECT_EQ(parse_watch_spec("table+24").offset, 24u);
}

// Expressions over DWARF types: parsed (syntax) here, given a meaning in the program later.
TEST(WatchSpec, ExpressionsKeepTheirTailFieldsAndMayHoldSpaces) {
  WatchSpec s = parse_watch_spec("cfg.retries");
  EXPECT_EQ(s.kind, WatchSpec::Kind::expression);
  EXPECT_EQ(s.symbol, "cfg.retries");
  EXPECT_EQ(s.len, 0u);  // the type's size, decided by the resolver
  EXPECT_TRUE(s.by_name());
  s = parse_watch_spec("(struct foo *)0x1000:8:w");
  EXPECT_EQ(s.kind, WatchSpec::Kind::expression);
  EXPECT_EQ(s.symbol, "(struct foo *)0x1000");
  EXPECT_EQ(s.len, 8u);
  EXPECT_EQ(s.access, Access::write);
  s = parse_watch_spec("*(ns::T *)0x10:rw");
  EXPECT_EQ(s.symbol, "*(ns::T *)0x10");
  EXPECT_EQ(s.access, Access::read_write);
  EXPECT_EQ(parse_watch_spec("head->next->value:w").symbol, "head->next->value");
  EXPECT_EQ(parse_watch_spec("&grid[2][3]").symbol, "&grid[2][3]");
  EXPECT_FALSE(parse_watch_spec("0x1000").by_name());
}

TEST(WatchSpec, CompilerLocalNamesAreSymbolsNotMembers) {
  WatchSpec s = parse_watch_spec("count.0:4");  // GCC's name for a function-local static
  EXPECT_EQ(s.kind, WatchSpec::Kind::symbol);
  EXPECT_EQ(s.symbol, "count.0");
}

TEST(WatchSpec, BadExpressionsSayWhere) {
  try {
    parse_watch_spec("cfg.:4");
    FAIL() << "expected an error";
  } catch (const hwbp::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "watch spec 'cfg.:4': expression 'cfg.': expected a member name after '.' at offset 4");
  }
}

TEST(WatchSpec, CxxNamesStayWhole) {
  WatchSpec s = parse_watch_spec("ns::Cls::member:8:rw");
  EXPECT_EQ(s.symbol, "ns::Cls::member");
  EXPECT_EQ(s.len, 8u);
  EXPECT_EQ(s.access, Access::read_write);
  s = parse_watch_spec("operator+");
  EXPECT_EQ(s.symbol, "operator+");
  EXPECT_EQ(s.offset, 0u);
}

TEST(WatchSpec, PerfForm) {
  WatchSpec s = parse_watch_spec("mem:0x1000");
  EXPECT_TRUE(s.perf_form);
  EXPECT_EQ(s.addr, 0x1000u);
  EXPECT_EQ(s.len, kPerfDefaultLen);
  EXPECT_FALSE(s.len_given);
  EXPECT_EQ(s.access, Access::read_write);
  s = parse_watch_spec("mem:0x2000/8:w");
  EXPECT_EQ(s.len, 8u);
  EXPECT_EQ(s.access, Access::write);
  EXPECT_EQ(parse_watch_spec("mem:4096:r").access, Access::read);
  EXPECT_EQ(parse_watch_spec("mem:4096:r").addr, 4096u);  // perf takes decimal too
  EXPECT_EQ(parse_watch_spec("mem:0x1000:wr").access, Access::read_write);
  const WatchSpec x = parse_watch_spec("mem:0x401000:x");
  EXPECT_EQ(x.access, Access::exec);
  EXPECT_EQ(x.len, 1u);
}

TEST(WatchSpec, Errors) {
  const char* form = "the form is LOCATION[:LEN][:ACCESS], e.g. 0x1000:8:w";
  EXPECT_EQ(error_of(""), std::string("watch spec '': empty; ") + form);
  EXPECT_EQ(error_of("0x1 0"), "watch spec '0x1 0': contains whitespace; write it as one word, e.g. 0x1000:8:w");
  EXPECT_EQ(error_of("a\nb"), "watch spec 'a\\x0ab': contains whitespace; write it as one word, e.g. 0x1000:8:w");
  EXPECT_EQ(error_of("0x1:2:w:r"), std::string("watch spec '0x1:2:w:r': too many ':' fields; ") + form);
  EXPECT_EQ(error_of(":8"), "watch spec ':8': no location; start with an address (0x...) or a symbol name");
  EXPECT_EQ(error_of("0x10::w"),
            std::string("watch spec '0x10::w': empty field after ':'; remove the extra ':' (") + form + ")");
  EXPECT_EQ(error_of("0x10:"),
            std::string("watch spec '0x10:': empty field after ':'; remove the extra ':' (") + form + ")");
  EXPECT_EQ(error_of("4096:8"), 
            "watch spec '4096:8': address '4096' has no 0x prefix; addresses are hex: write 0x4096, "
            "or 0x1000 if 4096 is decimal");
  EXPECT_EQ(error_of("0x1g"), "watch spec '0x1g': address '0x1g' is not a hex number; write 0x followed by hex digits");
  EXPECT_EQ(error_of("0x"), "watch spec '0x': address '0x' is not a hex number; write 0x followed by hex digits");
  EXPECT_EQ(error_of("0x10000000000000000"),
            "watch spec '0x10000000000000000': address '0x10000000000000000' does not fit in 64 bits");
  EXPECT_EQ(error_of("0x10:zz:w"),
            "watch spec '0x10:zz:w': length 'zz' is not a number; pass a byte count such as 8 or 0x10");
  EXPECT_EQ(error_of("0x10:99999999999999999999"),
            "watch spec '0x10:99999999999999999999': length '99999999999999999999' does not fit in 64 bits");
  EXPECT_EQ(error_of("0x10:0"), "watch spec '0x10:0': length 0 watches nothing; pass at least 1 byte");
  EXPECT_EQ(error_of("0x10:8:q"), "watch spec '0x10:8:q': access 'q' is not one of modify, w, rw, r, x");
  EXPECT_EQ(error_of("0x10:zz"),
            "watch spec '0x10:zz': 'zz' is neither a length nor an access; pass LEN (e.g. 8) or "
            "ACCESS (modify, w, rw, r, x)");
  EXPECT_EQ(error_of("tbl+0x10000000000000000"),
            "watch spec 'tbl+0x10000000000000000': offset '0x10000000000000000' does not fit in 64 bits");
}

TEST(WatchSpec, PerfErrors) {
  EXPECT_EQ(error_of("mem:"), "watch spec 'mem:': no address after 'mem:'; e.g. mem:0x1000/8:w");
  EXPECT_EQ(error_of("mem:/8"), "watch spec 'mem:/8': no address after 'mem:'; e.g. mem:0x1000/8:w");
  EXPECT_EQ(error_of("mem:counter"),
            "watch spec 'mem:counter': perf's mem: form takes a numeric address, not 'counter'; use "
            "NAME[:LEN][:ACCESS] for a symbol");
  EXPECT_EQ(error_of("mem:0x10000000000000000"),
            "watch spec 'mem:0x10000000000000000': address '0x10000000000000000' does not fit in 64 bits");
  EXPECT_EQ(error_of("mem:0x1000:w:r"),
            "watch spec 'mem:0x1000:w:r': too many ':' fields; the perf form is mem:ADDR[/LEN][:ACCESS]");
  EXPECT_EQ(error_of("mem:0x1000:"),
            "watch spec 'mem:0x1000:': empty access after ':'; pass r, w, x or rw, or drop the ':'");
  EXPECT_EQ(error_of("mem:0x1000:rx"),
            "watch spec 'mem:0x1000:rx': perf access 'rx': x cannot be combined with r or w (a "
            "breakpoint either executes or accesses data); pick one");
  EXPECT_EQ(error_of("mem:0x1000:modify"),
            "watch spec 'mem:0x1000:modify': perf access 'modify' is not one of r, w, x, rw");
  EXPECT_EQ(error_of("mem:0x1000/abc"),
            "watch spec 'mem:0x1000/abc': length 'abc' is not a number; pass a byte count such as 8 or 0x10");
  EXPECT_EQ(error_of("mem:0x1000/0"), "watch spec 'mem:0x1000/0': length 0 watches nothing; pass at least 1 byte");
}

TEST(WatchSpec, RequestCarriesAddressLenAccess) {
  const WatchRequest r = parse_watch_spec("0x1003:13:w").request();
  EXPECT_EQ(r.addr, 0x1003u);
  EXPECT_EQ(r.len, 13u);
  EXPECT_EQ(r.access, Access::write);
}

// --break LOCATION: an execute watch of one instruction; FILE:LINE kept for the symbols layer.
std::string break_error_of(const std::string& text) {
  try {
    parse_break_spec(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_request);
    return e.what();
  }
  return "";
}

TEST(BreakSpec, NamesAddressesAndLines) {
  const WatchSpec f = parse_break_spec("ns::load_config");
  EXPECT_EQ(f.kind, WatchSpec::Kind::symbol);
  EXPECT_EQ(f.symbol, "ns::load_config");
  EXPECT_EQ(f.access, Access::exec);
  EXPECT_EQ(f.len, 1u);
  EXPECT_EQ(f.text, "ns::load_config:x");
  const WatchSpec o = parse_break_spec("main+0x10");
  EXPECT_EQ(o.symbol, "main");
  EXPECT_EQ(o.offset, 0x10u);
  const WatchSpec a = parse_break_spec("0x401000");
  EXPECT_EQ(a.kind, WatchSpec::Kind::address);
  EXPECT_EQ(a.addr, 0x401000u);
  EXPECT_EQ(a.access, Access::exec);
  const WatchSpec l = parse_break_spec("src/prog.c:42");
  EXPECT_EQ(l.kind, WatchSpec::Kind::source_line);
  EXPECT_EQ(l.file, "src/prog.c");
  EXPECT_EQ(l.line, 42);
  EXPECT_EQ(l.access, Access::exec);
  EXPECT_EQ(l.len, 1u);
  EXPECT_EQ(l.text, "src/prog.c:42:x");
  EXPECT_TRUE(l.by_name());  // resolved again after an execve
}

TEST(BreakSpec, BadLocationsSayTheForms) {
  EXPECT_EQ(break_error_of(""), "--break '': empty; the forms are NAME, NAME+OFF, FILE:LINE and 0xADDR");
  EXPECT_EQ(break_error_of("main:w"),
            "--break 'main:w': 'w' is not a line number; the forms are NAME, NAME+OFF, FILE:LINE and 0xADDR "
            "(a breakpoint takes no length or access)");
  EXPECT_EQ(break_error_of("prog.c:0"), "--break 'prog.c:0': line 0 does not exist; lines count from 1");
  EXPECT_EQ(break_error_of("0x1000:8"),
            "--break '0x1000:8': an address takes no ':' field; the forms are NAME, NAME+OFF, FILE:LINE and 0xADDR");
  EXPECT_EQ(break_error_of("cfg.retries"),
            "--break 'cfg.retries': an expression names data, not code; the forms are NAME, NAME+OFF, FILE:LINE "
            "and 0xADDR (watch data with --watch)");
  EXPECT_NE(break_error_of("4096").find("has no 0x prefix"), std::string::npos);
  EXPECT_NE(break_error_of("a b").find("contains whitespace"), std::string::npos);
}

}  // namespace
}  // namespace hwbp::cli
