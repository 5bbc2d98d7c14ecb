#include "core/names.h"
#include "core/xml.h"

#include <gtest/gtest.h>

namespace greenshift {
namespace {

TEST(NamesTest, AcceptsShortPlainNames) {
  EXPECT_TRUE(ValidateName("VM name", "web-1").ok());
  EXPECT_TRUE(ValidateName("VM name", "a").ok());
  EXPECT_TRUE(ValidateName("VM name", "abcdefghijkl").ok());
}

TEST(NamesTest, RejectionsNameTheProblem) {
  EXPECT_EQ(ValidateName("VM name", "").message(), "VM name is empty");
  EXPECT_NE(ValidateName("VM name", "abcdefghijklm").message().find("longer than 12"),
            std::string::npos);
  EXPECT_NE(ValidateName("site name", "Frankfurt").message().find("found 'F'"), std::string::npos);
  EXPECT_NE(ValidateName("VM name", "a/b").message().find("found '/'"), std::string::npos);
  EXPECT_FALSE(ValidateName("VM name", "-x").ok());
}

}  // namespace
}  // namespace greenshift

namespace greenshift {
namespace {

// What goes into libvirt's domain XML, SVG and HTML cannot close a tag or an attribute.
TEST(XmlEscapeTest, EveryMarkupCharacterBecomesAnEntity) {
  EXPECT_EQ(XmlEscape("a<b>&\"c'd"), "a&lt;b&gt;&amp;&quot;c&apos;d");
  EXPECT_EQ(XmlEscape("gs.ip=198.18.128.10/16 panic=-1"), "gs.ip=198.18.128.10/16 panic=-1");
  EXPECT_EQ(XmlEscape(""), "");
}

}  // namespace
}  // namespace greenshift
