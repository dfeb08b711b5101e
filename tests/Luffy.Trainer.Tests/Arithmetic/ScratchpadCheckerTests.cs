using Luffy.Trainer.Arithmetic;

namespace Luffy.Trainer.Tests.Arithmetic;

public class ScratchpadCheckerTests
{
    private static readonly ArithmeticProblem Problem = new([3, 5, 7, 2]); // Q:3+5+7+2= ; 17

    [Theory]
    [InlineData("8+7+2;15+2;17;A:17", 3)]     // the solver's own trace: first pair each time
    [InlineData("3+12+2;15+2;17;A:17", 3)]    // another adjacent pair is just as true
    [InlineData("8+7+2;17;A:17", 2)]          // three terms at once
    [InlineData("15+2;A:17", 1)]              // a run of three, then the answer as the last state's sum
    [InlineData("3+5+9;17;A:17", 2)]          // 7+2 first, then all at once
    [InlineData("A:17", 0)]                   // no steps: the answer is the sum of the prompt
    public void True_steps_are_valid(string response, int steps)
    {
        ScratchpadVerdict verdict = ScratchpadChecker.Check(Problem, response);
        Assert.Equal(new ScratchpadVerdict(true, true, steps), verdict);
    }

    [Theory]
    [InlineData("8+7+2;16+2;18;A:18", false)]  // a false sum, carried through to a wrong answer
    [InlineData("8+7+2;15+2;17;A:18", false)]  // true steps, false answer
    [InlineData("8+2+7;15+2;17;A:17", true)]   // reordered terms are not a rewriting of the state
    [InlineData("3+5+8;16+0;A:17", true)]      // 7+2 written as 8
    [InlineData("8+9;15+2;17;A:17", true)]     // two runs summed in one step
    [InlineData("8+7+2;15+2;17", false)]       // no answer
    [InlineData("8+7+2;A:17;A:17", false)]     // two answers
    [InlineData("8+x+2;A:17", true)]           // not a number
    public void False_steps_are_invalid(string response, bool correct)
    {
        ScratchpadVerdict verdict = ScratchpadChecker.Check(Problem, response);
        Assert.False(verdict.Valid);
        Assert.Equal(correct, verdict.Correct);
    }

    [Fact]
    public void The_readme_example_of_superficial_imitation_is_a_correct_answer_through_false_steps()
    {
        // Q:7+2+6+6= answered "15+2+6;14+7;20;A:21": 21 is right, no step is
        ScratchpadVerdict verdict = ScratchpadChecker.Check(new ArithmeticProblem([7, 2, 6, 6]), "15+2+6;14+7;20;A:21");
        Assert.True(verdict.Correct);
        Assert.False(verdict.Valid);
    }
}
