using Luffy.Trainer.Arithmetic;

namespace Luffy.Trainer.Tests;

public class AnswerVerifierTests
{
    [Theory]
    [InlineData("A:75", 75, 1.0)]
    [InlineData("68+7;75;A:75", 75, 1.0)]
    [InlineData("68+7;74;A:75", 75, 1.0)]            // only the final answer is verified
    [InlineData("A:74", 75, 0.0)]
    [InlineData("A:075", 75, 0.0)]                   // leading zero
    [InlineData("A:+75", 75, 0.0)]                   // sign
    [InlineData("A:7 5", 75, 0.0)]                   // space
    [InlineData("A:75A:75", 75, 0.0)]                // repeated marker
    [InlineData("75", 75, 0.0)]                      // no marker
    [InlineData("A:", 75, 0.0)]                      // empty answer
    [InlineData("", 75, 0.0)]
    [InlineData("68+7;75A:75", 75, 0.0)]             // steps not closed by ';'
    [InlineData("A:75;", 75, 0.0)]                   // trailing text
    [InlineData("A:0", 0, 1.0)]
    [InlineData("A:99999999999", 75, 0.0)]           // overflow
    public void Rewards_only_a_well_formed_correct_final_answer(string response, int expected, double reward) =>
        Assert.Equal(reward, AnswerVerifier.Reward(response, expected));

    [Fact]
    public void The_solver_trace_is_correct_and_verifies()
    {
        var problem = new ArithmeticProblem([23, 45, 7]);
        Assert.Equal("Q:23+45+7=", problem.Prompt);
        Assert.Equal("68+7;75;A:75", problem.Trace);
        Assert.Equal(1.0, AnswerVerifier.Reward(problem.Trace, problem.Answer));
        Assert.Equal(1.0, AnswerVerifier.Reward(problem.AnswerOnly, problem.Answer));
    }

    [Fact]
    public void Test_sets_are_fixed_and_seed_independent()
    {
        var a = ArithmeticProblem.TestSet([2, 5], 10, 99);
        var b = ArithmeticProblem.TestSet([2, 5], 10, 99);
        Assert.Equal(a.Select(p => p.Prompt), b.Select(p => p.Prompt));
        Assert.Equal(10, a.Count(p => p.Level == 5));
    }

    [Fact]
    public void The_tokenizer_round_trips_task_text_and_rejects_other_characters()
    {
        var tokenizer = new CharTokenizer();
        Assert.Equal("Q:12+3=A:15", tokenizer.Decode(tokenizer.Encode("Q:12+3=A:15")));
        Assert.Throws<ArgumentException>(() => tokenizer.Encode("x"));
    }
}
