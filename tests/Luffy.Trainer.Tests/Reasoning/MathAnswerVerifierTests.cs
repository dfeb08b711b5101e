using Luffy.Trainer.Reasoning;

namespace Luffy.Trainer.Tests.Reasoning;

public class MathAnswerVerifierTests
{
    [Theory]
    [InlineData(@"so the answer is \boxed{\frac{1}{2}}.", "0.5")]
    [InlineData(@"\boxed{\dfrac12}", "1/2")]
    [InlineData(@"\boxed{\tfrac{3}{4}}", @"\frac{3}{4}")]
    [InlineData(@"\boxed{1,000}", "1000")]
    [InlineData(@"\boxed{1{,}000{,}000}", "1000000")]
    [InlineData(@"\boxed{12\,345}", "12345")]
    [InlineData(@"\boxed{2\sqrt{2}}", @"\sqrt{8}")]
    [InlineData(@"\boxed{\frac{\sqrt{3}}{2}}", @"\frac{\sqrt3}{2}")]
    [InlineData(@"\boxed{\sqrt[3]{27}}", "3")]
    [InlineData(@"\boxed{2^{10}}", "1024")]
    [InlineData(@"\boxed{x = 3}", "3")]
    [InlineData(@"\boxed{10\%}", "10")]
    [InlineData(@"\boxed{90^\circ}", "90")]
    [InlineData(@"\boxed{-\frac{7}{3}}", @"-\frac73")]
    [InlineData(@"\boxed{−5}", "-5")]
    [InlineData(@"\boxed{3.50}", "3.5")]
    [InlineData(@"\boxed{\left( 1, \frac{1}{2} \right)}", "(1,0.5)")]
    [InlineData(@"\boxed{\text{(B)}}", "(B)")]
    [InlineData(@"\boxed{2\pi}", @"2\pi")]
    [InlineData(@"\boxed{\pi/2}", @"\frac{\pi}{2}")]
    [InlineData(@"first \boxed{4}, then corrected: \boxed{5}", "5")]
    [InlineData(@"$\boxed{7}$", @"\boxed{7}")]
    [InlineData(@"\boxed{3(4+1)}", "15")]
    [InlineData(@"\boxed 5", "5")]
    [InlineData(@"<think>\nlet me see... 2+2</think>\nThe answer is $\boxed{4}$.", "4")]
    public void Equivalent_answers_get_reward_one(string response, string truth) =>
        Assert.Equal(1.0, MathAnswerVerifier.Reward(response, truth));

    [Theory]
    [InlineData(@"\boxed{3}", "4")]
    [InlineData(@"\boxed{0.333}", @"\frac{1}{3}")]
    [InlineData(@"\boxed{\frac{1}{2}", "0.5")] // cut off: unbalanced braces
    [InlineData(@"the answer is 5", "5")] // no boxed answer
    [InlineData(@"\boxed{5}, then \boxed{4}", "5")] // the last box counts
    [InlineData(@"\boxed{(1,2)}", "(2,1)")]
    [InlineData(@"\boxed{[1,2)}", "(1,2)")]
    [InlineData(@"\boxed{}", "0")]
    [InlineData(@"\boxed{1,2}", "12")]
    [InlineData(@"\boxed{x}", "y")]
    [InlineData(@"\boxed{2\sqrt{3}}", @"3\sqrt{2}")]
    public void Different_or_missing_answers_get_reward_zero(string response, string truth) =>
        Assert.Equal(0.0, MathAnswerVerifier.Reward(response, truth));

    [Fact]
    public void The_last_boxed_answer_is_extracted_with_nested_braces()
    {
        Assert.Equal(@"\frac{\sqrt{3}}{2}", MathAnswerVerifier.ExtractBoxed(@"a \boxed{1} b \boxed{\frac{\sqrt{3}}{2}} c"));
        Assert.Equal("9", MathAnswerVerifier.ExtractBoxed(@"\fbox{9}"));
        Assert.Null(MathAnswerVerifier.ExtractBoxed("no box"));
    }

    [Theory]
    [InlineData("1/2", 0.5)]
    [InlineData(@"\frac{1}{2}+\frac{1}{3}", 5.0 / 6)]
    [InlineData("-2^2", -4.0)]
    [InlineData("2^-1", 0.5)]
    [InlineData(@"\sqrt{2}\sqrt{2}", 2.0)]
    public void Expressions_evaluate_as_written(string expression, double value) =>
        Assert.Equal(value, MathAnswerVerifier.Evaluate(expression)!.Value, 12);

    [Theory]
    [InlineData("x+1")]
    [InlineData("(1")]
    [InlineData("")]
    [InlineData("1/0")]
    public void Non_numeric_or_broken_expressions_do_not_evaluate(string expression) =>
        Assert.Null(MathAnswerVerifier.Evaluate(expression));
}
