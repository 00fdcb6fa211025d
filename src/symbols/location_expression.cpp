#include "symbols/location_expression.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <utility>
#include <vector>

#include "symbols/symbol_error.hpp"

namespace hwbp::symbols {
namespace {

struct Token {
  enum class Kind { id, number, punct, end };
  Kind kind = Kind::end;
  std::string text;
  std::uint64_t value = 0;
  std::size_t pos = 0;
};

constexpr std::array<std::string_view, 11> kTypeWords = {
    "void", "char", "short", "int", "long", "float", "double", "signed", "unsigned", "bool", "_Bool"};
constexpr std::array<std::string_view, 4> kTagKeywords = {"struct", "union", "enum", "class"};

bool is_type_word(std::string_view s) {
  return std::find(kTypeWords.begin(), kTypeWords.end(), s) != kTypeWords.end();
}
bool is_tag_keyword(std::string_view s) {
  return std::find(kTagKeywords.begin(), kTagKeywords.end(), s) != kTagKeywords.end();
}
bool is_qualifier(std::string_view s) { return s == "const" || s == "volatile"; }
bool is_id_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_id_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; }

[[noreturn]] void fail(std::string_view text, const std::string& what) {
  throw SymbolError(SymbolErrc::bad_spec, fmt::format("expression '{}': {}", text, what));
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  std::vector<Token> run() {
    std::vector<Token> out;
    while (true) {
      while (i_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[i_]))) ++i_;
      if (i_ >= text_.size()) break;
      out.push_back(next());
    }
    out.push_back({Token::Kind::end, "end of input", 0, text_.size()});
    return out;
  }

 private:
  Token next() {
    const std::size_t start = i_;
    const char c = text_[i_];
    if (is_id_start(c)) {
      while (i_ < text_.size() && is_id_char(text_[i_])) ++i_;
      return {Token::Kind::id, std::string(text_.substr(start, i_ - start)), 0, start};
    }
    if (std::isdigit(static_cast<unsigned char>(c))) return number(start);
    for (std::string_view p : {"->", "::"})
      if (text_.substr(i_, 2) == p) {
        i_ += 2;
        return {Token::Kind::punct, std::string(p), 0, start};
      }
    if (std::string_view(".[]()*&").find(c) != std::string_view::npos) {
      ++i_;
      return {Token::Kind::punct, std::string(1, c), 0, start};
    }
    fail(text_, fmt::format("unexpected '{}' at offset {}; expressions use . -> [N] * & and "
                            "casts such as (struct foo *)0x1000", c, start));
  }

  Token number(std::size_t start) {
    unsigned base = 10;
    if (text_.substr(i_, 2) == "0x" || text_.substr(i_, 2) == "0X") base = 16, i_ += 2;
    std::uint64_t v = 0;
    bool digits = false;
    while (i_ < text_.size() && std::isxdigit(static_cast<unsigned char>(text_[i_]))) {
      const char d = static_cast<char>(std::tolower(static_cast<unsigned char>(text_[i_])));
      const unsigned digit = std::isdigit(static_cast<unsigned char>(d)) ? unsigned(d - '0') : unsigned(d - 'a' + 10);
      if (digit >= base) break;
      if (v > (UINT64_MAX - digit) / base) fail(text_, "number does not fit in 64 bits");
      v = v * base + digit;
      digits = true;
      ++i_;
    }
    if (!digits || (i_ < text_.size() && is_id_char(text_[i_])))
      fail(text_, fmt::format("malformed number at offset {}; write decimal or 0x-hex", start));
    return {Token::Kind::number, std::string(text_.substr(start, i_ - start)), v, start};
  }

  std::string_view text_;
  std::size_t i_ = 0;
};

// C type words in one canonical spelling: "long unsigned int" -> "unsigned long".
std::string canonical_type_words(const std::vector<std::string>& words) {
  int longs = 0;
  std::string sign, base;
  bool is_short = false;
  for (const auto& w : words) {
    if (w == "long") ++longs;
    else if (w == "short") is_short = true;
    else if (w == "signed" || w == "unsigned") sign = w;
    else if (w == "_Bool") base = "bool";
    else if (w != "int" || base.empty()) base = w;
  }
  std::string size = is_short ? "short" : longs == 1 ? "long" : longs >= 2 ? "long long" : "";
  if (base == "int" && !size.empty()) base.clear();  // "long int" is "long"
  if (base.empty() && size.empty()) base = "int";      // "unsigned" is "unsigned int"
  std::string out = sign == "signed" && base != "char" ? "" : sign;
  for (const std::string& part : {size, base})
    if (!part.empty()) out += (out.empty() ? "" : " ") + part;
  return out;
}

class Parser {
 public:
  Parser(std::string_view text, std::vector<Token> tokens) : text_(text), t_(std::move(tokens)) {}

  std::unique_ptr<LocationExpr> run() {
    auto e = unary();
    if (peek().kind != Token::Kind::end)
      fail(text_, fmt::format("unexpected '{}' at offset {}", peek().text, peek().pos));
    return e;
  }

 private:
  const Token& peek(std::size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  bool at(std::string_view punct) const {
    return peek().kind == Token::Kind::punct && peek().text == punct;
  }
  void expect(std::string_view punct, std::string_view what) {
    if (!at(punct))
      fail(text_, fmt::format("expected '{}' {} at offset {}, found '{}'", punct, what,
                              peek().pos, peek().text));
    ++i_;
  }

  static std::unique_ptr<LocationExpr> node(LocationExpr::Kind k, std::unique_ptr<LocationExpr> operand) {
    auto n = std::make_unique<LocationExpr>();
    n->kind = k;
    n->operand = std::move(operand);
    return n;
  }

  std::unique_ptr<LocationExpr> unary() {
    if (at("*") || at("&")) {
      const auto kind = at("*") ? LocationExpr::Kind::deref : LocationExpr::Kind::address_of;
      ++i_;
      return node(kind, unary());
    }
    if (at("(")) {
      const std::size_t save = i_;
      ++i_;
      if (auto type = cast_type()) {
        auto n = node(LocationExpr::Kind::cast, unary());
        n->type = std::move(*type);
        return n;
      }
      i_ = save;
    }
    return postfix(primary());
  }

  // After '(': a type, its ')' consumed, when what follows makes it a cast; else nullopt.
  std::optional<CastType> cast_type() {
    CastType type;
    bool certain = false;  // a keyword, C type words or a '*' can only be a type
    std::vector<std::string> words;
    while (peek().kind == Token::Kind::id && is_qualifier(peek().text)) ++i_;
    if (peek().kind == Token::Kind::id && is_tag_keyword(peek().text)) {
      type.keyword = t_[i_++].text;
      if (peek().kind != Token::Kind::id)
        fail(text_, fmt::format("expected a name after '{}' at offset {}", type.keyword, peek().pos));
      type.name = qualified_name();
      certain = true;
    } else if (peek().kind == Token::Kind::id && is_type_word(peek().text)) {
      while (peek().kind == Token::Kind::id && (is_type_word(peek().text) || is_qualifier(peek().text))) {
        if (!is_qualifier(peek().text)) words.push_back(peek().text);
        ++i_;
      }
      type.name = canonical_type_words(words);
      certain = true;
    } else if (peek().kind == Token::Kind::id) {
      type.name = qualified_name();
    } else {
      return std::nullopt;
    }
    while (at("*") || (peek().kind == Token::Kind::id && is_qualifier(peek().text))) {
      if (at("*")) ++type.pointers, certain = true;
      ++i_;
    }
    if (!at(")")) {
      if (certain) fail(text_, fmt::format("expected ')' after the type '{}' at offset {}", type.text(), peek().pos));
      return std::nullopt;
    }
    ++i_;
    const Token& next = peek();
    const bool operand_follows = next.kind == Token::Kind::id || next.kind == Token::Kind::number ||
                                 at("(") || at("*") || at("&");
    if (certain && !operand_follows)
      fail(text_, fmt::format("the cast to '{}' needs an operand, e.g. ({}){}", type.text(), type.text(),
                              type.pointers ? "0x1000" : "var"));
    if (!operand_follows) return std::nullopt;
    return type;
  }

  std::string qualified_name() {
    std::string name = t_[i_++].text;
    while (at("::")) {
      ++i_;
      if (peek().kind != Token::Kind::id)
        fail(text_, fmt::format("expected a name after '::' at offset {}", peek().pos));
      name += "::" + t_[i_++].text;
    }
    return name;
  }

  std::unique_ptr<LocationExpr> primary() {
    const Token& tok = peek();
    if (tok.kind == Token::Kind::id) {
      if (is_tag_keyword(tok.text) || is_type_word(tok.text))
        fail(text_, fmt::format("'{}' starts a type; a cast is written in parentheses: ({} ...)", tok.text, tok.text));
      auto n = std::make_unique<LocationExpr>();
      n->name = qualified_name();
      return n;
    }
    if (tok.kind == Token::Kind::number) {
      auto n = std::make_unique<LocationExpr>();
      n->kind = LocationExpr::Kind::number;
      n->value = tok.value;
      ++i_;
      return n;
    }
    if (at("(")) {
      ++i_;
      auto e = unary();
      expect(")", "to close '('");
      return e;
    }
    fail(text_, tok.kind == Token::Kind::end
                    ? std::string("expected a variable, a number or '(' at the end")
                    : fmt::format("expected a variable, a number or '(' at offset {}, found '{}'",
                                  tok.pos, tok.text));
  }

  std::unique_ptr<LocationExpr> postfix(std::unique_ptr<LocationExpr> e) {
    while (true) {
      if (at(".") || at("->")) {
        const bool arrow = at("->");
        ++i_;
        if (peek().kind != Token::Kind::id)
          fail(text_, fmt::format("expected a member name after '{}' at offset {}", arrow ? "->" : ".", peek().pos));
        e = node(arrow ? LocationExpr::Kind::arrow : LocationExpr::Kind::member, std::move(e));
        e->name = t_[i_++].text;
      } else if (at("[")) {
        ++i_;
        if (peek().kind != Token::Kind::number)
          fail(text_, fmt::format("expected a constant index after '[' at offset {} (indexes are "
                                  "numbers: variables in subscripts are not supported)", peek().pos));
        const std::uint64_t index = t_[i_++].value;
        expect("]", "to close '['");
        e = node(LocationExpr::Kind::index, std::move(e));
        e->value = index;
      } else {
        return e;
      }
    }
  }

  std::string_view text_;
  std::vector<Token> t_;
  std::size_t i_ = 0;
};

bool is_prefix(const LocationExpr& e) {
  using K = LocationExpr::Kind;
  return e.kind == K::deref || e.kind == K::address_of || e.kind == K::cast;
}

std::string postfix_operand(const LocationExpr& e) {
  return is_prefix(e) ? "(" + e.text() + ")" : e.text();
}

}  // namespace

std::string CastType::text() const {
  std::string out = keyword.empty() ? name : keyword + " " + name;
  if (pointers) out += " " + std::string(static_cast<std::size_t>(pointers), '*');
  return out;
}

std::string LocationExpr::text() const {
  using K = Kind;
  switch (kind) {
    case K::name: return name;
    case K::number: return fmt::format("{:#x}", value);
    case K::member: return postfix_operand(*operand) + "." + name;
    case K::arrow: return postfix_operand(*operand) + "->" + name;
    case K::index: return fmt::format("{}[{}]", postfix_operand(*operand), value);
    case K::deref: return "*" + operand->text();
    case K::address_of: return "&" + operand->text();
    case K::cast: return "(" + type.text() + ")" + operand->text();
  }
  return {};
}

std::unique_ptr<LocationExpr> parse_location_expression(std::string_view text) {
  if (text.find_first_not_of(" \t") == std::string_view::npos) fail(text, "empty expression");
  return Parser(text, Lexer(text).run()).run();
}

bool is_location_expression(std::string_view text) {
  return text.find_first_of(".[]()*&") != std::string_view::npos ||
         text.find("->") != std::string_view::npos;
}

std::string canonical_c_type(std::string_view name) {
  if (!is_c_type_words(name)) return std::string(name);
  std::vector<std::string> words;
  std::size_t start = 0;
  while (start < name.size()) {
    const std::size_t space = std::min(name.find(' ', start), name.size());
    words.emplace_back(name.substr(start, space - start));
    start = space + 1;
  }
  return canonical_type_words(words);
}

bool is_c_type_words(std::string_view name) {
  if (name.empty()) return false;
  while (!name.empty()) {
    const std::size_t space = name.find(' ');
    if (!is_type_word(name.substr(0, space))) return false;
    name = space == std::string_view::npos ? std::string_view() : name.substr(space + 1);
  }
  return true;
}

std::uint64_t builtin_type_size(std::string_view name) {
  static constexpr std::pair<std::string_view, std::uint64_t> kSizes[] = {
      {"char", 1}, {"signed char", 1}, {"unsigned char", 1}, {"bool", 1},
      {"short", 2}, {"unsigned short", 2}, {"int", 4}, {"unsigned int", 4},
      {"long", 8}, {"unsigned long", 8}, {"long long", 8}, {"unsigned long long", 8},
      {"float", 4}, {"double", 8}, {"long double", 16},
      {"int8_t", 1}, {"uint8_t", 1}, {"int16_t", 2}, {"uint16_t", 2}, {"int32_t", 4},
      {"uint32_t", 4}, {"int64_t", 8}, {"uint64_t", 8}, {"intptr_t", 8}, {"uintptr_t", 8},
      {"size_t", 8}, {"ssize_t", 8}, {"ptrdiff_t", 8}};
  for (const auto& [n, size] : kSizes)
    if (n == name) return size;
  return 0;
}

}  // namespace hwbp::symbols
