using Luffy.Trainer.Arithmetic;

namespace Luffy.Trainer.Tests.Arithmetic;

public class ArithmeticProblemTests
{
    [Fact]
    public void The_solver_trace_adds_the_first_two_terms_until_one_is_left()
    {
        var problem = new ArithmeticProblem([3, 5, 7, 2]);
        Assert.Equal("Q:3+5+7+2=", problem.Prompt);
        Assert.Equal("8+7+2;15+2;17;A:17", problem.Trace);
        Assert.Equal("A:17", problem.AnswerOnly);
        Assert.Equal(4, problem.Level);
    }

    [Fact]
    public void Test_sets_are_fixed_and_hold_the_requested_levels()
    {
        IReadOnlyList<ArithmeticProblem> a = ArithmeticProblem.TestSet([2, 4], 5, 9), b = ArithmeticProblem.TestSet([2, 4], 5, 9);
        Assert.Equal(a.Select(p => p.Prompt), b.Select(p => p.Prompt));
        Assert.Equal([2, 2, 2, 2, 2, 4, 4, 4, 4, 4], a.Select(p => p.Level));
        Assert.All(a, p => Assert.All(p.Operands, o => Assert.InRange(o, 1, 9)));
    }

    [Fact]
    public void New_operand_problems_start_with_an_operand_from_the_new_range_and_continue_with_training_operands()
    {
        IReadOnlyList<ArithmeticProblem> problems = ArithmeticProblem.NewOperandTestSet([2, 3, 4], 50, 9, 10, 19);
        Assert.Equal(150, problems.Count);
        Assert.All(problems, p =>
        {
            Assert.InRange(p.Operands[0], 10, 19);
            Assert.All(p.Operands.Skip(1), o => Assert.InRange(o, 1, 9));
        });
        Assert.True(problems.Select(p => p.Operands[0]).Distinct().Count() >= 8); // the range is covered, not one value
    }

    [Fact]
    public void The_validation_set_is_fixed_holds_the_levels_and_shares_no_problem_with_the_test_sets()
    {
        IReadOnlyList<ArithmeticProblem> test = [.. ArithmeticProblem.TestSet([2, 3, 4], 100, 9), .. ArithmeticProblem.NewOperandTestSet([2, 3, 4], 100, 9, 10, 19)];
        IReadOnlyList<ArithmeticProblem> a = ArithmeticProblem.ValidationSet([2, 3, 4], 100, 9, test), b = ArithmeticProblem.ValidationSet([2, 3, 4], 100, 9, test);
        Assert.Equal(a.Select(p => p.Prompt), b.Select(p => p.Prompt));
        Assert.Equal(Enumerable.Repeat(2, 100).Concat(Enumerable.Repeat(3, 100)).Concat(Enumerable.Repeat(4, 100)), a.Select(p => p.Level));
        var testPrompts = test.Select(p => p.Prompt).ToHashSet();
        Assert.DoesNotContain(a, p => testPrompts.Contains(p.Prompt));
        // level 2 has 81 problems and the test set takes most of them: the validation set is what is left over
        Assert.InRange(a.Where(p => p.Level == 2).Select(p => p.Prompt).Distinct().Count(), 10, 81 - test.Count(p => p.Level == 2 && p.Operands[0] <= 9) / 2);
    }

    [Fact]
    public void A_level_without_problems_outside_the_test_sets_cannot_be_validated_on()
    {
        // operands 1..1: level 2 is the single problem 1+1, and the test set holds it
        ArgumentException error = Assert.Throws<ArgumentException>(() => ArithmeticProblem.ValidationSet([2], 1, 1, ArithmeticProblem.TestSet([2], 1, 1)));
        Assert.Contains("level 2", error.Message);
    }
}
