using Luffy.Objectives.Experience;

namespace Luffy.Objectives.Tests.Experience;

public class ExperienceOptionsTests
{
    [Fact]
    public void The_defaults_are_those_of_the_official_script()
    {
        var o = new ExperienceOptions();
        o.Validate();
        Assert.Equal(8, o.SamplesPerPrompt);
        Assert.Equal(BucketWeighting.Normal, o.Weighting);
        Assert.Equal(4.0, o.EffectiveBucketMean);
        Assert.Equal(1.0, o.EffectiveBucketStandardDeviation);
        Assert.Equal(0, o.CollectLowerBound);
        Assert.Equal(7, o.EffectiveCollectUpperBound);
        Assert.Equal(0.5, o.ReplayShare);
        Assert.Equal(0.35, o.StartSolvedShare);
        Assert.Equal(TrajectorySelection.LowestEntropy, o.Selection);
        Assert.Null(o.MaxQuestions);
        Assert.Null(o.MaxTrajectoriesPerQuestion);
        Assert.Equal(1.0, o.SolvedReward);
        Assert.Equal(2.0, (o with { SamplesPerPrompt = 4 }).EffectiveBucketMean);
    }

    public static TheoryData<string, ExperienceOptions, string> BadOptions() => new()
    {
        { "G = 1", new() { SamplesPerPrompt = 1 }, "SamplesPerPrompt" },
        { "unknown weighting", new() { Weighting = (BucketWeighting)9 }, "Weighting" },
        { "infinite mean", new() { BucketMean = double.PositiveInfinity }, "BucketMean" },
        { "zero sd", new() { BucketStandardDeviation = 0 }, "BucketStandardDeviation" },
        { "NaN sd", new() { BucketStandardDeviation = double.NaN }, "BucketStandardDeviation" },
        { "mean with linear weights", new() { Weighting = BucketWeighting.Linear, BucketMean = 3 }, "Weighting" },
        { "sd with uniform questions", new() { Weighting = BucketWeighting.UniformQuestions, BucketStandardDeviation = 2 }, "Weighting" },
        { "negative lower bound", new() { CollectLowerBound = -1 }, "CollectLowerBound" },
        { "upper bound G", new() { CollectUpperBound = 8 }, "CollectUpperBound" },
        { "upper bound 0", new() { CollectUpperBound = 0 }, "CollectUpperBound" },
        { "empty collect range", new() { CollectLowerBound = 5, CollectUpperBound = 5 }, "CollectLowerBound" },
        { "replay share 0", new() { ReplayShare = 0 }, "ReplayShare" },
        { "replay share 1.5", new() { ReplayShare = 1.5 }, "ReplayShare" },
        { "start share 1", new() { StartSolvedShare = 1 }, "StartSolvedShare" },
        { "start share -0.1", new() { StartSolvedShare = -0.1 }, "StartSolvedShare" },
        { "unknown selection", new() { Selection = (TrajectorySelection)5 }, "Selection" },
        { "max questions 0", new() { MaxQuestions = 0 }, "MaxQuestions" },
        { "max trajectories 0", new() { MaxTrajectoriesPerQuestion = 0 }, "MaxTrajectoriesPerQuestion" },
        { "NaN solved reward", new() { SolvedReward = double.NaN }, "SolvedReward" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void A_bad_option_is_named(string what, ExperienceOptions options, string name)
    {
        var ex = Assert.ThrowsAny<ArgumentException>(() => new ExperienceBuffer(options));
        Assert.True(ex.ParamName == name, $"{what}: {ex.ParamName}: {ex.Message}");
    }
}
