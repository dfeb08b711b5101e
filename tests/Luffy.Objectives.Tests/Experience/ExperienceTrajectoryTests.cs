using Luffy.Objectives.Batching;
using Luffy.Objectives.Experience;

namespace Luffy.Objectives.Tests.Experience;

public class ExperienceTrajectoryTests
{
    [Fact]
    public void A_trajectory_copies_its_lists_and_becomes_an_experience_trace()
    {
        int[] tokens = [4, 5, 2];
        float[] logProbs = [-0.5f, -1f, -0.01f];
        var trajectory = new ExperienceTrajectory(tokens, logProbs);
        tokens[0] = 99;
        logProbs[0] = -9;
        Assert.Equal(new[] { 4, 5, 2 }, trajectory.Tokens);
        Assert.Equal(new[] { -0.5f, -1f, -0.01f }, trajectory.BehaviourLogProbs);
        OffPolicyTrace trace = trajectory.ToTrace();
        Assert.Equal(TraceSource.Experience, trace.Source);
        Assert.Equal(trajectory.Tokens, trace.Tokens);
        Assert.Equal(trajectory.BehaviourLogProbs, trace.BehaviourLogProbs);
    }

    [Fact]
    public void Equality_compares_tokens_and_log_probs_and_dedup_compares_tokens()
    {
        var a = new ExperienceTrajectory([4, 5], [-0.5f, -1f]);
        Assert.Equal(a, new ExperienceTrajectory([4, 5], [-0.5f, -1f]));
        Assert.Equal(a.GetHashCode(), new ExperienceTrajectory([4, 5], [-0.5f, -1f]).GetHashCode());
        Assert.NotEqual(a, new ExperienceTrajectory([4, 5], [-0.5f, -2f]));
        Assert.True(a.HasTokens([4, 5]));
        Assert.False(a.HasTokens([4, 5, 6]));
        Assert.False(a.HasTokens([4, 6]));
    }

    public static TheoryData<string, int[], float[]?, string> BadTrajectories() => new()
    {
        { "no log-probs", [4, 5], null, "behaviourLogProbs" },
        { "empty", [], [], "has no tokens" },
        { "log-probs of the wrong length", [4, 5], [-0.5f], "2 tokens but 1 behaviour log-probs" },
        { "NaN log-prob", [4, 5], [-0.5f, float.NaN], "behaviour log-prob 1 is NaN" },
        { "positive log-prob", [4, 5], [0.25f, -1f], "behaviour log-prob 0 is 0" },
        { "infinite log-prob", [4, 5], [float.NegativeInfinity, -1f], "behaviour log-prob 0 is " },
        { "negative token", [4, -1], [-0.5f, -1f], "token 1 is -1" },
    };

    [Theory]
    [MemberData(nameof(BadTrajectories))]
    public void A_bad_trajectory_is_a_clear_error(string what, int[] tokens, float[]? logProbs, string message)
    {
        var ex = Assert.ThrowsAny<ArgumentException>(() => new ExperienceTrajectory(tokens, logProbs!));
        Assert.True(ex.Message.Contains(message, StringComparison.Ordinal) || ex.ParamName == message, $"{what}: {ex.Message}");
    }
}
