// SPDX-License-Identifier: MIT
// Answer extraction and scoring on hand-written completions (eval/answer.h, eval/scoring.h).
#include <gtest/gtest.h>

#include "eval/answer.h"
#include "eval/scoring.h"

namespace slotlm::eval {
namespace {

std::string num(std::optional<std::string> s) { return s ? *s : "<none>"; }

TEST(CanonicalNumber, Forms) {
  EXPECT_EQ(num(canonical_number("18")), "18");
  EXPECT_EQ(num(canonical_number(" 1,234 ")), "1234");
  EXPECT_EQ(num(canonical_number("-3")), "-3");
  EXPECT_EQ(num(canonical_number("18.50")), "18.5");
  EXPECT_EQ(num(canonical_number("18.00")), "18");
  EXPECT_EQ(num(canonical_number("025")), "25");
  EXPECT_EQ(num(canonical_number("$5")), "5");
  EXPECT_EQ(num(canonical_number("-0.0")), "0");
  EXPECT_EQ(num(canonical_number("7.")), "7");
  EXPECT_EQ(num(canonical_number(".5")), "0.5");
  EXPECT_EQ(num(canonical_number("abc")), "<none>");
  EXPECT_EQ(num(canonical_number("")), "<none>");
  EXPECT_EQ(num(canonical_number("1.2.3")), "<none>");
  EXPECT_EQ(num(canonical_number(",5")), "<none>");
}

TEST(LastNumber, HandWrittenCases) {
  EXPECT_EQ(num(last_number("She pays $1,234 in total.")), "1234");          // comma + $ + period
  EXPECT_EQ(num(last_number("The temperature fell to -5 degrees")), "-5");   // negative
  EXPECT_EQ(num(last_number("5-3 = 2, so 8 - 10")), "10");                   // minus between numbers
  EXPECT_EQ(num(last_number("x = -$12.50")), "-12.5");                       // sign before $
  EXPECT_EQ(num(last_number("It costs 3.75 dollars")), "3.75");              // decimals
  EXPECT_EQ(num(last_number("The answer is 42.")), "42");                    // trailing period
  EXPECT_EQ(num(last_number("I do not know.")), "<none>");                   // no number
  EXPECT_EQ(num(last_number("2 apples and 3 pears make 5 fruits")), "5");    // several numbers
  EXPECT_EQ(num(last_number("<think>16-3-4=9, 9*2=18</think><answer>18</answer>")), "18");
  EXPECT_EQ(num(last_number("<answer>$1,000,000</answer>")), "1000000");
  EXPECT_EQ(num(last_number("lists 1,2,3")), "3");            // not a thousands separator
  EXPECT_EQ(num(last_number("1,23 and 4,5678")), "5678");
  EXPECT_EQ(num(last_number("50%")), "50");
  EXPECT_EQ(num(last_number("v2.0 of x")), "2");
  EXPECT_EQ(num(last_number("")), "<none>");
}

TEST(Gsm8kGold, AfterHashes) {
  EXPECT_EQ(num(gsm8k_gold("She makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18")), "18");
  EXPECT_EQ(num(gsm8k_gold("...\n#### 1,200")), "1200");
  EXPECT_EQ(num(gsm8k_gold("...\n#### -7")), "-7");
  EXPECT_EQ(num(gsm8k_gold("no marker 5")), "<none>");
}

TEST(Strict, LmEvalPatterns) {
  EXPECT_EQ(num(extract_strict("so 3+4=7\n#### 7")), "7");
  EXPECT_EQ(num(extract_strict("#### $1,234.")), "1234");
  EXPECT_EQ(num(extract_strict("#### -2 and later 9")), "-2");
  EXPECT_EQ(num(extract_strict("Thus the answer is 18.")), "18");
  EXPECT_EQ(num(extract_strict("The answer is: $20")), "20");
  EXPECT_EQ(num(extract_strict("I think it is 18")), "<none>");
  EXPECT_EQ(num(extract_strict("The answer is eighteen")), "<none>");
}

TEST(Flexible, LastMatchOfLmEvalRegex) {
  EXPECT_EQ(num(extract_flexible("first 3 then $1,234.")), "1234");
  EXPECT_EQ(num(extract_flexible("it is -5")), "-5");
  EXPECT_EQ(num(extract_flexible("lists 1,2,3")), "123");  // lm-eval strips every comma
  EXPECT_EQ(num(extract_flexible("no digits here")), "<none>");
  EXPECT_EQ(num(extract_flexible("7 and ..")), "<none>");   // ".." matches the regex, is no number
}

TEST(Boxed, BalancedBraces) {
  EXPECT_EQ(num(last_boxed("so \\boxed{25} or \\boxed{\\frac{1}{2}}")), "\\frac{1}{2}");
  EXPECT_EQ(num(last_boxed("\\boxed{073}")), "073");
  EXPECT_EQ(num(last_boxed("no box")), "<none>");
  EXPECT_EQ(num(last_boxed("cut \\boxed{12")), "<none>");
}

TEST(Format, ThinkAnswer) {
  EXPECT_TRUE(has_think_answer_format("<think> a </think><answer> 5 </answer>"));
  EXPECT_TRUE(has_think_answer_format("\n<think>a</think>\n<answer>5</answer>\n"));
  EXPECT_FALSE(has_think_answer_format("<think>a</think>"));
  EXPECT_FALSE(has_think_answer_format("The answer is <answer>5</answer>"));
  EXPECT_FALSE(has_think_answer_format("<think>a</think><answer>5</answer> extra"));
  EXPECT_FALSE(has_think_answer_format("<think>a<answer>5</answer>"));
  // A later "</think>" can close the reasoning (the regex backtracks to it).
  EXPECT_TRUE(has_think_answer_format("<think>a</think>b</think><answer>5</answer>"));
}

TEST(Score, Gsm8k) {
  Score s = score_completion(Task::kGsm8k, "<think>16-3-4=9; 9*2=18</think><answer>$18.00</answer>", "18");
  EXPECT_TRUE(s.correct);
  EXPECT_TRUE(s.format_ok);
  EXPECT_FALSE(s.strict_correct);  // no "####" / "The answer is"
  EXPECT_TRUE(s.flexible_correct);
  s = score_completion(Task::kGsm8k, "The answer is 18. Check: 18 + 2 = 20", "18");
  EXPECT_FALSE(s.correct);  // the reference reads the last number
  EXPECT_TRUE(s.strict_correct);
  EXPECT_EQ(num(s.extracted), "20");
  s = score_completion(Task::kGsm8k, "no idea", "18");
  EXPECT_FALSE(s.correct);
  EXPECT_FALSE(s.extracted.has_value());
}

TEST(Score, Aime24) {
  Score s = score_completion(Task::kAime24, "so m+n = 25, \\boxed{025}. Done in 3 steps", "25");
  EXPECT_TRUE(s.correct);  // boxed wins over the later "3"
  EXPECT_TRUE(s.format_ok);
  EXPECT_TRUE(s.strict_correct);
  EXPECT_FALSE(s.flexible_correct);
  s = score_completion(Task::kAime24, "the result is 073", "73");
  EXPECT_TRUE(s.correct);  // no box: last number, leading zeros ignored
  EXPECT_FALSE(s.format_ok);
  s = score_completion(Task::kAime24, "\\boxed{x = 204}", "204");
  EXPECT_TRUE(s.correct);
  EXPECT_FALSE(s.strict_correct);
}

}  // namespace
}  // namespace slotlm::eval
