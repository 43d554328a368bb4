#include <gtest/gtest.h>

#include "hlstm/config/config.hpp"
#include "hlstm/core/error.hpp"

using hlstm::Config;
using hlstm::ConfigError;

TEST(Config, DefaultsComeFromSchema) {
    Config c;
    EXPECT_DOUBLE_EQ(c.getDouble("partition.alpha"), 3.0);
    EXPECT_EQ(c.getInt("partition.min_points"), 1000);
    EXPECT_EQ(c.getIntList("grid.L"), std::vector<std::int64_t>{60});
    EXPECT_EQ(c.getString("train.loss"), "mse");
}

TEST(Config, TomlOverridesAndIntegersWidenToReals) {
    Config c;
    c.loadTomlText("[partition]\nalpha = 2\nk_max = 6\n[grid]\nL = [5, 10, 15]\n", "t.toml");
    EXPECT_DOUBLE_EQ(c.getDouble("partition.alpha"), 2.0);
    EXPECT_EQ(c.getInt("partition.k_max"), 6);
    EXPECT_EQ(c.getIntList("grid.L"), (std::vector<std::int64_t>{5, 10, 15}));
}

TEST(Config, UnknownKeyNamesFileAndKey) {
    Config c;
    try {
        c.loadTomlText("[partition]\nalpah = 2\n", "my.toml");
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("my.toml"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("partition.alpah"), std::string::npos);
    }
}

TEST(Config, WrongTypeIsRejected) {
    Config c;
    EXPECT_THROW(c.loadTomlText("[train]\nepochs = \"many\"\n", "x.toml"), ConfigError);
    EXPECT_THROW(c.set("train.epochs", "2.5"), ConfigError);
    EXPECT_THROW(c.set("no.such", "1"), ConfigError);
}

TEST(Config, CommandLineValuesParseByType) {
    Config c;
    c.set("grid.S", "4,8");
    c.set("train.lr", "0.01");
    c.set("input.path", "/data/a b.h5");
    EXPECT_EQ(c.getIntList("grid.S"), (std::vector<std::int64_t>{4, 8}));
    EXPECT_DOUBLE_EQ(c.getDouble("train.lr"), 0.01);
    EXPECT_EQ(c.getString("input.path"), "/data/a b.h5");
}

TEST(Config, PrintedTomlReadsBackIdentically) {
    Config a;
    a.set("grid.L", "[3, 9]");
    a.set("train.lr", "0.0005");
    a.set("input.path", "q\"uote.h5");
    // Control characters (a fuzzing finding: printed raw, the TOML did not read back).
    a.set("simulate.kind", std::string("a\nb\tc\x01d\x7f"));
    Config b;
    b.loadTomlText(a.toToml(), "printed");
    EXPECT_EQ(a.values(), b.values());
}
